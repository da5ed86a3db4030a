"""Dataset preparation: scan a folder or .zip of images, crop/resize them to one square
power-of-two size, and pack them in the zip layout of StyleGAN2-ADA's dataset tool (Karras et al.,
2020): `00000/img00000000.png, 00000/img00000001.png, ...` plus `dataset.json` holding
`{"labels": [["00000/img00000000.png", 3], ...]}` or `{"labels": null}`.

Transforms:
- "center-crop": crop the largest centred square, resize to res x res.
- "center-crop-wide": crop the largest centred 2:1 rectangle, resize to res x res/2, and pad to a
  square with black bars above and below (as the official tool's wide crop, e.g. for LSUN cars).
- "resize": resize the whole image to res x res (the aspect ratio is not kept).
Resizing uses Lanczos filtering; EXIF orientation is applied first so photos come out upright.
Grey sources stay grey (1 channel); if any image is colour, all are written as RGB; `channels`
forces either.
The zip is written to a temporary file beside the destination and renamed into place, so an
interrupted run never leaves a half-written dataset.
"""

from __future__ import annotations

import io
import json
import logging
import os
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from stylegen.data.datasets import (
    LABELS_FILE,
    BadImageError,
    ImageSource,
    channels_of_mode,
    folder_labels,
    is_power_of_two_resolution,
    json_labels,
    pil_to_uint8,
    scan_images,
)
from stylegen.errors import UserError
from stylegen.fileio import atomic_file

logger = logging.getLogger(__name__)

TRANSFORMS = ("center-crop", "center-crop-wide", "resize")
_LANCZOS = Image.Resampling.LANCZOS


def archive_name(index: int) -> str:
    """Name of the index-th image in the official layout: 1,000 images per folder."""
    return f"{index // 1000:05d}/img{index:08d}.png"


def center_crop(img: Image.Image, resolution: int) -> Image.Image:
    """Largest centred square, resized to resolution x resolution."""
    w, h = img.size
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    return img.crop((left, top, left + s, top + s)).resize((resolution, resolution), _LANCZOS)


def center_crop_wide(img: Image.Image, resolution: int) -> Image.Image:
    """Largest centred 2:1 rectangle, resized to res x res/2, padded with black to a square."""
    w, h = img.size
    cw, ch = (2 * h, h) if w >= 2 * h else (w, max(1, round(w / 2)))
    left, top = (w - cw) // 2, (h - ch) // 2
    band_h = resolution // 2
    band = img.crop((left, top, left + cw, top + ch)).resize((resolution, band_h), _LANCZOS)
    canvas = Image.new(img.mode, (resolution, resolution), 0)
    canvas.paste(band, (0, (resolution - band_h) // 2))
    return canvas


def plain_resize(img: Image.Image, resolution: int) -> Image.Image:
    return img.resize((resolution, resolution), _LANCZOS)


_TRANSFORM_FNS = {
    "center-crop": center_crop,
    "center-crop-wide": center_crop_wide,
    "resize": plain_resize,
}


def _check_args(dest: Path, resolution: int, transform: str, labels: str | None) -> None:
    if dest.suffix.lower() != ".zip" or dest.is_dir():
        raise UserError(
            f"destination '{dest}' must be a file name ending in .zip, e.g. --dest out.zip"
        )
    if not isinstance(resolution, (int, np.integer)) or not is_power_of_two_resolution(resolution):
        raise UserError(
            f"resolution must be a power of two >= 4 (4, 8, ..., 1024), got {resolution!r}"
        )
    if transform not in TRANSFORMS:
        raise UserError(f"transform must be one of {', '.join(TRANSFORMS)}, got '{transform}'")
    if labels not in (None, "json", "folders"):
        raise UserError(f"labels must be none, json or folders, got '{labels}'")


def _source_labels(
    source: ImageSource, names: list[str], labels: str | None
) -> tuple[list | None, list[str] | None]:
    """Per-image labels as JSON values (or None) and class names, read before any work is done."""
    if labels is None:
        return None, None
    if labels == "folders":
        idx, class_names = folder_labels(source, names)
        return [int(i) for i in idx], class_names
    values, class_names = json_labels(source, names)
    return values.tolist(), class_names


def _normalise(img: Image.Image, channels: int) -> Image.Image:
    """Upright 8-bit 'L' or 'RGB' image, whatever the source mode and orientation."""
    arr = pil_to_uint8(ImageOps.exif_transpose(img), channels)
    return Image.fromarray(arr[:, :, 0] if channels == 1 else arr)


def _png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    # Level 1: most of the size win of PNG at a fraction of the time of the default level.
    img.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _write_zip(
    tmp: Path,
    source: ImageSource,
    names: list[str],
    label_values: list | None,
    class_names: list[str] | None,
    channels: int,
    resolution: int,
    transform: str,
    skip_bad: bool,
) -> tuple[int, int]:
    """Write the images and dataset.json to tmp: (images written, bad files skipped)."""
    fn = _TRANSFORM_FNS[transform]
    out_labels = [] if label_values is not None else None
    count = skipped = 0
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
        for i, name in enumerate(names):
            try:
                img = source.load(name)
            except BadImageError as e:
                if not skip_bad:
                    raise UserError(
                        f"bad image '{source.describe(name)}': {e}; "
                        "delete it, or skip bad files with skip_bad=True (--skip-bad)"
                    ) from e
                skipped += 1
                continue
            img = _normalise(img, channels)
            arc = archive_name(count)
            zf.writestr(arc, _png_bytes(fn(img, resolution)))
            if out_labels is not None:
                out_labels.append([arc, label_values[i]])
            count += 1
            if count % 1000 == 0:
                logger.info("converted %d / %d images", count, len(names))
        meta: dict = {"labels": out_labels}
        if class_names is not None:
            meta["class_names"] = class_names
        zf.writestr(LABELS_FILE, json.dumps(meta))
    return count, skipped


def convert_dataset(
    source: str | os.PathLike,
    dest_zip: str | os.PathLike,
    resolution: int,
    transform: str = "center-crop",
    labels: str | None = None,
    skip_bad: bool = False,
    channels: int | None = None,
) -> int:
    """Convert a folder or .zip of images into a training zip; returns the number of images.

    channels: None keeps grey sources grey (RGB if any image is colour); 1 or 3 forces grey or RGB.

    labels: None (or "none") writes `"labels": null`; "json" carries labels over from the source's
    dataset.json; "folders" makes each top-level sub-folder a class (sorted names, index 0, 1, ...).
    Bad (unreadable or truncated) files raise a UserError naming them unless skip_bad is set.
    """
    dest = Path(dest_zip)
    labels = None if labels == "none" else labels  # the CLI spelling of "no labels"
    _check_args(dest, resolution, transform, labels)
    src = ImageSource(source)
    names = src.image_names()
    if not names:
        raise UserError(f"no images (.png, .jpg, .jpeg, .webp) found in '{src.path}'")
    good, _, modes, bad = scan_images(src, names, skip_bad=skip_bad)
    if not good:
        raise UserError(f"none of the {len(names)} images in '{src.path}' can be read")
    label_values, class_names = _source_labels(src, good, labels)
    if channels is None:
        channels = 1 if all(channels_of_mode(m) == 1 for m in modes) else 3
    elif channels not in (1, 3):
        raise UserError(f"--channels {channels} must be 1 (grey) or 3 (RGB)")

    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        # Written under a temporary name and renamed: a full disk or Ctrl-C leaves no partial zip.
        with atomic_file(dest) as tmp:
            count, late_bad = _write_zip(
                tmp, src, good, label_values, class_names, channels, resolution, transform, skip_bad
            )
            if count == 0:
                raise UserError(f"none of the {len(names)} images in '{src.path}' can be read")
    finally:
        src.close()
    if bad or late_bad:
        logger.warning("skipped %d unreadable image(s) in %s", len(bad) + late_bad, src.path)
    logger.info(
        "wrote %d images (%dx%d, %d channel(s)) to %s",
        count,
        resolution,
        resolution,
        channels,
        dest,
    )
    return count
