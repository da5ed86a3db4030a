"""CycleGAN (Zhu, Park, Isola & Efros 2017): config, presets and the training step.

Two generators, G_AB: A -> B and G_BA: B -> A, and two PatchGAN discriminators, D_A (real A vs
G_BA(B)) and D_B (real B vs G_AB(A)). Per minibatch, as in the paper's code:

- generators: least-squares GAN loss against both discriminators, cycle loss
  lambda_cycle * (|G_BA(G_AB(a)) - a|_1 + |G_AB(G_BA(b)) - b|_1) and identity loss
  lambda_identity * lambda_cycle * (|G_AB(b) - b|_1 + |G_BA(a) - a|_1); one Adam step for both;
- discriminators: 0.5 * (LSGAN(real) + LSGAN(fake)) where the fakes come from a 50-image history
  pool per discriminator; one Adam step for both.

Adam lr 2e-4, betas (0.5, 0.999); the lr stays constant for `epochs` epochs, then falls linearly to
zero over `decay_epochs` epochs (updated every minibatch). Training images are resized to
`load_size` (286 for 256 crops), randomly cropped to `crop_size` and randomly mirrored.

Progress is counted in images of domain A (kimg); the loop, run folder, stats, snapshots and
`--resume` are the shared ones (training/trainer.py, runs.py). Each snapshot folder holds G_AB/ and
G_BA/ (checkpoints that `stylegen translate` and `stylegen.load` open alone), training_state.pt
(both discriminators, optimisers, image pools and RNG states; read with weights_only=True) and
samples.png.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from stylegen import runs
from stylegen.data.datasets import ImageDataset, UnpairedDataset
from stylegen.data.open import open_dataset
from stylegen.errors import UserError
from stylegen.images import float_to_uint8, make_grid, resize_to, uint8_to_float
from stylegen.models.cyclegan import (
    DIRECTIONS,
    PatchDiscriminator,
    PatchDiscriminatorConfig,
    ResnetGenerator,
    ResnetGeneratorConfig,
    default_num_blocks,
)
from stylegen.models.serialization import write_checkpoint_files
from stylegen.training import losses
from stylegen.training.cyclegan_config import (
    CYCLEGAN_PRESETS,
    CycleGANConfig,
    CycleGANPreset,
    cyclegan_preset,
)
from stylegen.training.image_pool import ImagePool
from stylegen.training.schedule import linear_decay
from stylegen.training.stats import StatsCollector
from stylegen.training.trainer import (
    Family,
    ProgressFn,
    adam,
    optimizer_step,
    read_run_config,
    resume_run,
    start_run,
)

__all__ = [
    "CYCLEGAN",
    "CYCLEGAN_PRESETS",
    "CycleGANConfig",
    "CycleGANPreset",
    "CycleGANStep",
    "GENERATOR_DIRS",
    "LOSS_PANELS",
    "open_domains",
    "resume_cyclegan",
    "train_cyclegan",
    "translation_grid",
]

# sub-folder of each direction's generator in a snapshot (models/cyclegan.py)
GENERATOR_DIRS = DIRECTIONS

# Extra panels for losses.png (the shared plot draws G and D totals already).
LOSS_PANELS = [
    ("GAN terms", [("Loss/G/gan_a2b", "G_AB gan"), ("Loss/G/gan_b2a", "G_BA gan")]),
    ("Cycle / identity", [("Loss/G/cycle", "cycle"), ("Loss/G/identity", "identity")]),
    ("Discriminators", [("Loss/D/a", "D_A"), ("Loss/D/b", "D_B")]),
    ("Learning rate", [("Progress/lr", "lr")]),
]


# ---------------------------------------------------------------------------------------------
# Data and networks


def _open_domain(which: str, spec: str, max_size: int | None, seed: int) -> ImageDataset:
    try:
        return open_dataset(spec, max_size=max_size, random_seed=seed)
    except UserError as exc:
        raise UserError(f"--data-{which.lower()}: {exc}") from None


def open_domains(cfg: CycleGANConfig) -> UnpairedDataset:
    """Both domains of a (resolved) config; UserError naming the domain when one is unusable."""
    a = _open_domain("A", cfg.data_a, cfg.max_size, cfg.seed)
    b = _open_domain("B", cfg.data_b, cfg.max_size, cfg.seed)
    return UnpairedDataset(a, b, seed=cfg.seed)


def build_cyclegan(
    cfg: CycleGANConfig, channels: int
) -> tuple[ResnetGenerator, ResnetGenerator, PatchDiscriminator, PatchDiscriminator]:
    """G_AB, G_BA, D_A, D_B for a resolved config and the data's channel count."""
    p = cyclegan_preset(cfg.preset)
    blocks = p.num_blocks or default_num_blocks(cfg.crop_size)
    g = {
        d: ResnetGenerator(
            ResnetGeneratorConfig(
                in_channels=channels,
                out_channels=channels,
                ngf=p.ngf,
                num_blocks=blocks,
                img_resolution=cfg.crop_size,
                direction=d,
            )
        )
        for d in ("a2b", "b2a")
    }
    d_cfg = PatchDiscriminatorConfig(in_channels=channels, ndf=p.ndf, num_layers=p.d_layers)
    return g["a2b"], g["b2a"], PatchDiscriminator(d_cfg), PatchDiscriminator(d_cfg)


def load_crop_flip(
    img: torch.Tensor, load_size: int, crop_size: int, flip: bool, rng: torch.Generator
) -> torch.Tensor:
    """The paper's training transform: resize to load_size, random crop_size crop, random mirror."""
    img = resize_to(img, load_size)
    n = img.shape[0]
    room = load_size - crop_size
    offsets = torch.randint(room + 1, (n, 2), generator=rng).tolist()
    flips = (torch.rand(n, generator=rng) < 0.5).tolist() if flip else [False] * n
    out = []
    for x, (dy, dx), f in zip(img, offsets, flips):
        x = x[:, dy : dy + crop_size, dx : dx + crop_size]
        out.append(x.flip(-1) if f else x)
    return torch.stack(out)


@torch.no_grad()
def translation_grid(
    G_AB: torch.nn.Module, G_BA: torch.nn.Module, real_a: torch.Tensor, real_b: torch.Tensor
) -> np.ndarray:
    """One uint8 image: a row per pair, columns real A | G_AB(A) | G_BA(G_AB(A)) | real B |
    G_BA(B) | G_AB(G_BA(B)). Inputs are float [N, C, H, W] at the generators' size."""
    fake_b = G_AB(real_a)
    fake_a = G_BA(real_b)
    cols = [real_a, fake_b, G_BA(fake_b), real_b, fake_a, G_AB(fake_a)]
    rows = torch.stack([float_to_uint8(c).cpu() for c in cols], dim=1)  # [N, 6, C, H, W]
    return make_grid(rows.flatten(0, 1), ncols=len(cols))


# ---------------------------------------------------------------------------------------------
# The step


class CycleGANStep:
    """G_AB, G_BA, D_A, D_B, their optimisers and image pools; one minibatch per `train_step`."""

    kind: ClassVar[str] = "cyclegan"
    loss_panels: ClassVar[list] = LOSS_PANELS
    log_keys: ClassVar[list[tuple[str, str]]] = [
        ("epoch", "Progress/epoch"),
        ("G", "Loss/G/loss"),
        ("D", "Loss/D/loss"),
        ("cycle", "Loss/G/cycle"),
    ]
    divergence_hint: ClassVar[str] = "lower --lr"

    def __init__(self, cfg: CycleGANConfig, data: UnpairedDataset, device: torch.device) -> None:
        self.cfg = cfg
        self.device = device
        self.data = data
        nets = build_cyclegan(cfg, self.data.num_channels)
        self.G_AB, self.G_BA, self.D_A, self.D_B = (n.to(self.device).train() for n in nets)
        betas = (cfg.beta1, cfg.beta2)
        self.opt_G = adam(
            itertools.chain(self.G_AB.parameters(), self.G_BA.parameters()), lr=cfg.lr, betas=betas
        )
        self.opt_D = adam(
            itertools.chain(self.D_A.parameters(), self.D_B.parameters()), lr=cfg.lr, betas=betas
        )
        self.pool_A = ImagePool(cfg.pool_size, seed=cfg.seed * 2 + 1)
        self.pool_B = ImagePool(cfg.pool_size, seed=cfg.seed * 2 + 2)
        self.aug_rng = torch.Generator().manual_seed(cfg.seed + 7)
        self.iters_per_epoch = max(len(self.data) // cfg.batch, 1)
        self.batch = cfg.batch
        self.total_nimg = (cfg.epochs + cfg.decay_epochs) * self.iters_per_epoch * cfg.batch
        self.iteration = 0  # minibatches done (the trainer's batch_idx)
        self.stats = StatsCollector()
        self.grid_a, self.grid_b = self._grid_images()

    def _real_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.cfg
        epoch, i = divmod(self.iteration, self.iters_per_epoch)
        imgs_a, imgs_b = self.data.batch(epoch, i * cfg.batch, cfg.batch)
        out = []
        for imgs in (imgs_a, imgs_b):
            x = uint8_to_float(torch.from_numpy(imgs))
            x = load_crop_flip(x, cfg.load_size, cfg.crop_size, cfg.flip, self.aug_rng)
            out.append(x.to(self.device))
        return out[0], out[1]

    def _set_lr(self) -> float:
        cfg = self.cfg
        progress = self.iteration / self.iters_per_epoch  # epochs, fractional
        lr = cfg.lr * linear_decay(progress, cfg.epochs, cfg.decay_epochs)
        for opt in (self.opt_G, self.opt_D):
            for group in opt.param_groups:
                group["lr"] = lr
        return lr

    def train_step(self, cur_nimg: int, batch_idx: int) -> torch.Tensor | int:
        """One minibatch: both generators, then both discriminators; returns the number of
        optimiser steps skipped for non-finite losses."""
        cfg = self.cfg
        report = self.stats.report
        self.iteration = batch_idx
        lr = self._set_lr()
        real_a, real_b = self._real_batch()

        # Generators: the discriminators only pass gradients through.
        self.D_A.requires_grad_(False)
        self.D_B.requires_grad_(False)
        fake_b = self.G_AB(real_a)
        rec_a = self.G_BA(fake_b)
        fake_a = self.G_BA(real_b)
        rec_b = self.G_AB(fake_a)
        gan_a2b = losses.lsgan_loss(self.D_B(fake_b), True)
        gan_b2a = losses.lsgan_loss(self.D_A(fake_a), True)
        cycle = losses.cycle_loss(rec_a, real_a) + losses.cycle_loss(rec_b, real_b)
        loss_g = gan_a2b + gan_b2a + cfg.lambda_cycle * cycle
        identity = torch.zeros([], device=self.device)
        if cfg.lambda_identity > 0:
            identity = losses.identity_loss(self.G_AB(real_b), real_b) + losses.identity_loss(
                self.G_BA(real_a), real_a
            )
            loss_g = loss_g + cfg.lambda_identity * cfg.lambda_cycle * identity
        skipped = optimizer_step(self.opt_G, loss_g)

        # Discriminators: real vs pooled fakes, halved so D learns slower than G (paper, 7.1).
        self.D_A.requires_grad_(True)
        self.D_B.requires_grad_(True)
        pooled_a = self.pool_A.query(fake_a)
        pooled_b = self.pool_B.query(fake_b)
        loss_d_a = 0.5 * (
            losses.lsgan_loss(self.D_A(real_a), True) + losses.lsgan_loss(self.D_A(pooled_a), False)
        )
        loss_d_b = 0.5 * (
            losses.lsgan_loss(self.D_B(real_b), True) + losses.lsgan_loss(self.D_B(pooled_b), False)
        )
        skipped += optimizer_step(self.opt_D, loss_d_a + loss_d_b)

        for name, value in (
            ("Loss/G/loss", loss_g),
            ("Loss/G/gan_a2b", gan_a2b),
            ("Loss/G/gan_b2a", gan_b2a),
            ("Loss/G/cycle", cycle),
            ("Loss/G/identity", identity),
            ("Loss/D/loss", loss_d_a + loss_d_b),
            ("Loss/D/a", loss_d_a),
            ("Loss/D/b", loss_d_b),
            ("Progress/lr", lr),
        ):
            report(name, value.detach() if isinstance(value, torch.Tensor) else value)
        self.iteration = batch_idx + 1
        return skipped

    # -- what the trainer asks for ----------------------------------------------------------

    def tick_stats(self) -> dict[str, Any]:
        return {"Progress/epoch": self.iteration / self.iters_per_epoch}

    def _grid_images(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Eight fixed images per domain for the snapshot grids, at the crop size."""
        out = []
        for ds in (self.data.a, self.data.b):
            idx = np.random.default_rng(123).choice(len(ds), size=min(8, len(ds)), replace=False)
            imgs = torch.from_numpy(np.stack([ds[int(i)][0] for i in idx]))
            out.append(resize_to(uint8_to_float(imgs), self.cfg.crop_size))
        n = min(len(out[0]), len(out[1]))
        return out[0][:n], out[1][:n]

    def sample_grid(self) -> np.ndarray:
        return translation_grid(
            self.G_AB, self.G_BA, self.grid_a.to(self.device), self.grid_b.to(self.device)
        )

    def preview_reals(self) -> None:
        return None

    def metrics_target(self) -> None:
        return None

    def save_networks(self, folder: Path, metadata: dict[str, Any]) -> None:
        metadata = {
            **metadata,
            "epoch": self.iteration / self.iters_per_epoch,
            "data_a": self.cfg.data_a,
            "data_b": self.cfg.data_b,
        }
        for direction, sub in GENERATOR_DIRS.items():
            (folder / sub).mkdir()
            G = self.G_AB if direction == "a2b" else self.G_BA
            write_checkpoint_files(G, folder / sub, {**metadata, "direction": direction})

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue bit-for-bit; plain tensors and containers only."""
        return {
            "G_AB": self.G_AB.state_dict(),
            "G_BA": self.G_BA.state_dict(),
            "D_A": self.D_A.state_dict(),
            "D_B": self.D_B.state_dict(),
            "opt_G": self.opt_G.state_dict(),
            "opt_D": self.opt_D.state_dict(),
            "pool_A": self.pool_A.state_dict(),
            "pool_B": self.pool_B.state_dict(),
            "rng_torch": torch.get_rng_state(),
            "rng_aug": self.aug_rng.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name in ("G_AB", "G_BA", "D_A", "D_B", "opt_G", "opt_D"):
            getattr(self, name).load_state_dict(state[name])
        self.pool_A.load_state_dict(state["pool_A"], self.device)
        self.pool_B.load_state_dict(state["pool_B"], self.device)
        torch.set_rng_state(state["rng_torch"])
        self.aug_rng.set_state(state["rng_aug"])
        counters = state["counters"]  # [cur_nimg, batch_idx, ...], or [iteration, ...] (older)
        self.iteration = int(counters[0] if len(counters) == 3 else counters[1])


# ---------------------------------------------------------------------------------------------
# Entry points


def _run_name(cfg: CycleGANConfig) -> str:
    def stem(spec: str) -> str:  # 'fashion-mnist:sneaker' -> 'sneaker', 'data/horses' -> 'horses'
        return str(spec).partition(":")[2] or Path(str(spec).rstrip("/")).stem

    return runs.run_name(f"{stem(cfg.data_a)}2{stem(cfg.data_b)}", f"cyclegan-{cfg.preset}")


CYCLEGAN = Family(
    kind=CycleGANStep.kind,
    title="CycleGAN",
    config_cls=CycleGANConfig,
    open_data=lambda cfg: open_domains(cfg),
    build_step=CycleGANStep,
    run_name=_run_name,
)


FAMILY = CYCLEGAN  # the name training/families.py looks up


def train_cyclegan(cfg: CycleGANConfig, progress: ProgressFn | None = None) -> Path:
    """Start a new CycleGAN run under cfg.outdir; returns the final snapshot folder."""
    return start_run(CYCLEGAN, cfg, progress)


train = train_cyclegan


def read_options(run_dir: str | os.PathLike) -> CycleGANConfig:
    """The config of a CycleGAN run folder; UserError when it is not one."""
    hint = f"; resume it with `stylegen train --resume {run_dir}`"
    return read_run_config(CYCLEGAN, Path(run_dir), other_hint=hint)


def resume_cyclegan(
    run_dir: str | os.PathLike,
    progress: ProgressFn | None = None,
    epochs: int | None = None,
    decay_epochs: int | None = None,
    minutes: float | None = None,
    *,
    device: str | None = None,
    threads: int | None = None,
) -> Path:
    """Continue a CycleGAN run from its last snapshot (optionally with a longer schedule, a
    new time budget, which counts from the restart, or another device or thread count)."""
    given = dict(
        epochs=epochs, decay_epochs=decay_epochs, minutes=minutes, device=device, threads=threads
    )
    # Checked with the rest of the config when resume_run resolves it.
    changes = {name: value for name, value in given.items() if value is not None}
    cfg = dataclasses.replace(read_options(run_dir), **changes)
    return resume_run(CYCLEGAN, run_dir, cfg, progress)
