"""Pivotal Tuning Inversion (Roich, Mokady, Bermano & Cohen-Or 2021, "Pivotal Tuning for
Latent-based Editing of Real Images"): after projection has found a pivot w_p for a target x,
fine-tune the synthesis network's weights so that G(w_p) reproduces x, keeping w_p fixed.

Loss, as in the paper (section 3.2) without the optional locality regulariser:
    L = d_perc(G(w_p), x) + lambda_L2 * ||G(w_p) - x||^2 (mean over pixels)
with Adam at learning rate 3e-4 for 350 steps and lambda_L2 = 1, the authors' defaults
(their perceptual distance is LPIPS-AlexNet; here it is latent/perceptual.py's). The mapping
network is untouched; per-sample noise maps from projection stay fixed. Several targets tune one
shared generator (the paper tunes one generator per image: pass one target for that). With one
target, its noise maps are written into the tuned generator's constant noise buffers, so the saved
checkpoint renders the result without the ws file's noise.
"""

from __future__ import annotations

import copy
import logging
import time
from typing import Any

import numpy as np
import torch
from torch import nn

from stylegen.errors import UserError
from stylegen.images import float_to_uint8, uint8_to_float
from stylegen.latent.config import PTIConfig
from stylegen.latent.noise import noise_inputs
from stylegen.latent.perceptual import PerceptualEmbedding
from stylegen.latent.project import check_targets, image_scores
from stylegen.latent.ws import check_ws

__all__ = ["PTIConfig", "pivotal_tuning"]

log = logging.getLogger(__name__)


def pivotal_tuning(
    G: nn.Module,
    targets: torch.Tensor,
    ws: torch.Tensor,
    perceptual: PerceptualEmbedding,
    noise: dict[str, torch.Tensor] | None = None,
    config: PTIConfig | None = None,
    device: str | torch.device = "cpu",
) -> tuple[nn.Module, list[dict[str, Any]]]:
    """A tuned copy of G (eval mode, CPU) and the log [{step, loss, psnr, ssim, perceptual}]."""
    cfg = (config or PTIConfig()).validate()
    check_targets(targets, G)
    check_ws(ws, G, "the pivot ws")
    if ws.shape[0] != targets.shape[0]:
        raise UserError(f"{ws.shape[0]} pivots for {targets.shape[0]} targets; give one each")
    t0 = time.perf_counter()
    G = copy.deepcopy(G).to(device).eval().requires_grad_(False)
    G.synthesis.requires_grad_(True)
    ws = ws.to(device)
    noise = {k: v.to(device) for k, v in (noise or {}).items()}
    target = uint8_to_float(targets).to(device)
    with torch.no_grad():
        target_emb = perceptual.to(device)(target)
    params = [p for p in G.synthesis.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=cfg.lr)
    entries: list[dict[str, Any]] = []
    for step in range(cfg.steps):
        with noise_inputs(G, noise):
            img = G.synthesis(ws, noise_mode="const")
        loss_perc = perceptual.distance(perceptual(img), target_emb)
        loss_l2 = (img - target).square().flatten(1).mean(1)
        loss = (loss_perc + cfg.l2_weight * loss_l2).sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
            with torch.no_grad(), noise_inputs(G, noise):
                img = G.synthesis(ws, noise_mode="const")
            scores = image_scores(float_to_uint8(img).cpu(), targets.cpu(), perceptual)
            entries.append({"step": step + 1, "loss": float(loss.detach()) / len(ws), **scores})
            log.info(
                "PTI step %d/%d: PSNR %.2f dB, SSIM %.4f",
                step + 1,
                cfg.steps,
                np.mean(scores["psnr"]),
                np.mean(scores["ssim"]),
            )
    G.requires_grad_(False)
    if noise and ws.shape[0] == 1:
        with torch.no_grad():
            for name, value in noise.items():
                layer = G.synthesis.get_submodule(name.rsplit(".", 1)[0])
                layer.noise_const.copy_(value[0, 0])
    log.info("pivotal tuning: %d steps in %.1f s", cfg.steps, time.perf_counter() - t0)
    return G.cpu().eval(), entries
