"""Target images for projection: read, centre-crop, resize and convert them to the generator's
format, saying what was changed. No paper: plumbing (the crop and Lanczos resize follow the
official StyleGAN2-ADA projector).

Policy: a target of another size is centre-cropped to a square and resized with Lanczos filtering
(never refused: photos rarely come at the network's size); a target with other channels is
converted with Pillow (RGB -> grey by ITU-R 601 luma, grey -> RGB by repetition, an alpha channel
dropped). Every change is logged and returned as a note, which projection writes into
report.json.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import nn

from stylegen.errors import UserError

__all__ = ["load_target", "prepare_target"]

log = logging.getLogger(__name__)

_MODES = {1: "L", 3: "RGB", 4: "RGBA"}


def prepare_target(image: Image.Image, resolution: int, channels: int) -> tuple[np.ndarray, list]:
    """PIL image -> (uint8 [channels, resolution, resolution], notes on what was changed)."""
    notes = []
    mode = _MODES[channels]
    if image.mode != mode:
        notes.append(f"converted {image.mode} to {mode} ({channels} channel(s) as the network)")
        image = image.convert(mode)
    w, h = image.size
    if w != h:
        s = min(w, h)
        box = ((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)
        image = image.crop(box)
        notes.append(f"centre-cropped {w}x{h} to {s}x{s}")
    if image.size != (resolution, resolution):
        notes.append(
            f"resized {image.size[0]}x{image.size[1]} to {resolution}x{resolution} (Lanczos)"
        )
        image = image.resize((resolution, resolution), Image.LANCZOS)
    arr = np.array(image, dtype=np.uint8)
    arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    return np.ascontiguousarray(arr), notes


def load_target(path: str | os.PathLike, G: nn.Module) -> tuple[torch.Tensor, list[str]]:
    """Read an image file as a target for G: (uint8 [C, H, W], notes)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"target image {path} does not exist; pass a PNG or JPEG file")
    try:
        with Image.open(path) as im:
            im.load()
            image = im.copy()
    except (UnidentifiedImageError, OSError) as exc:
        raise UserError(
            f"target {path} is not a readable image ({exc}); pass a PNG or JPEG"
        ) from None
    arr, notes = prepare_target(image, int(G.img_resolution), int(G.img_channels))
    for note in notes:
        log.info("target %s: %s", path, note)
    return torch.from_numpy(arr), notes
