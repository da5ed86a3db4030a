"""Training configuration of the super-resolution family: `SRConfig` and its presets.

`stylegen train --arch srcnn|espcn --scale 2|3|4 --data D` learns to undo bicubic
down-sampling of the dataset's own images, as both papers do:

- `srcnn`: Dong, Loy, He & Tang 2014 ("Learning a Deep Convolutional Network for Image
  Super-Resolution"): 33x33 high-resolution sub-images;
- `espcn`: Shi et al. 2016 ("Real-Time Single Image and Video Super-Resolution Using an Efficient
  Sub-Pixel Convolutional Neural Network"): 17x17 low-resolution sub-images (17 r high).

Random patches (a fresh crop per image and minibatch), MSE loss on [-1, 1] pixels, Adam (lr 1e-3:
the papers' SGD / lr 0.01 schedules need far more steps than a CPU budget gives). Patches are
sized for small images: a patch larger than the data is cut to the largest multiple of the scale
that fits. This module imports no torch, so the CLI builds its flags from these dataclasses.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from stylegen.config import check_choice, check_number
from stylegen.errors import UserError

__all__ = ["SR_ARCHES", "SR_PRESETS", "SRConfig", "SRPreset", "hr_patch", "sr_preset"]

SR_ARCHES = ("srcnn", "espcn")
SR_SCALES = (2, 3, 4)
MIN_LR_PATCH = 4  # low-resolution pixels a patch needs at least: the 3x3/5x5 layers see context


@dataclass(frozen=True)
class SRPreset:
    description: str
    batch: int = 16
    kimg: float = 100.0
    tick_kimg: float = 4.0
    patch: int | None = 24  # high-resolution patch side; None: the papers' (33, or 17 r)
    threads: int | None = None


SR_PRESETS: dict[str, SRPreset] = {
    # 32x32 data (Fashion-MNIST) on a shared CPU: 24x24 patches (a multiple of 2, 3 and 4; 12, 8
    # or 6 pixels at low resolution), one thread (small convolutions do not gain from two).
    "cpu32": SRPreset(
        "32x32 images on a CPU: 24-pixel patches, a few minutes", batch=16, kimg=100.0, threads=1
    ),
    "paper": SRPreset(
        "the papers' sub-images (SRCNN 33, ESPCN 17 r) for larger images; a GPU",
        batch=64,
        kimg=5000.0,
        tick_kimg=50.0,
        patch=None,
    ),
    "tiny": SRPreset("for tests", batch=4, kimg=0.032, tick_kimg=0.008, patch=12),
}


def sr_preset(name: str) -> SRPreset:
    if name not in SR_PRESETS:
        raise UserError(f"unknown preset {name!r}; choose one of: {', '.join(SR_PRESETS)}")
    return SR_PRESETS[name]


def hr_patch(patch: int | None, arch: str, scale: int, resolution: int) -> int:
    """The high-resolution patch side a run uses: `patch` (or the paper's), cut to fit the
    images, rounded down to a multiple of the scale."""
    side = patch if patch is not None else (33 if arch == "srcnn" else 17 * scale)
    side = min(side, resolution)
    return side // scale * scale


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass
class SRConfig:
    """Everything `stylegen train --arch srcnn|espcn` needs; None: the preset's default."""

    data: str
    outdir: str = "runs"
    preset: str = "cpu32"
    arch: str = "espcn"
    scale: int = field(default=3, metadata=_help("super-resolution: upscaling factor 2, 3 or 4"))
    patch: int | None = field(
        default=None,
        metadata=_help(
            "super-resolution: high-resolution training patch side (default: the preset's)"
        ),
    )
    no_residual: bool = field(
        default=False,
        metadata=_help("super-resolution: the papers' plain networks, without the bicubic skip"),
    )
    mirror: bool = False
    max_size: int | None = None
    skip_bad: bool = False
    kimg: float | None = None
    # Wall-clock budget: stop with a snapshot after the first minibatch past N minutes
    # (training/trainer.py); None: train to the full length.
    minutes: float | None = None
    batch: int | None = None
    lr: float | None = None
    tick_kimg: float | None = None
    snap: int = 50
    seed: int = 0
    device: str = "cpu"
    threads: int | None = None
    max_nonfinite: int = 20

    def resolved(self) -> SRConfig:
        """A copy with every None replaced by the preset's default, validated (idempotent)."""
        check_choice("--arch", self.arch, SR_ARCHES)
        p = sr_preset(self.preset)
        r = dataclasses.replace(self)
        r.kimg = p.kimg if r.kimg is None else r.kimg
        r.batch = p.batch if r.batch is None else r.batch
        r.tick_kimg = p.tick_kimg if r.tick_kimg is None else r.tick_kimg
        r.threads = p.threads if r.threads is None else r.threads
        r.patch = p.patch if r.patch is None else r.patch
        r.lr = 1e-3 if r.lr is None else r.lr
        return r.validate()

    def validate(self) -> SRConfig:
        check_number("--minutes", self.minutes, low=0, low_open=True, optional=True)
        check_choice("--arch", self.arch, SR_ARCHES)
        if self.scale not in SR_SCALES:
            raise UserError(f"--scale {self.scale} is not supported; use 2, 3 or 4")
        if self.patch is not None and self.patch < MIN_LR_PATCH * self.scale:
            raise UserError(
                f"--patch {self.patch} is too small for --scale {self.scale}; use at least "
                f"{MIN_LR_PATCH * self.scale}"
            )
        if self.kimg is None or self.kimg <= 0:
            raise UserError(f"--kimg {self.kimg} must be > 0")
        if self.batch is None or self.batch < 1:
            raise UserError(f"--batch {self.batch} must be >= 1")
        if self.lr is not None and not self.lr > 0:
            raise UserError(f"--lr {self.lr} must be > 0")
        if self.snap < 1:
            raise UserError(f"--snap {self.snap} must be >= 1 (ticks between snapshots)")
        return self
