"""Projection of images into the latent space of a StyleGAN generator (Karras et al. 2020,
"Analyzing and Improving the Image Quality of StyleGAN", section 5 and appendix D), with the
constants and schedules of the official StyleGAN2-ADA projector.

For each target x, starting from the mean w (estimated from `w_avg_samples` mapped z), Adam
optimises w (space "w": one w for all layers, as the paper; "w+": one per ws index, Abdal et al.
2019, "Image2StyleGAN") and, for StyleGAN2 networks with noise inputs, the per-layer noise maps,
to minimise

    d(G(w + n_w), x) + 1e5 * sum over maps and scales of autocorr(noise)^2

where d is the perceptual distance (latent/perceptual.py) and n_w is Gaussian noise of standard
deviation 0.05 * std(W) * max(0, 1 - t / 0.75)^2 that anneals over the first 75% of the steps.
The learning rate ramps up over the first 5% of the steps from 0 to 0.1 and down with a cosine
over the last 25%; the noise maps start from N(0, 1) and are renormalised to zero mean and unit
variance after every step. Several targets are projected at once, independently (each has its own
w and noise; Adam acts elementwise, so batching changes nothing but speed).

At every `log_every` steps and at the end, PSNR, SSIM (of the uint8 image one would save) and the
perceptual distance of the current projection without w noise are recorded.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from stylegen.errors import UserError
from stylegen.generate import class_labels
from stylegen.images import float_to_uint8, uint8_to_float
from stylegen.latent.config import ProjectionConfig
from stylegen.latent.noise import (
    noise_inputs,
    noise_regularization,
    normalize_noise_,
    random_noise,
)
from stylegen.latent.perceptual import PerceptualEmbedding
from stylegen.metrics.image_quality import psnr, ssim

__all__ = [
    "ProjectionConfig",
    "ProjectionResult",
    "check_targets",
    "image_scores",
    "project",
    "w_statistics",
]

log = logging.getLogger(__name__)


@dataclass
class ProjectionResult:
    """ws [N, num_ws, w_dim], per-sample noise maps, uint8 images, and the logged scores."""

    ws: torch.Tensor
    noise: dict[str, torch.Tensor]
    images: torch.Tensor
    space: str
    log: list[dict[str, Any]] = field(default_factory=list)
    history: torch.Tensor | None = None  # [steps, N, num_ws, w_dim] with keep_history
    seconds: float = 0.0
    perceptual: str = ""
    config: dict[str, Any] = field(default_factory=dict)

    def final_scores(self) -> dict[str, list[float]]:
        return {k: self.log[-1][k] for k in ("psnr", "ssim", "perceptual")}


def w_statistics(
    G: nn.Module,
    num_samples: int = 10000,
    class_idx: int | None = None,
    seed: int = 123,
    device: str | torch.device = "cpu",
) -> tuple[torch.Tensor, float]:
    """(w_avg [w_dim], w_std) from `num_samples` z of RandomState(seed), as the official projector;
    a conditional network without a class draws the classes uniformly."""
    rng = np.random.RandomState(seed)
    z = torch.from_numpy(rng.randn(num_samples, G.z_dim)).to(torch.float32)
    c = None
    if G.c_dim:
        if class_idx is None:
            labels = rng.randint(G.c_dim, size=num_samples)
            c = torch.nn.functional.one_hot(torch.from_numpy(labels), G.c_dim).to(torch.float32)
        else:
            c = class_labels(G, class_idx, num_samples)
    else:
        class_labels(G, class_idx, 1)
    ws = []
    with torch.no_grad():
        for start in range(0, num_samples, 4096):
            cc = c[start : start + 4096].to(device) if c is not None else None
            ws.append(G.mapping(z[start : start + 4096].to(device), cc)[:, 0].cpu())
    w = torch.cat(ws).double()
    w_avg = w.mean(0)
    w_std = float(((w - w_avg).square().sum() / num_samples).sqrt())
    return w_avg.to(torch.float32), w_std


def image_scores(
    images: torch.Tensor, targets: torch.Tensor, perceptual: PerceptualEmbedding | None = None
) -> dict[str, list[float]]:
    """PSNR / SSIM (uint8 images, as saved) and the perceptual distance per image."""
    a, b = uint8_to_float(images), uint8_to_float(targets)
    out = {"psnr": psnr(a, b).tolist(), "ssim": ssim(a, b).tolist()}
    if perceptual is not None:
        tensors = [*perceptual.parameters(), *perceptual.buffers()]
        dev = tensors[0].device if tensors else torch.device("cpu")
        with torch.no_grad():
            d = perceptual.distance(perceptual(a.to(dev)), perceptual(b.to(dev)))
        out["perceptual"] = d.cpu().tolist()
    return out


def _lr(step: int, cfg: ProjectionConfig) -> float:
    t = step / cfg.steps
    ramp = min(1.0, (1.0 - t) / cfg.lr_rampdown_length)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    return cfg.initial_lr * ramp * min(1.0, t / cfg.lr_rampup_length)


def check_targets(targets: torch.Tensor, G: nn.Module) -> None:
    want = (G.img_channels, G.img_resolution, G.img_resolution)
    if targets.dtype != torch.uint8 or targets.ndim != 4 or tuple(targets.shape[1:]) != want:
        raise UserError(
            f"projection targets must be uint8 [N, {want[0]}, {want[1]}, {want[2]}] for this "
            f"network, got {targets.dtype} {list(targets.shape)}; load files with "
            "latent.targets.load_target, which crops, resizes and converts"
        )


def project(
    G: nn.Module,
    targets: torch.Tensor,
    perceptual: PerceptualEmbedding,
    config: ProjectionConfig | None = None,
    class_idx: int | None = None,
    device: str | torch.device = "cpu",
    progress: Callable[[int, int, dict[str, Any] | None], None] | None = None,
) -> ProjectionResult:
    """Project uint8 targets [N, C, H, W] (the generator's format); see the module docstring.

    `progress(step, steps, log_entry_or_None)` is called after every step."""
    cfg = copy.deepcopy(config or ProjectionConfig()).validate()
    check_targets(targets, G)
    t0 = time.perf_counter()
    G = copy.deepcopy(G).eval().requires_grad_(False).to(device)
    perceptual = perceptual.to(device)
    n = targets.shape[0]
    w_avg, w_std = w_statistics(G, cfg.w_avg_samples, class_idx, device=device)
    gen = torch.Generator().manual_seed(cfg.seed)
    rows = 1 if cfg.space == "w" else G.num_ws
    w_opt = w_avg.view(1, 1, -1).repeat(n, rows, 1).to(device).requires_grad_(True)
    noise = random_noise(G, n, gen) if cfg.optimize_noise else {}
    noise = {k: v.to(device).requires_grad_(True) for k, v in noise.items()}
    optimizer = torch.optim.Adam([w_opt, *noise.values()], betas=(0.9, 0.999), lr=cfg.initial_lr)
    target_f = uint8_to_float(targets).to(device)
    with torch.no_grad():
        target_emb = perceptual(target_f)

    def synth(w: torch.Tensor) -> torch.Tensor:
        with noise_inputs(G, noise):
            return G.synthesis(w.expand(-1, G.num_ws, -1), noise_mode="const")

    entries: list[dict[str, Any]] = []
    history = []

    def record(step: int, loss: float) -> dict[str, Any]:
        with torch.no_grad():
            img = synth(w_opt)
            scores = image_scores(float_to_uint8(img).cpu(), targets)
            scores["perceptual"] = perceptual.distance(perceptual(img), target_emb).cpu().tolist()
        entry = {"step": step, "loss": loss, **scores}
        entries.append(entry)
        log.info(
            "projection step %d/%d: loss %.4g, PSNR %.2f dB, SSIM %.4f, perceptual %.4g",
            step,
            cfg.steps,
            loss,
            np.mean(scores["psnr"]),
            np.mean(scores["ssim"]),
            np.mean(scores["perceptual"]),
        )
        return entry

    for step in range(cfg.steps):
        t = step / cfg.steps
        w_noise_scale = (
            w_std * cfg.initial_noise_factor * max(0.0, 1.0 - t / cfg.noise_ramp_length) ** 2
        )
        for group in optimizer.param_groups:
            group["lr"] = _lr(step, cfg)
        w_noise = torch.randn(w_opt.shape, generator=gen).to(device) * w_noise_scale
        img = synth(w_opt + w_noise)
        dist = perceptual.distance(perceptual(img), target_emb)
        loss = dist.sum()
        if noise:
            loss = loss + noise_regularization(noise).sum() * cfg.regularize_noise_weight
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        normalize_noise_(noise)
        if cfg.keep_history:
            history.append(w_opt.detach().expand(-1, G.num_ws, -1).cpu().clone())
        entry = None
        if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
            entry = record(step + 1, float(loss.detach()) / n)
        if progress is not None:
            progress(step + 1, cfg.steps, entry)

    ws = w_opt.detach().expand(-1, G.num_ws, -1).cpu().contiguous()
    noise_out = {k: v.detach().cpu() for k, v in noise.items()}
    with torch.no_grad():
        images = float_to_uint8(synth(w_opt)).cpu()
    seconds = time.perf_counter() - t0
    log.info("projected %d image(s) in %.1f s", n, seconds)
    return ProjectionResult(
        ws=ws,
        noise=noise_out,
        images=images,
        space=cfg.space,
        log=entries,
        history=torch.stack(history) if history else None,
        seconds=seconds,
        perceptual=perceptual.description,
        config=asdict(cfg),
    )
