"""Writing frame sequences: MP4 (H.264) through imageio-ffmpeg, which ships its own ffmpeg
binary, or an animated GIF through Pillow; the file suffix chooses. No paper: plumbing.

MP4 frames are padded with black to multiples of 16 pixels (the H.264 macro block) and stored as
yuv420p, which every player reads. Both writers go through a temporary file that is renamed into
place, so a failed or interrupted write leaves nothing under the final name.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path

import numpy as np
import torch

from stylegen.errors import UserError
from stylegen.fileio import atomic_file
from stylegen.images import save_gif

__all__ = ["VIDEO_SUFFIXES", "check_video_path", "mp4_available", "write_video"]

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".gif")
MP4_HINT = "pip install imageio-ffmpeg (or stylegen[video]), or write a .gif instead"


def mp4_available() -> bool:
    """True when imageio-ffmpeg (with its bundled encoder) can be imported."""
    return importlib.util.find_spec("imageio_ffmpeg") is not None


def check_video_path(path: str | os.PathLike, what: str = "--out") -> Path:
    """Validate a video path before any work: a known suffix, and an encoder for .mp4."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise UserError(f"{what} {path}: unknown video type {suffix or '(none)'}; use .mp4 or .gif")
    if suffix == ".mp4" and not mp4_available():
        raise UserError(f"{what} {path}: no MP4 encoder is installed; {MP4_HINT}")
    if path.exists() and path.is_dir():
        raise UserError(f"{what} {path} is a folder; pass a file name ending in .mp4 or .gif")
    return path


def write_video(
    frames: torch.Tensor | np.ndarray, path: str | os.PathLike, fps: float = 30.0, scale: int = 1
) -> Path:
    """Write uint8 frames [N, C, H, W] (C = 1 or 3) to `path` (.mp4 or .gif), `scale` times
    larger (nearest neighbour)."""
    path = check_video_path(path)
    frames = np.asarray(torch.as_tensor(frames).cpu())
    if frames.ndim != 4 or frames.dtype != np.uint8 or len(frames) == 0:
        raise ValueError(f"frames must be uint8 [N, C, H, W], got {frames.dtype} {frames.shape}")
    if scale > 1:
        frames = frames.repeat(scale, axis=2).repeat(scale, axis=3)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".gif":
        return save_gif(frames, path, fps=fps)
    return _write_mp4(frames, path, fps)


def _write_mp4(frames: np.ndarray, path: Path, fps: float) -> Path:
    import imageio_ffmpeg

    n, c, h, w = frames.shape
    if c == 1:
        frames = frames.repeat(3, axis=1)
    elif c == 4:
        frames = frames[:, :3]
    ph, pw = -h % 16, -w % 16
    hwc = np.ascontiguousarray(
        np.pad(frames, ((0, 0), (0, 0), (0, ph), (0, pw))).transpose(0, 2, 3, 1)
    )
    # Through atomic_file: a finished video appears whole, with the permissions a plain open()
    # would give it (mkstemp's own are 0600).
    with atomic_file(path, suffix=".mp4") as tmp:
        writer = imageio_ffmpeg.write_frames(
            str(tmp),
            (w + pw, h + ph),
            fps=fps,
            codec="libx264",
            quality=8,
            macro_block_size=16,
            ffmpeg_log_level="error",
        )
        writer.send(None)
        for frame in hwc:
            writer.send(frame)
        writer.close()
    log.info("wrote %d frames to %s", n, path)
    return path
