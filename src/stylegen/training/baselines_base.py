"""What the baseline steps share (training/adversarial.py for gan, dcgan and cgan;
training/vae.py for the VAE): the training data, network building, the minibatch order and the
step base class. The family itself is training/baselines.py.

Minibatches walk the data in a fresh random order every epoch (a function of the seed, the epoch
and the batch index, so a resumed run sees the same batches without saving anything); z and eps
come from the seeded global torch RNG on the CPU, saved in each snapshot.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from stylegen.data.datasets import ImageDataset
from stylegen.data.open import open_dataset
from stylegen.errors import UserError
from stylegen.images import float_to_uint8, make_grid, uint8_to_float
from stylegen.models.gan import (
    DCGANDiscriminator,
    DCGANDiscriminatorConfig,
    DCGANGenerator,
    DCGANGeneratorConfig,
    MLPDiscriminator,
    MLPDiscriminatorConfig,
    MLPGenerator,
    MLPGeneratorConfig,
)
from stylegen.models.serialization import write_checkpoint_files
from stylegen.models.vae import VAE, VAEConfig
from stylegen.training.baselines_config import MLP_ARCHES, BaselineConfig, baseline_preset
from stylegen.training.stats import StatsCollector

__all__ = [
    "BaselineStep",
    "EpochBatches",
    "build_gan",
    "build_vae",
    "evaluating",
    "open_baseline_data",
]


def open_baseline_data(cfg: BaselineConfig) -> ImageDataset:
    """The training images (with labels when conditional); one line when labels are missing."""
    common = dict(
        labels=cfg.labels,
        skip_bad=cfg.skip_bad,
        max_size=cfg.max_size,
        xflip=cfg.mirror,
        random_seed=cfg.seed,
    )
    try:
        ds = open_dataset(cfg.data, use_labels=cfg.cond, **common)
    except UserError:
        if not cfg.cond:
            raise
        open_dataset(cfg.data, use_labels=False, **common)  # raises if labels are not the problem
        ds = None
    if cfg.cond and (ds is None or not ds.has_labels):
        what = "--arch cgan" if cfg.arch == "cgan" else f"--arch {cfg.arch} --cond"
        raise UserError(
            f"{what} needs class labels but dataset {cfg.data} has none; add a dataset.json "
            '({"labels": [["dir/img.png", 3], ...]}) or use --labels folders (one sub-folder per '
            "class)"
        )
    return ds


def build_gan(
    cfg: BaselineConfig, resolution: int, channels: int, c_dim: int
) -> tuple[torch.nn.Module, torch.nn.Module]:
    """G and D of a resolved GAN config for images of the given shape and c_dim classes."""
    p = baseline_preset(cfg.preset)
    shape = dict(img_resolution=resolution, img_channels=channels, c_dim=c_dim)
    mode = cfg.cond_mode or "concat"
    if cfg.arch in MLP_ARCHES:
        G = MLPGenerator(MLPGeneratorConfig(z_dim=cfg.z_dim, hidden=p.mlp_g, **shape))
        D = MLPDiscriminator(MLPDiscriminatorConfig(hidden=p.mlp_d, cond_mode=mode, **shape))
        return G, D
    G = DCGANGenerator(DCGANGeneratorConfig(z_dim=cfg.z_dim, ngf=p.ngf, **shape))
    D = DCGANDiscriminator(DCGANDiscriminatorConfig(ndf=p.ndf, cond_mode=mode, **shape))
    return G, D


def build_vae(cfg: BaselineConfig, resolution: int, channels: int, c_dim: int) -> VAE:
    p = baseline_preset(cfg.preset)
    return VAE(
        VAEConfig(
            z_dim=cfg.z_dim,
            c_dim=c_dim,
            img_resolution=resolution,
            img_channels=channels,
            channels=p.vae_channels,
            channel_max=p.vae_channel_max,
        )
    )


class EpochBatches:
    """Minibatch `i` of a dataset walked in a new random order each epoch: a pure function of
    (seed, i), so a resumed run sees the same batches without saving any state."""

    def __init__(self, ds: ImageDataset, batch: int, seed: int) -> None:
        self.ds, self.batch, self.seed = ds, batch, seed
        self.per_epoch = max(len(ds) // batch, 1)
        self._epoch, self._order = -1, torch.empty(0, dtype=torch.long)

    def indices(self, i: int) -> list[int]:
        epoch, k = divmod(i, self.per_epoch)
        if epoch != self._epoch:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._epoch, self._order = epoch, torch.randperm(len(self.ds), generator=gen)
        positions = (torch.arange(self.batch) + k * self.batch) % len(self.ds)
        return self._order[positions].tolist()

    def get(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 images [B, C, H, W] and float32 labels [B, label_dim] of minibatch i."""
        items = [self.ds[j] for j in self.indices(i)]
        img = torch.from_numpy(np.stack([im for im, _ in items]))
        c = torch.from_numpy(np.stack([lab for _, lab in items]).astype(np.float32))
        return img, c


@contextmanager
def evaluating(*modules: torch.nn.Module) -> Iterator[None]:
    """Eval mode (batch norm's running statistics) and no gradients, then back to training."""
    for m in modules:
        m.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for m in modules:
            m.train()


class BaselineStep:
    """What the adversarial and the VAE step share: data, fixed latents, grids, the checkpoint."""

    divergence_hint: ClassVar[str] = "lower --lr"

    def __init__(self, cfg: BaselineConfig, ds: ImageDataset, device: torch.device) -> None:
        self.cfg, self.ds, self.device = cfg, ds, device
        self.batch = cfg.batch
        self.total_nimg = int(cfg.kimg * 1000)
        self.c_dim = ds.label_dim if cfg.cond else 0
        self.batches = EpochBatches(ds, cfg.batch, cfg.seed)
        self.iteration = 0
        self.stats = StatsCollector()

    def _grid_latents(self, z_dim: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Fixed latents for samples.png: 8x8, or 8 per class row when conditional."""
        gen = torch.Generator().manual_seed(12345)
        rows, c = 8, None
        if self.c_dim:
            rows = min(self.c_dim, 10)
            c = torch.eye(self.c_dim)[torch.arange(rows).repeat_interleave(8)]
        return torch.randn(rows * 8, z_dim, generator=gen), c

    def _real(self, batch_idx: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        img, c = self.batches.get(batch_idx)
        img = uint8_to_float(torch.as_tensor(img).to(self.device))  # uint8 over the bus
        return img, (c.to(self.device) if self.c_dim else None)

    def _noise(self, n: int, dim: int) -> torch.Tensor:
        """Standard normal [n, dim] from the global CPU RNG (the same on every device)."""
        return torch.randn(n, dim).to(self.device)

    def _sample(self, G: torch.nn.Module) -> np.ndarray:
        with evaluating(G):
            z, c = self.grid_z.to(self.device), self.grid_c
            img = G(z, c.to(self.device) if c is not None else None)
        return make_grid(float_to_uint8(img).cpu(), ncols=8)

    def tick_stats(self) -> dict[str, Any]:
        return {"Progress/epoch": self.iteration / self.batches.per_epoch}

    def preview_reals(self) -> np.ndarray:
        gen = torch.Generator().manual_seed(54321)
        idx = torch.randint(len(self.ds), (64,), generator=gen).tolist()
        return make_grid(np.stack([self.ds[i][0] for i in idx]), ncols=8)

    def _save(self, network: torch.nn.Module, folder: Path, metadata: dict[str, Any]) -> None:
        meta = {**metadata, "dataset": self.cfg.data, "arch": self.cfg.arch}
        write_checkpoint_files(network, folder, meta)
