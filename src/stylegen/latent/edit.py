"""Latent editing: move ws along a direction on chosen layers (Härkönen et al. 2020, "GANSpace",
layer-wise edits; Shen & Zhou 2021, "SeFa", section 3; Roich et al. 2021 edit PTI pivots the same
way).

For ws [N, num_ws, w_dim], a direction n [w_dim], degrees a_1..a_D and ws indices L, the edit is
ws'[i, d, l] = ws[i, l] + a_d n for l in L, and ws[i, l] elsewhere, so degree 0 is the original.
The grid has one row per latent and one column per degree; the optional GIF sweeps through the
degrees and back with every latent side by side.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from stylegen.errors import UserError
from stylegen.images import make_grid, save_image
from stylegen.latent.video import check_video_path, write_video
from stylegen.latent.ws import check_ws, render_ws

__all__ = ["edit_grid", "edit_images", "edit_ws", "parse_degrees", "sweep_frames", "write_edit"]

log = logging.getLogger(__name__)


def parse_degrees(text: str | list[float]) -> list[float]:
    """'-5,-2.5,0,2.5,5' -> [-5.0, -2.5, 0.0, 2.5, 5.0]."""
    if isinstance(text, list | tuple):
        values = list(text)
    else:
        values = []
        for part in str(text).split(","):
            try:
                values.append(float(part))
            except ValueError:
                raise UserError(
                    f"--degrees {text!r}: {part.strip()!r} is not a number; write e.g. -5,0,5"
                ) from None
    values = [float(v) for v in values]
    if not values or not all(np.isfinite(values)):
        raise UserError(f"--degrees {text!r} must be finite numbers, e.g. -5,-2.5,0,2.5,5")
    return values


def edit_ws(
    ws: torch.Tensor, direction: torch.Tensor, degrees: list[float], layers: list[int]
) -> torch.Tensor:
    """[N, num_ws, w_dim] -> [N, D, num_ws, w_dim] (see module docstring)."""
    if direction.ndim != 1 or direction.shape[0] != ws.shape[2]:
        raise UserError(
            f"the direction has shape {list(direction.shape)} but w has {ws.shape[2]} "
            "dimensions: the directions were made for another network"
        )
    out = ws.unsqueeze(1).repeat(1, len(degrees), 1, 1)
    # On ws's device: the directions are loaded to the CPU, the latents may live on a GPU.
    degree = torch.tensor(degrees, dtype=ws.dtype, device=ws.device).view(1, -1, 1)
    step = degree * direction.to(ws.device, ws.dtype).view(1, 1, -1)
    out[:, :, layers] = out[:, :, layers] + step.unsqueeze(2)
    return out


def edit_images(
    G: nn.Module,
    ws: torch.Tensor,
    direction: torch.Tensor,
    degrees: list[float],
    layers: list[int],
    noise: dict[str, torch.Tensor] | None = None,
    noise_mode: str = "const",
    batch_size: int = 16,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """uint8 [N, D, C, H, W]: every latent at every degree (noise: per-latent maps, optional)."""
    check_ws(ws, G)
    bad = [i for i in layers if not 0 <= i < G.num_ws]
    if bad or not layers:
        raise UserError(f"--layers {layers} must lie in 0-{G.num_ws - 1}")
    edited = edit_ws(ws, direction, degrees, layers)
    n, d = edited.shape[:2]
    rep = {k: v.repeat_interleave(d, dim=0) for k, v in (noise or {}).items()}
    images = render_ws(
        G,
        edited.flatten(0, 1),
        noise=rep,
        noise_mode=noise_mode,
        batch_size=batch_size,
        device=device,
    )
    log.info("edit: %d latent(s) x %d degrees on ws %s", n, d, layers)
    return images.view(n, d, *images.shape[1:])


def edit_grid(images: torch.Tensor) -> np.ndarray:
    """[N, D, C, H, W] -> uint8 [C, N*H, D*W]: rows are latents, columns degrees."""
    n, d = images.shape[:2]
    return make_grid(images.flatten(0, 1), ncols=d)


def sweep_frames(images: torch.Tensor) -> torch.Tensor:
    """[N, D, C, H, W] -> frames [2D - 2, C, H, N*W] (degrees forward then back, a loop)."""
    n, d = images.shape[:2]
    order = list(range(d)) + list(range(d - 2, 0, -1))
    return torch.from_numpy(np.stack([make_grid(images[:, j], ncols=n) for j in order]))


def write_edit(
    outdir: str | os.PathLike,
    images: torch.Tensor,
    names: list[str],
    degrees: list[float],
    gif: bool = False,
    fps: float = 8.0,
) -> dict[str, Path]:
    """Write grid.png, one `<name>_deg<degree>.png` per image and optionally sweep.gif."""
    outdir = Path(outdir)
    if gif:
        check_video_path(outdir / "sweep.gif", "--gif")
    grid = edit_grid(images)
    frames = sweep_frames(images) if gif else None
    outdir.mkdir(parents=True, exist_ok=True)
    paths = {"grid": save_image(grid, outdir / "grid.png")}
    for i, name in enumerate(names):
        for j, deg in enumerate(degrees):
            save_image(images[i, j], outdir / f"{name}_deg{deg:+g}.png")
    if frames is not None:
        paths["gif"] = write_video(frames, outdir / "sweep.gif", fps=fps)
    return paths
