"""Perceptual path length (Karras et al. 2019, "A Style-Based Generator Architecture for GANs",
section 4.1; the variant of StyleGAN2-ADA's metrics).

For random latent pairs (z0, z1) and t, PPL is the expectation of

    LPIPS(G(lerp(w0, w1, t)), G(lerp(w0, w1, t + eps))) / eps^2,      eps = 1e-4,

in W (w = mapping(z), linear interpolation) or in Z (spherical interpolation of z, then mapping).
Sampling "full" draws t ~ U(0, 1); "end" uses t = 0 (path endpoints). Both images of a pair share
their per-pixel noise. Images are centre-cropped for face data as in the paper (rows 3/8..7/8,
columns 2/8..6/8) for the legacy names, box-downsampled to 256x256 when larger, mapped to 0..255
(grey repeated to RGB) and compared with LPIPS VGG-16 (lpips.py). The mean is taken over the
distances between the 1st and 99th percentiles, which removes the rare huge jumps.

Registered names (NVIDIA's): `ppl2_wend` (no crop, the StyleGAN2 paper metric), and the StyleGAN
paper's `ppl_zfull`, `ppl_wfull`, `ppl_zend`, `ppl_wend` (face crop); 50 000 samples unless --num.

Randomness: sample j draws t and its latent pair from a CPU `torch.Generator` seeded with j, so the
pairs do not depend on the batch size or the device; per-pixel noise (shared within a pair) comes
from a forked torch RNG seeded with the batch's first index.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from stylegen.errors import UserError
from stylegen.metrics.compute import dataset_labels, seeded_rng
from stylegen.metrics.lpips import PerceptualDistance, load_lpips
from stylegen.metrics.registry import MetricSpec, MetricValue, register_metric

__all__ = ["EPSILON", "perceptual_images", "ppl_distances", "ppl_from_distances", "slerp"]

EPSILON = 1e-4


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between the directions of a and b (rows), result of unit length."""
    a = a / a.norm(dim=-1, keepdim=True)
    b = b / b.norm(dim=-1, keepdim=True)
    d = (a * b).sum(dim=-1, keepdim=True)
    p = t * torch.acos(d)
    c = b - d * a
    c = c / c.norm(dim=-1, keepdim=True)
    out = a * torch.cos(p) + c * torch.sin(p)
    return out / out.norm(dim=-1, keepdim=True)


def perceptual_images(img: torch.Tensor, crop: bool) -> torch.Tensor:
    """Generator output in [-1, 1] → float 0..255 RGB, face-cropped, downsampled by
    resolution // 256 (computed before the crop, as NVIDIA's metric does)."""
    factor = img.shape[2] // 256
    if crop:
        c = img.shape[2] // 8
        img = img[:, :, c * 3 : c * 7, c * 2 : c * 6]
    if factor > 1:
        n, ch, h, w = img.shape
        img = img.reshape(n, ch, h // factor, factor, w // factor, factor).mean(dim=(3, 5))
    img = (img + 1) * (255 / 2)
    if img.shape[1] == 1:
        img = img.repeat(1, 3, 1, 1)
    return img


def _draw_pairs(start: int, n: int, z_dim: int) -> tuple[torch.Tensor, ...]:
    """t [n], z0, z1 [n, z_dim]: sample j draws t, z0, z1 from a CPU generator seeded with j."""
    rows = []
    for j in range(start, start + n):
        gen = torch.Generator().manual_seed(j)
        rows.append((torch.rand([1], generator=gen), torch.randn([2, z_dim], generator=gen)))
    t = torch.cat([r[0] for r in rows])
    z = torch.stack([r[1] for r in rows])
    return t, z[:, 0], z[:, 1]


def ppl_distances(
    G: torch.nn.Module,
    distance: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    num: int,
    *,
    epsilon: float = EPSILON,
    space: str = "w",
    sampling: str = "end",
    crop: bool = False,
    batch_size: int = 16,
    labels: Callable[[int, int], torch.Tensor | None] | None = None,
    noise_mode: str = "random",
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """The `num` scaled distances LPIPS(img(t), img(t + eps)) / eps^2, float64."""
    if space not in ("z", "w") or sampling not in ("full", "end"):
        raise ValueError(f"space must be z or w and sampling full or end: {space}, {sampling}")
    out = []
    for start in range(0, num, batch_size):
        n = min(batch_size, num - start)
        t, z0, z1 = _draw_pairs(start, n, G.z_dim)
        t = t * (1.0 if sampling == "full" else 0.0)
        t, z0, z1 = t.to(device), z0.to(device), z1.to(device)
        c = labels(n, start) if labels is not None else None
        c2 = torch.cat([c, c]).to(device) if c is not None else None
        with torch.no_grad():
            if space == "w":
                w0, w1 = G.mapping(torch.cat([z0, z1]), c2).chunk(2)
                wt0 = w0.lerp(w1, t[:, None, None])
                wt1 = w0.lerp(w1, t[:, None, None] + epsilon)
            else:
                zt0 = slerp(z0, z1, t[:, None])
                zt1 = slerp(z0, z1, t[:, None] + epsilon)
                wt0, wt1 = G.mapping(torch.cat([zt0, zt1]), c2).chunk(2)
            images = []
            for ws in (wt0, wt1):
                with seeded_rng(start, device):  # same noise for both images of a pair
                    images.append(perceptual_images(G.synthesis(ws, noise_mode=noise_mode), crop))
            d = distance(images[0], images[1]) / epsilon**2
        out.append(d.double().cpu())
    return torch.cat(out).numpy()


def ppl_from_distances(dist: np.ndarray) -> float:
    """Mean of the distances between the 1st (lower) and 99th (higher) percentiles."""
    dist = np.asarray(dist, dtype=np.float64)
    lo = np.percentile(dist, 1, method="lower")
    hi = np.percentile(dist, 99, method="higher")
    return float(dist[(dist >= lo) & (dist <= hi)].mean())


# --------------------------------------------------------------------------------------------
# Registered metric


def _lpips(ctx) -> PerceptualDistance:
    if "lpips" not in ctx.cache:
        ctx.cache["lpips"] = load_lpips(ctx.lpips_path, device=ctx.device)
    return ctx.cache["lpips"]


def _ppl(ctx, spec: MetricSpec) -> MetricValue:
    G = ctx.require_generator(spec)
    if not hasattr(G, "mapping"):
        raise UserError(
            f"{spec.name} walks StyleGAN's mapping network (z -> w), which "
            f"{type(G).__name__} does not have; use fid/kid/pr/is for it"
        )
    c_dim = int(getattr(G, "c_dim", 0))
    if c_dim and ctx.dataset is None:
        raise UserError(f"the network is conditional: {spec.name} needs --data for its labels")
    dist = ppl_distances(
        G,
        _lpips(ctx),
        spec.num_gen,
        space=spec.param("space", "w"),
        sampling=spec.param("sampling", "end"),
        crop=spec.param("v") is None,  # NVIDIA: legacy ppl_* crop faces, ppl2_* does not
        batch_size=ctx.batch_size,
        labels=dataset_labels(ctx.dataset, c_dim) if c_dim else None,
        device=ctx.device,
    )
    return MetricValue({spec.name: ppl_from_distances(dist)}, num_gen=spec.num_gen)


register_metric(
    "ppl", r"ppl(?P<v>2)?_(?P<space>z|w)(?P<sampling>full|end)", _ppl,
    form="ppl[2]_{z,w}{full,end}", example="ppl2_wend", uses_dataset=False,
    check=lambda ctx, spec: _lpips(ctx),
)  # fmt: skip
