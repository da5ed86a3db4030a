"""Progressive growing (Karras et al. 2018, "Progressive Growing of GANs"; also StyleGAN 2019):
the level of detail, fade-in weight, minibatch size and learning rates as functions of the number
of images shown, as the official TF `training_schedule` computes them.

Training starts at `initial_resolution`; after `phase_kimg` thousand images at a resolution the
next one fades in over `fade_kimg` thousand images, until the data's resolution is reached. The
level of detail lod counts the resolutions still missing (0: full resolution), fractional while
fading (see models/progan.py). Minibatch size and learning rates depend on the current
resolution (2**(log2(resolution) - floor(lod))). Pure Python: no torch, tested on its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from stylegen.errors import UserError

__all__ = ["GrowthSchedule", "GrowthState"]


@dataclass(frozen=True)
class GrowthState:
    """Where growing stands after some number of images."""

    lod: float
    resolution: int  # of the newest active block (the resolution D and G work at)
    alpha: float  # its fade-in weight: 1 when not fading
    batch: int
    glr: float
    dlr: float

    @property
    def fading(self) -> bool:
        return self.alpha < 1


@dataclass(frozen=True)
class GrowthSchedule:
    """lod, resolution, alpha, minibatch and learning rates from cur_nimg."""

    resolution: int  # the data's
    initial_resolution: int = 4
    phase_kimg: float = 600.0
    fade_kimg: float = 600.0
    batch: int = 16  # at resolutions without an entry in batch_by_res
    batch_by_res: dict[int, int] = field(default_factory=dict)
    glr: float = 0.001
    glr_by_res: dict[int, float] = field(default_factory=dict)
    dlr: float = 0.001
    dlr_by_res: dict[int, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for what, res in (("data", self.resolution), ("initial", self.initial_resolution)):
            if res < 4 or res & (res - 1):
                raise UserError(
                    f"{what} resolution {res} is not reachable by growing: it must be a power "
                    "of two >= 4 (resize the data with `stylegen dataset --resolution 32`)"
                )
        if self.initial_resolution > self.resolution:
            raise UserError(
                f"--initial-resolution {self.initial_resolution} is above the data's "
                f"{self.resolution}x{self.resolution}; use at most {self.resolution}"
            )
        if not (self.phase_kimg > 0 and self.fade_kimg > 0):
            raise UserError(
                f"--phase-kimg {self.phase_kimg} and --fade-kimg {self.fade_kimg} must both be "
                "> 0; to train without growing use --fixed-resolution"
            )
        batches = [self.batch, *self.batch_by_res.values()]
        if min(batches) < 1:
            raise UserError(f"minibatch sizes {batches} must be >= 1")

    @property
    def initial_lod(self) -> int:
        return int(round(math.log2(self.resolution // self.initial_resolution)))

    @property
    def growing(self) -> bool:
        return self.initial_lod > 0

    def lod(self, cur_nimg: int | float) -> float:
        """The official formula: one phase of phase_kimg + fade_kimg per resolution step."""
        kimg = cur_nimg / 1000.0
        phase_dur = self.phase_kimg + self.fade_kimg
        phase_idx = math.floor(kimg / phase_dur)
        phase_kimg = kimg - phase_idx * phase_dur
        lod = self.initial_lod - phase_idx - max(phase_kimg - self.phase_kimg, 0.0) / self.fade_kimg
        return max(float(lod), 0.0)

    def at(self, cur_nimg: int | float) -> GrowthState:
        lod = self.lod(cur_nimg)
        level = math.floor(lod)
        res = self.resolution >> level
        return GrowthState(
            lod=lod,
            resolution=res,
            alpha=1.0 - (lod - level),
            batch=self.batch_by_res.get(res, self.batch),
            glr=self.glr_by_res.get(res, self.glr),
            dlr=self.dlr_by_res.get(res, self.dlr),
        )

    def full_resolution_kimg(self) -> float:
        """kimg after which the data's resolution is fully faded in."""
        return self.initial_lod * (self.phase_kimg + self.fade_kimg)

    def batches(self) -> list[int]:
        """Every minibatch size the schedule uses (for checks against minibatch-std groups)."""
        res = [self.resolution >> k for k in range(self.initial_lod + 1)]
        return sorted({self.batch_by_res.get(r, self.batch) for r in res})

    def describe(self) -> dict[str, Any]:
        """Plain values that determine the schedule (saved in the training state: a resumed run
        must grow on the same schedule)."""
        if not self.growing:
            return {"resolution": self.resolution, "growing": False, **self._rates()}
        return {
            "resolution": self.resolution,
            "initial_resolution": self.initial_resolution,
            "phase_kimg": float(self.phase_kimg),
            "fade_kimg": float(self.fade_kimg),
            **self._rates(),
        }

    def _rates(self) -> dict[str, Any]:
        res = [self.resolution >> k for k in range(self.initial_lod + 1)]
        return {
            "batch": {r: self.batch_by_res.get(r, self.batch) for r in res},
            "glr": {r: float(self.glr_by_res.get(r, self.glr)) for r in res},
            "dlr": {r: float(self.dlr_by_res.get(r, self.dlr)) for r in res},
        }
