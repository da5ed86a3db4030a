"""CycleGAN training configuration: `CycleGANConfig` and the named presets.

The paper's recipe (Zhu, Park, Isola & Efros 2017: 256x256 crops from 286, 9 residual blocks,
batch 1, 100 + 100 epochs) and versions scaled for 128 px, a 2-core CPU and tests. This module
imports no torch, so the CLI builds its parser from these dataclasses cheaply.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from stylegen.config import check_number
from stylegen.errors import UserError

__all__ = ["CYCLEGAN_PRESETS", "CycleGANConfig", "CycleGANPreset", "cyclegan_preset"]


@dataclass(frozen=True)
class CycleGANPreset:
    """Network widths and data sizes of a named CycleGAN recipe."""

    description: str
    crop_size: int
    load_size: int
    ngf: int = 64
    ndf: int = 64
    num_blocks: int | None = None  # None: 9 at 256 px, 6 at 128 px and below
    d_layers: int = 3
    batch: int = 1
    epochs: int = 100
    decay_epochs: int = 100
    tick_kimg: float = 1.0
    max_size: int | None = None
    threads: int | None = None  # torch CPU threads; None = torch's default


CYCLEGAN_PRESETS: dict[str, CycleGANPreset] = {
    "paper256": CycleGANPreset("the paper's recipe for 256x256 images", 256, 286),
    "paper128": CycleGANPreset("the paper's recipe scaled to 128x128 (6 blocks)", 128, 143),
    # Sized for a shared 2-core CPU: 32 px crops from 36 px (286/256 scaled), 16-channel networks,
    # a 34x34 PatchGAN (two strided layers: about the whole image, which a 32 px object needs),
    # 1000 images per domain per epoch and 5 epochs (about 5 minutes). One thread: these small
    # convolutions gain nothing from more, and a busy CPU made 2 threads 8x slower (29.6 vs 3.7
    # img/s measured with ndf 16, batch 8).
    "cpu32": CycleGANPreset(
        "CPU recipe for 32x32 images (e.g. Fashion-MNIST classes), minutes on 2 cores",
        crop_size=32,
        load_size=36,
        ngf=16,
        ndf=16,
        d_layers=2,
        batch=4,
        epochs=3,
        decay_epochs=2,
        tick_kimg=0.5,
        max_size=1000,
        threads=1,
    ),
    "tiny": CycleGANPreset(
        "a few thousand parameters, for tests",
        crop_size=32,
        load_size=36,
        ngf=4,
        ndf=4,
        num_blocks=1,
        d_layers=2,
        batch=2,
        epochs=1,
        decay_epochs=1,
        tick_kimg=0.004,
    ),
}


def cyclegan_preset(name: str) -> CycleGANPreset:
    if name not in CYCLEGAN_PRESETS:
        raise UserError(
            f"unknown CycleGAN preset {name!r}; choose one of: {', '.join(CYCLEGAN_PRESETS)}"
        )
    return CYCLEGAN_PRESETS[name]


@dataclass
class CycleGANConfig:
    """Everything `stylegen cyclegan train` needs; None means "the preset's default"."""

    data_a: str
    data_b: str
    outdir: str = "runs"
    preset: str = "cpu32"
    epochs: int | None = None
    decay_epochs: int | None = None
    # Wall-clock budget: stop with a snapshot after the first minibatch past N minutes
    # (training/trainer.py); None: train to the full length.
    minutes: float | None = None
    batch: int | None = None
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    lambda_cycle: float = 10.0
    lambda_identity: float = 0.5  # times lambda_cycle, as in the paper's code
    pool_size: int = 50
    load_size: int | None = None
    crop_size: int | None = None
    flip: bool = True
    max_size: int | None = None
    tick_kimg: float | None = None
    snap: int = 4
    seed: int = 0
    device: str = "cpu"
    threads: int | None = None
    max_nonfinite: int = 20

    def resolved(self) -> CycleGANConfig:
        """A copy with every None replaced by the preset's default, validated."""
        p = cyclegan_preset(self.preset)
        r = dataclasses.replace(self)
        for name in ("epochs", "decay_epochs", "batch", "load_size", "crop_size", "tick_kimg"):
            if getattr(r, name) is None:
                setattr(r, name, getattr(p, name))
        if r.max_size is None:
            r.max_size = p.max_size
        if r.threads is None:
            r.threads = p.threads
        return r.validate()

    def validate(self) -> CycleGANConfig:
        self._check_numbers()
        if self.epochs + self.decay_epochs < 1:
            raise UserError(
                f"--epochs {self.epochs} --decay-epochs {self.decay_epochs}: both must be >= 0 "
                "and train at least one epoch in total"
            )
        if self.crop_size is None or self.crop_size < 4 or self.crop_size % 4:
            raise UserError(f"--crop-size {self.crop_size} must be a multiple of 4 (e.g. 32, 256)")
        if self.load_size is None or self.load_size < self.crop_size:
            raise UserError(
                f"--load-size {self.load_size} must be >= --crop-size {self.crop_size} "
                "(the paper loads 286 and crops 256)"
            )
        return self

    def _check_numbers(self) -> None:
        """Every numeric setting is a finite number in its range (NaN fails explicitly), named
        by its `stylegen cyclegan train` flag; runs after resolved() has filled in the preset."""
        check_number("--minutes", self.minutes, low=0, low_open=True, optional=True)
        for flag, value, low in (
            ("--epochs", self.epochs, 0),
            ("--decay-epochs", self.decay_epochs, 0),
            ("--batch", self.batch, 1),
            ("--crop-size", self.crop_size, 4),
            ("--load-size", self.load_size, 4),
            ("--snap", self.snap, 1),
            ("--pool-size", self.pool_size, 0),
            ("max_nonfinite", self.max_nonfinite, 1),
        ):
            check_number(flag, value, integer=True, low=low)
        check_number("--max-size", self.max_size, integer=True, low=1, optional=True)
        check_number("--threads", self.threads, integer=True, low=1, optional=True)
        check_number("--seed", self.seed, integer=True, low=0, high=2**32 - 1)
        check_number("--tick", self.tick_kimg, low=0, low_open=True)
        for flag, value in (
            ("--lr", self.lr),
            ("--lambda-cycle", self.lambda_cycle),
            ("--lambda-identity", self.lambda_identity),
        ):
            check_number(flag, value, low=0)
        for name, beta in (("beta1", self.beta1), ("beta2", self.beta2)):
            check_number(name, beta, low=0, high=1)
            if beta == 1:
                raise UserError(f"{name} 1 must be below 1 (Adam divides by 1 - {name})")
