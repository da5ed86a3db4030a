"""Loose image files for the commands that map images to images (`stylegen translate`,
`stylegen reconstruct`): list an input file or folder, read one image at a network's size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from stylegen.data.datasets import (
    DECODE_ERRORS,
    IMAGE_EXTENSIONS,
    bombs_are_errors,
    describe_decode_error,
    pil_to_uint8,
)
from stylegen.errors import UserError

__all__ = ["input_files", "read_image"]


def input_files(inp: Path) -> list[Path]:
    """`inp` itself when it is a file, else every image under the folder (sorted)."""
    if inp.is_file():
        return [inp]
    if inp.is_dir():
        files = sorted(p for p in inp.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
        if files:
            return files
        raise UserError(f"--input {inp} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
    raise UserError(f"--input {inp} does not exist; pass an image file or a folder of images")


def read_image(path: Path, channels: int, size: int) -> np.ndarray:
    """uint8 [channels, size, size]: converted to grey/RGB and resized (bilinear) as needed."""
    try:
        with bombs_are_errors(), Image.open(path) as img:
            img.load()
            if img.size != (size, size):
                img = img.convert("RGB" if channels == 3 else "L").resize(
                    (size, size), Image.Resampling.BILINEAR
                )
            return pil_to_uint8(img, channels).transpose(2, 0, 1)
    except DECODE_ERRORS as exc:
        raise UserError(
            f"cannot read image {path} ({describe_decode_error(exc)}); delete it or fix it"
        ) from None
