"""Image conversions and I/O: float [-1, 1] NCHW <-> uint8 <-> PIL, grids, atomic PNG writes.

The float -> uint8 mapping is the one the official StyleGAN code uses (x * 127.5 + 128, clamped),
so images saved here match images saved by the reference tools bit for bit.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from stylegen.fileio import atomic_file

__all__ = [
    "float_to_uint8",
    "make_grid",
    "resize_to",
    "save_figure_atomic",
    "save_gif",
    "save_image",
    "to_pil",
    "uint8_to_float",
]


def float_to_uint8(img: torch.Tensor) -> torch.Tensor:
    """[N, C, H, W] float in [-1, 1] -> uint8 [N, C, H, W]."""
    return (img.detach() * 127.5 + 128).clamp(0, 255).to(torch.uint8)


def uint8_to_float(img: torch.Tensor | np.ndarray) -> torch.Tensor:
    """uint8 [N, C, H, W] -> float32 in [-1, 1]."""
    return torch.as_tensor(img).to(torch.float32) / 127.5 - 1


def to_pil(img: torch.Tensor | np.ndarray) -> Image.Image:
    """One uint8 image [C, H, W] -> PIL image (L for 1 channel, RGB for 3, RGBA for 4)."""
    arr = np.asarray(torch.as_tensor(img).cpu())
    assert arr.dtype == np.uint8 and arr.ndim == 3, (arr.dtype, arr.shape)
    if arr.shape[0] == 1:
        return Image.fromarray(arr[0], "L")
    return Image.fromarray(arr.transpose(1, 2, 0), {3: "RGB", 4: "RGBA"}[arr.shape[0]])


def make_grid(
    images: torch.Tensor | np.ndarray, ncols: int | None = None, pad: int = 0
) -> np.ndarray:
    """uint8 [N, C, H, W] -> one uint8 [C, rows*H, cols*W] image, filled row by row."""
    images = np.asarray(torch.as_tensor(images).cpu())
    n, c, h, w = images.shape
    ncols = ncols or int(np.ceil(np.sqrt(n)))
    nrows = int(np.ceil(n / ncols))
    grid = np.zeros((c, nrows * (h + pad) - pad, ncols * (w + pad) - pad), dtype=np.uint8)
    for i in range(n):
        r, col = divmod(i, ncols)
        grid[:, r * (h + pad) : r * (h + pad) + h, col * (w + pad) : col * (w + pad) + w] = images[
            i
        ]
    return grid


def save_image(img: torch.Tensor | np.ndarray, path: str | os.PathLike) -> Path:
    """Write one uint8 [C, H, W] image atomically (temp file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pil = to_pil(img)
    with atomic_file(path) as tmp, open(tmp, "wb") as f:
        pil.save(f, format=path.suffix.lstrip(".").upper().replace("JPG", "JPEG") or "PNG")
    return path


def save_gif(frames: torch.Tensor | np.ndarray, path: str | os.PathLike, fps: float = 15.0) -> Path:
    """Write uint8 frames [N, C, H, W] as a looping GIF atomically (Pillow)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    images = [to_pil(f) for f in np.asarray(torch.as_tensor(frames).cpu())]
    with atomic_file(path) as tmp, open(tmp, "wb") as f:
        images[0].save(
            f,
            format="GIF",
            save_all=True,
            append_images=images[1:],
            duration=max(int(round(1000 / fps)), 20),
            loop=0,
        )
    return path


def resize_to(img: torch.Tensor, size: int) -> torch.Tensor:
    """Float images [N, C, H, W] -> [N, C, size, size] (bilinear, antialiased when shrinking)."""
    if img.shape[-1] == size and img.shape[-2] == size:
        return img
    return F.interpolate(
        img, size=(size, size), mode="bilinear", align_corners=False, antialias=True
    )


def save_figure_atomic(fig: Any, out: Path) -> Path:
    """Save a matplotlib figure as PNG through a temporary file and a rename (fileio)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(out) as tmp, open(tmp, "wb") as f:
        fig.savefig(f, format="png", dpi=100)
    return out
