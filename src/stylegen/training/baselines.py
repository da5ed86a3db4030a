"""The baseline families on the shared trainer: GAN (Goodfellow et al. 2014), DCGAN (Radford et
al. 2016), conditional GAN (Mirza & Osindero 2014; projection D, Miyato & Koyama 2018) and the VAE
(Kingma & Welling 2014), one family (kind "baseline") with four `--arch` names.

- config and presets: training/baselines_config.py (no torch);
- networks: models/gan.py, models/vae.py;
- data, minibatch order, the step base class: training/baselines_base.py;
- the steps: training/adversarial.py (gan, dcgan, cgan) and training/vae.py.

This module holds the `Family` (checks before a run folder exists: labels, MLP size, metrics)
and the entry points `train` and `resume`.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from stylegen import runs
from stylegen.data.datasets import ImageDataset
from stylegen.errors import UserError
from stylegen.models.gan import count_parameters
from stylegen.training.adversarial import ACCURACY_PANELS, AdversarialStep, d_accuracy
from stylegen.training.baselines_base import (
    BaselineStep,
    EpochBatches,
    build_gan,
    build_vae,
    open_baseline_data,
)
from stylegen.training.baselines_config import MLP_ARCHES, MLP_MAX_RESOLUTION, BaselineConfig
from stylegen.training.trainer import Family, ProgressFn, start_run
from stylegen.training.vae import VAEStep, vae_terms

__all__ = [
    "ACCURACY_PANELS",
    "BASELINES",
    "AdversarialStep",
    "EpochBatches",
    "VAEStep",
    "build_gan",
    "build_vae",
    "d_accuracy",
    "open_baseline_data",
    "resume",
    "train",
    "vae_terms",
]

STYLEGAN_METRICS = ("ppl", "eqt", "eqr")  # metric kinds that need StyleGAN's mapping or StyleGAN3


def _check(cfg: BaselineConfig, ds: ImageDataset) -> None:
    """Refuse an MLP above 64x64 (with its size), and metrics that cannot run, before a run
    folder exists."""
    from stylegen.metrics.report import check_training_metrics

    res, ch = ds.resolution, ds.num_channels
    if cfg.arch in MLP_ARCHES and res > MLP_MAX_RESOLUTION:
        with torch.device("meta"):  # sizes only, no memory
            G, D = build_gan(cfg, res, ch, ds.label_dim if cfg.cond else 0)
        g, d = count_parameters(G), count_parameters(D)
        raise UserError(
            f"--arch {cfg.arch} is fully connected: at {res}x{res}x{ch} it would have "
            f"{(g + d) / 1e6:.1f}M parameters (G {g / 1e6:.1f}M, D {d / 1e6:.1f}M); use --arch "
            f"dcgan, or resize the data to {MLP_MAX_RESOLUTION}x{MLP_MAX_RESOLUTION} or less "
            f"(stylegen dataset --resolution {MLP_MAX_RESOLUTION})"
        )
    if cfg.metrics:
        from stylegen.metrics.registry import parse_metric_names

        stylegan_only = [
            s.name for s in parse_metric_names(list(cfg.metrics)) if s.kind in STYLEGAN_METRICS
        ]
        if stylegan_only:
            raise UserError(
                f"--metrics {','.join(stylegan_only)} need StyleGAN's mapping network or "
                f"StyleGAN3's input; --arch {cfg.arch} has neither: use fid/kid/pr/is metrics"
            )
    check_training_metrics(cfg.metrics, device=cfg.device)


def _build_step(cfg: BaselineConfig, ds: ImageDataset, device: torch.device) -> BaselineStep:
    return (VAEStep if cfg.is_vae else AdversarialStep)(cfg, ds, device)


BASELINES = Family(
    kind="baseline",
    title="baseline (GAN/DCGAN/cGAN/VAE)",
    config_cls=BaselineConfig,
    open_data=open_baseline_data,
    build_step=_build_step,
    run_name=lambda cfg: runs.run_name(cfg.data, f"{cfg.arch}-{cfg.preset}"),
    check=_check,
)

FAMILY = BASELINES  # the name training/families.py looks up


def train(cfg: BaselineConfig, progress: ProgressFn | None = None) -> Path:
    """Start a new run of a baseline family under cfg.outdir; returns the final snapshot."""
    return start_run(BASELINES, cfg, progress)


def resume(
    run_dir: str | os.PathLike, progress: ProgressFn | None = None, kimg: float | None = None
) -> Path:
    """Continue a baseline run from its newest snapshot up to its --kimg (or a new `kimg`)."""
    from stylegen.training.families import resume as resume_any

    return resume_any(run_dir, progress, kimg=kimg)
