"""Latent interpolation videos: spherical interpolation (slerp, Shoemake 1985) between seeds' z,
as recommended for Gaussian latents by White 2016 ("Sampling Generative Networks"), or linear
interpolation between their w (Karras et al. 2019, "A Style-Based Generator Architecture for
Generative Adversarial Networks": W is less entangled, so straight lines there stay on the image
manifold; the perceptual path length of section 4.1 uses the same two rules).

A walk passes through keyframes (seed, class) in order; `frames` is the total number of frames.
Without `loop` the first and last frames are exactly the first and last keyframes; with `loop` the
walk returns to the first keyframe and the last frame stops one step short of it, so the video
repeats seamlessly. Keyframes fall exactly on frames when the frame count allows it. A grid of
independent walks gives each cell its own consecutive share of the seeds (as the official
StyleGAN3 gen_video.py does). A conditional network walks between classes: in Z the one-hot
labels are interpolated linearly beside z, in W the class lives inside each keyframe's w.
"""

from __future__ import annotations

import logging
import re

import numpy as np
import torch
from torch import nn

from stylegen.errors import UserError
from stylegen.generate import class_labels, z_from_seeds
from stylegen.images import make_grid
from stylegen.latent.config import check_space
from stylegen.latent.ws import render_ws

__all__ = [
    "frame_positions",
    "interpolation_frames",
    "interpolation_ws",
    "keyframes",
    "lerp",
    "parse_grid",
    "slerp",
    "walk",
]

log = logging.getLogger(__name__)

_GRID = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """a + t (b - a), with t broadcast; exactly a at t = 0 and b at t = 1."""
    t = torch.as_tensor(t, dtype=torch.float64, device=a.device)
    out = (1 - t) * a.double() + t * b.double()
    return out.to(a.dtype)


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """Spherical interpolation along the last axis: sin((1-t)W)/sin(W) a + sin(tW)/sin(W) b, with
    W the angle between a and b; exactly a at t = 0 and b at t = 1; lerp when a, b are parallel."""
    a64, b64 = a.double(), b.double()
    t = torch.as_tensor(t, dtype=torch.float64, device=a.device)
    if t.ndim and t.shape[-1] != 1:
        t = t.unsqueeze(-1)
    cos = (a64 * b64).sum(-1, keepdim=True) / (
        a64.norm(dim=-1, keepdim=True) * b64.norm(dim=-1, keepdim=True)
    )
    omega = torch.arccos(cos.clamp(-1, 1))
    so = torch.sin(omega)
    parallel = so.abs() < 1e-7
    so = torch.where(parallel, torch.ones_like(so), so)
    wa = torch.where(parallel, 1 - t, torch.sin((1 - t) * omega) / so)
    wb = torch.where(parallel, t, torch.sin(t * omega) / so)
    return (wa * a64 + wb * b64).to(a.dtype)


def parse_grid(text: str | tuple[int, int]) -> tuple[int, int]:
    """'2x3' -> (2, 3): rows x columns of independent walks."""
    if isinstance(text, tuple):
        rows, cols = text
    else:
        m = _GRID.match(str(text))
        if not m:
            raise UserError(f"--grid {text!r} is malformed; write ROWSxCOLS, e.g. 2x2")
        rows, cols = int(m.group(1)), int(m.group(2))
    if rows < 1 or cols < 1:
        raise UserError(f"--grid {text!r} needs at least one row and one column, e.g. 1x1")
    return rows, cols


def frame_positions(num_keys: int, frames: int, loop: bool) -> list[tuple[int, int, float]]:
    """(from keyframe, to keyframe, t) for each frame of a walk through `num_keys` keyframes."""
    if num_keys < 2:
        raise UserError(f"an interpolation needs at least 2 keyframes, got {num_keys}")
    if frames < (1 if loop else 2):
        raise UserError(f"--frames {frames} is too few; use at least {1 if loop else 2}")
    segments = num_keys if loop else num_keys - 1
    out = []
    for i in range(frames):
        p = i * segments / (frames if loop else frames - 1)
        k = min(int(p), segments - 1)
        out.append((k, (k + 1) % num_keys, p - k))
    return out


def walk(keys: torch.Tensor, frames: int, loop: bool, space: str) -> torch.Tensor:
    """Interpolate keys [K, ...] into [frames, ...]: slerp over the last axis for 'z', else lerp."""
    pos = frame_positions(keys.shape[0], frames, loop)
    a = keys[[p[0] for p in pos]]
    b = keys[[p[1] for p in pos]]
    t = torch.tensor([p[2] for p in pos], dtype=torch.float64).view(-1, *[1] * (keys.ndim - 1))
    return slerp(a, b, t) if space == "z" else lerp(a, b, t)


def keyframes(
    G: nn.Module, seeds: list[int], classes: list[int] | None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """z [K, z_dim] and one-hot c [K, c_dim] (None for an unconditional network) of the walk.

    classes: None (unconditional network), one class for every seed, or several: one seed walks
    through them all, or as many seeds as classes pair up in order.
    """
    if not seeds:
        raise UserError("an interpolation needs seeds, e.g. --seeds 0,1,2,3")
    classes = list(classes) if classes else None
    if classes is None or len(classes) == 1:
        cls = classes[0] if classes else None
        class_labels(G, cls, 1)  # checks conditional vs unconditional and the range
        keys = [(s, cls) for s in seeds]
    elif len(seeds) == 1:
        keys = [(seeds[0], c) for c in classes]
    elif len(seeds) == len(classes):
        keys = list(zip(seeds, classes))
    else:
        raise UserError(
            f"--class lists {len(classes)} classes for {len(seeds)} seeds; give one seed (it "
            "walks through the classes), one class, or as many seeds as classes"
        )
    z = z_from_seeds([s for s, _ in keys], G.z_dim)
    if keys[0][1] is None:
        return z, None
    c = torch.cat([class_labels(G, cls, 1) for _, cls in keys])
    return z, c


def interpolation_ws(
    G: nn.Module,
    seeds: list[int],
    frames: int,
    space: str = "z",
    loop: bool = False,
    classes: list[int] | None = None,
    truncation_psi: float = 1.0,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """ws [frames, num_ws, w_dim] of one walk through the seeds' keyframes."""
    space = check_space(space, ("z", "w"))
    z, c = keyframes(G, seeds, classes)
    frame_positions(len(z), frames, loop)  # validate before any network work

    def mapping(zz: torch.Tensor, cc: torch.Tensor | None) -> torch.Tensor:
        with torch.no_grad():
            return G.mapping(
                zz.to(device),
                cc.to(device) if cc is not None else None,
                truncation_psi=truncation_psi,
            )

    if space == "w":
        return walk(mapping(z, c), frames, loop, "w")
    zs = walk(z, frames, loop, "z")
    cs = walk(c, frames, loop, "w") if c is not None else None
    return mapping(zs, cs)


def interpolation_frames(
    G: nn.Module,
    seeds: list[int],
    frames: int,
    space: str = "z",
    loop: bool = False,
    classes: list[int] | None = None,
    grid: tuple[int, int] = (1, 1),
    truncation_psi: float = 1.0,
    noise_mode: str = "const",
    batch_size: int = 16,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """uint8 frames [frames, C, rows*H, cols*W]; with a grid, cell i walks through seeds
    [i*K, (i+1)*K) where K = len(seeds) / cells (keyframes per cell)."""
    rows, cols = parse_grid(grid)
    cells = rows * cols
    if len(seeds) % cells or len(seeds) // cells < (1 if classes and len(classes) > 1 else 2):
        raise UserError(
            f"--grid {rows}x{cols} needs a multiple of {cells} seeds with at least 2 per cell "
            f"(got {len(seeds)}), e.g. --seeds 0-{2 * cells - 1}"
        )
    per_cell = len(seeds) // cells
    walks = []
    for i in range(cells):
        ws = interpolation_ws(
            G,
            seeds[i * per_cell : (i + 1) * per_cell],
            frames,
            space,
            loop,
            classes,
            truncation_psi,
            device,
        )
        walks.append(render_ws(G, ws, noise_mode=noise_mode, batch_size=batch_size, device=device))
    log.info("interpolation: %d frames, %d walk(s), space %s", frames, cells, space)
    if cells == 1:
        return walks[0]
    stacked = torch.stack(walks, dim=1)  # [F, cells, C, H, W]
    return torch.from_numpy(np.stack([make_grid(f, ncols=cols) for f in stacked]))
