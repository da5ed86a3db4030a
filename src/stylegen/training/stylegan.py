"""StyleGAN2/3 training (Karras et al. 2020, 2021) with ADA (Karras et al. 2020b): the step.

`StyleGANStep.train_step` alternates four phases per minibatch as the official code does:
Gmain (non-saturating loss, optional style mixing), Greg (path-length penalty every `pl_interval`
minibatches), Dmain (logistic loss on augmented reals and fakes) and Dreg (R1 on reals every
`r1_interval` minibatches), with Adam settings corrected for lazy regularisation. After each
minibatch G_ema follows G and ADA adjusts p. The loop around it (ticks, snapshots, resume, stats)
is the shared one in training/trainer.py; `train` and `resume` are this family's entry points.

`shared_fakes` (`--shared-fakes`) reorders a minibatch for speed:
one G pass makes the fakes, Dmain(+Dreg) steps on them with the reals in the same D call
(training/pairs.py), then Gmain steps on the same fakes against the updated D, as DCGAN's loop
does. That saves one G forward and one D call per minibatch (~1.2x the images/s on a CPU) and
is not the official order, so it is off by default (on in the cpu32-fast presets).

Each minibatch is cut into shards of `batch_gpu` images, each with its own random streams; with
several processes (torchrun) each runs its own shards and gradients, ADA and stats are summed
over processes (training/distributed.py). One process with one shard is the classic loop.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from stylegen import runs
from stylegen.data.open import open_dataset
from stylegen.errors import UserError
from stylegen.images import float_to_uint8, make_grid, uint8_to_float
from stylegen.models import Discriminator, Generator, set_reduced_precision
from stylegen.models.precision import resolve_precision
from stylegen.models.registry import build_model
from stylegen.models.serialization import write_checkpoint_files
from stylegen.training import distributed, finetune, losses
from stylegen.training.augment import make_augment
from stylegen.training.ema import ema_beta, update_ema
from stylegen.training.pairs import pack_group, pack_pairs, unpack_pairs
from stylegen.training.schedule import rampdown_factor
from stylegen.training.stats import StatsCollector
from stylegen.training.stylegan_config import (
    TrainConfig,
    build_configs,
    magnitude_ema_beta,
    transition_weight,
)
from stylegen.training.trainer import (
    Family,
    ProgressFn,
    adam,
    read_run_config,
    resume_run,
    start_run,
    step_unless,
)

__all__ = [
    "STYLEGAN",
    "Batches",
    "StyleGANStep",
    "build_networks",
    "check_before_launch",
    "has_transition",
    "open_training_data",
    "resume",
    "train",
]

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# Data and networks


def open_training_data(cfg: TrainConfig):
    ds = open_dataset(
        cfg.data,
        use_labels=cfg.cond,
        labels=cfg.labels,
        skip_bad=cfg.skip_bad,
        max_size=cfg.max_size,
        xflip=cfg.mirror,
        random_seed=cfg.seed,
    )
    if cfg.cond and not ds.has_labels:
        raise UserError(
            f"--cond needs labels but dataset {cfg.data} has none; add a dataset.json or use "
            "--labels folders"
        )
    return ds


def build_networks(cfg: TrainConfig, ds) -> tuple[Generator, Discriminator]:
    if cfg.init:  # fine-tuning: the networks are the source's, so the data must fit them
        finetune.check_data(cfg, ds.resolution, ds.num_channels)
    g_cfg, d_cfg = build_configs(
        cfg.preset,
        img_resolution=ds.resolution,
        img_channels=ds.num_channels,
        c_dim=ds.label_dim if cfg.cond else 0,
        arch=cfg.arch,
    )
    if hasattr(g_cfg, "magnitude_ema_beta"):  # StyleGAN3: EMA half-life of 20k images
        g_cfg = dataclasses.replace(g_cfg, magnitude_ema_beta=magnitude_ema_beta(cfg.batch))
    if has_transition(cfg):  # D needs a class-agnostic head while lambda is below 1
        d_cfg = dataclasses.replace(d_cfg, uncond_head=True)
    g_cfg = dataclasses.replace(g_cfg, **cfg.G_overrides).validate()
    d_cfg = dataclasses.replace(d_cfg, **cfg.D_overrides).validate()
    # The minibatch-std groups live inside one process's shard of the batch.
    batch = cfg.batch if cfg.batch_gpu is None else cfg.batch_gpu
    flag = "--batch" if batch == cfg.batch else "--batch-gpu"
    group = min(d_cfg.mbstd_group_size, batch) if d_cfg.mbstd_group_size else batch
    if batch % group:
        raise UserError(
            f"{flag} {batch} is not divisible by the minibatch-std group size {group}; "
            f"use a multiple of {group}"
        )
    return build_model(g_cfg), Discriminator(d_cfg)


def has_transition(cfg: TrainConfig) -> bool:
    """Whether `cfg` trains with transitional conditioning (Shahbazi et al. 2022)."""
    return bool(cfg.cond) and cfg.cond_start_kimg is not None and cfg.cond_end_kimg is not None


class Batches:
    """Random minibatches (with replacement) from a dataset, reproducible from its RNG state."""

    def __init__(self, ds, batch: int, seed: int) -> None:
        self.ds = ds
        self.batch = batch
        self.rng = torch.Generator().manual_seed(seed)

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(len(self.ds), (self.batch,), generator=self.rng).tolist()
        items = [self.ds[i] for i in idx]
        img = torch.from_numpy(np.stack([im for im, _ in items]))
        c = torch.from_numpy(np.stack([lab for _, lab in items]).astype(np.float32))
        return img, c

    def random_labels(self, n: int) -> torch.Tensor:
        """Labels for generated images, drawn from the dataset's label distribution."""
        idx = torch.randint(len(self.ds), (n,), generator=self.rng).tolist()
        return torch.from_numpy(np.stack([self.ds.get_label(i) for i in idx]).astype(np.float32))


# ---------------------------------------------------------------------------------------------
# The step


class StyleGANStep:
    """G, D, G_ema, their optimisers, ADA and the per-shard random streams; one minibatch of
    the four phases per `train_step`."""

    kind: ClassVar[str] = "stylegan"
    loss_panels: ClassVar[list] = []
    log_keys: ClassVar[list[tuple[str, str]]] = [
        ("G", "Loss/G/loss"),
        ("D", "Loss/D/loss"),
        ("aug", "Progress/augment"),
    ]
    divergence_hint: ClassVar[str] = "lower --glr/--dlr or raise --gamma"

    def __init__(self, cfg: TrainConfig, ds, device: torch.device) -> None:
        self.dist = distributed.info()
        # Each process runs `rounds` shards of batch_gpu images per minibatch (distributed.py).
        self.layout = distributed.shard_layout(
            cfg.batch, cfg.batch_gpu, self.dist.world_size, self.dist.rank
        )
        self.cfg = cfg = dataclasses.replace(cfg, batch_gpu=self.layout.batch_gpu)
        self.device = device
        self.batch = cfg.batch
        self.total_nimg = int(cfg.kimg * 1000)
        self.cur_nimg = 0  # the trainer's count at the current step (D blur fades with it)
        self.cond_weight = 1.0  # transitional training's lambda at cur_nimg
        self.ds = ds
        self.G, self.D = build_networks(cfg, self.ds)
        self.G.to(self.device).train()
        self.D.to(self.device).train()
        distributed.broadcast_module_(self.G)
        distributed.broadcast_module_(self.D)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.precision = resolve_precision(cfg.precision, self.device)  # auto -> fp32 | mixed
        if self.precision == "mixed":
            # G_ema (samples, snapshots, metrics) stays float32; only the trained copies drop.
            set_reduced_precision(self.G, True)
            set_reduced_precision(self.D, True)
        self.c_dim = self.G.c_dim
        self.shard_batches = [
            Batches(self.ds, cfg.batch_gpu, _shard_seed(cfg.seed, s, 1))
            for s in self.layout.local_shards
        ]
        self.batches = self.shard_batches[0]
        self.augment = make_augment(
            cfg.aug,
            cfg.aug_p,
            batch_size=cfg.batch,
            target=cfg.ada_target,
            interval=cfg.ada_interval,
            kimg=cfg.ada_kimg,
            reduce_fn=distributed.all_reduce_sum_ if self.dist.enabled else None,
        )
        # Fine-tuning may keep parts fixed (FreezeD, the mapping): they get no optimiser state.
        self.frozen = finetune.frozen_parameters(self.G, self.D, cfg.freeze_d, cfg.freeze_mapping)
        self.opt_G = self._adam(
            finetune.trainable(self.G, self.frozen),
            cfg.glr,
            cfg.pl_interval if cfg.pl_weight > 0 else None,
        )
        self.opt_D = self._adam(
            finetune.trainable(self.D, self.frozen),
            cfg.dlr,
            cfg.r1_interval if cfg.gamma > 0 else None,
        )
        # The base rates (lazy-regularisation scaling included) that --lr-rampdown scales.
        self.base_lrs = [[g["lr"] for g in opt.param_groups] for opt in (self.opt_G, self.opt_D)]
        self.pl_mean = torch.zeros([], device=self.device)
        # optimiser steps skipped in the current minibatch, a count on the device
        self.skipped: torch.Tensor | int = 0
        self.stats = StatsCollector()
        self.grid_z, self.grid_c = self._grid_latents()
        self._set_cond_weight(0)
        self.shard_rngs = [self._new_shard_rng(s) for s in self.layout.local_shards]

    @staticmethod
    def _adam(params: list[torch.nn.Parameter], lr: float, reg_interval: int | None):
        betas: tuple[float, ...] = (0.0, 0.99)
        if reg_interval:
            lr, betas = losses.lazy_reg_params(lr, betas, reg_interval)
        # Fused where it can be: the per-parameter loop of the default implementation was ~4%
        # of a small CPU step (RESULTS.md, 2026-12-06), and only the fused kernel skips a bad
        # step without the host reading the loss (trainer.step_unless).
        return adam(params, lr=lr, betas=tuple(float(b) for b in betas), eps=1e-8)

    def _grid_latents(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Fixed latents for sample grids: 8x8, one row per class when conditional."""
        gen = torch.Generator().manual_seed(12345)
        if self.c_dim:
            rows = min(self.c_dim, 16)
            c = torch.eye(self.c_dim)[torch.arange(rows).repeat_interleave(8)]
        else:
            rows, c = 8, None
        z = torch.randn(rows * 8, self.G.z_dim, generator=gen)
        return z, c

    def _set_cond_weight(self, cur_nimg: int) -> None:
        """lambda(t) at `cur_nimg` for G's and G_ema's mapping and for D's logits."""
        if not (self.c_dim and has_transition(self.cfg)):
            return
        lam = transition_weight(cur_nimg / 1000, self.cfg.cond_start_kimg, self.cfg.cond_end_kimg)
        self.cond_weight = lam
        self.G.mapping.cond_weight = lam
        self.G_ema.mapping.cond_weight = lam

    # -- random streams per shard -----------------------------------------------------------

    def _new_shard_rng(self, shard: int) -> dict[str, torch.Tensor]:
        """Start state of shard `shard`'s torch RNG; shard 0 continues the seeded global one."""
        if shard == 0:
            state = {"torch": torch.get_rng_state()}
            if self.device.type == "cuda":
                state["cuda"] = torch.cuda.get_rng_state(self.device)
            return state
        seed = _shard_seed(self.cfg.seed, shard, 0)
        state = {"torch": torch.Generator().manual_seed(seed).get_state()}
        if self.device.type == "cuda":
            state["cuda"] = torch.Generator(self.device).manual_seed(seed).get_state()
        return state

    @contextmanager
    def _shard_rng(self, k: int) -> Iterator[Batches]:
        """Run with local shard k's random streams (z, noise, augment, ...) as the global RNG."""
        state = self.shard_rngs[k]
        torch.set_rng_state(state["torch"])
        if "cuda" in state:
            torch.cuda.set_rng_state(state["cuda"], self.device)
        try:
            yield self.shard_batches[k]
        finally:
            state["torch"] = torch.get_rng_state()
            if "cuda" in state:
                state["cuda"] = torch.cuda.get_rng_state(self.device)

    def _mean_over_shards(self, values: list[torch.Tensor]) -> torch.Tensor:
        """Mean of per-shard tensors over every shard of every process."""
        if self.layout.num_shards == 1:
            return values[0]
        total = values[0].clone()
        for v in values[1:]:
            total += v
        return distributed.all_reduce_sum_(total) / self.layout.num_shards

    # -- phases -----------------------------------------------------------------------------

    def _gen_c(self, n: int, batches: Batches | None = None) -> torch.Tensor | None:
        return (batches or self.batches).random_labels(n).to(self.device) if self.c_dim else None

    def _run_G(self, z, c, update_emas: bool = False, grad_ws: bool = False):
        ws = self.G.mapping(z, c, update_emas=update_emas)
        if self.cfg.style_mixing_prob > 0:
            ws = losses.style_mixing_ws(
                lambda z2, c2: self.G.mapping(z2, c2), z, c, ws, self.cfg.style_mixing_prob
            )
        if grad_ws and not ws.requires_grad:  # a frozen mapping: the penalty still needs d/dws
            ws = ws.detach().requires_grad_(True)
        return self.G.synthesis(ws, update_emas=update_emas), ws

    def _run_D(self, img, c):
        sigma = losses.blur_sigma(
            self.cur_nimg, self.cfg.blur_init_sigma or 0.0, self.cfg.blur_fade_kimg or 0.0
        )
        if sigma > 0:
            img = losses.blur_images(img, sigma)
        if self.cond_weight != 1:  # mid-transition only: a finished ramp is the plain call
            return self.D(self.augment(img), c, cond_weight=self.cond_weight)
        return self.D(self.augment(img), c)

    def _run_phase(self, opt, module, shard_loss: Callable[[int], torch.Tensor]) -> None:
        """One optimiser step: accumulate each local shard's loss, sum gradients, step.

        Every shard's loss is scaled by 1 / num_shards, so the step sees the mean over the global
        batch whatever the number of processes. A non-finite loss on any shard of any process
        skips the step everywhere and is counted. Whether a loss was finite stays on the device
        (a GPU never waits for the host here); the trainer reads the count once per tick.
        """
        opt.zero_grad(set_to_none=True)
        gain = 1.0 / self.layout.num_shards
        bad = torch.zeros((), device=self.device)
        for k in range(len(self.shard_rngs)):
            with self._shard_rng(k):
                loss = shard_loss(k)
                bad = bad + torch.isfinite(loss).logical_not()
                # A non-finite loss still runs its backward: the step is skipped whatever its
                # gradients hold, and not branching keeps the host from waiting on the device.
                (loss * gain if gain != 1.0 else loss).backward()
        params = [p for p in module.parameters() if p.requires_grad]
        skip = distributed.reduce_gradients(params, bad) > 0
        for p in module.parameters():
            if p.grad is not None:
                torch.nan_to_num_(p.grad, nan=0, posinf=1e5, neginf=-1e5)
        self.skipped = self.skipped + step_unless(opt, skip)

    def _phase_G(self, z, c) -> torch.Tensor:
        finetune.set_requires_grad(self.G, True, self.frozen)
        finetune.set_requires_grad(self.D, False, self.frozen)
        img, _ = self._run_G(z, c)
        return self._loss_G(img, c)

    def _loss_G(self, img: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        """Gmain's non-saturating loss on fakes that still carry G's graph."""
        logits = self._run_D(img, c)
        self.stats.report("Loss/scores/fake", logits)
        loss_G = losses.g_nonsaturating_loss(logits)
        self.stats.report("Loss/G/loss", loss_G)
        return loss_G.mean()

    def _phase_Greg(self, z, c, new_pl_means: list[torch.Tensor]) -> torch.Tensor:
        cfg = self.cfg
        n = max(z.shape[0] // cfg.pl_batch_shrink, 1)
        c_small = c[:n] if c is not None else None
        img, ws = self._run_G(z[:n], c_small, grad_ws=True)
        # Every shard starts from the same pl_mean; the new one is the mean over shards.
        penalty, new_pl_mean, _ = losses.path_length_penalty(
            img, ws, self.pl_mean, decay=cfg.pl_decay
        )
        new_pl_means.append(new_pl_mean)
        self.stats.report("Loss/pl_penalty", penalty)
        loss = penalty * cfg.pl_weight
        self.stats.report("Loss/G/reg", loss)
        # Multiply by the reg interval: the penalty is applied 1/interval as often.
        return (img[:, 0, 0, 0] * 0 + loss).mean() * cfg.pl_interval

    def _phase_D(self, real, real_c, fake, c, do_r1: bool, pack: bool = False):
        """D's loss on one shard (Dmain, + Dreg when due), and its logits on the reals (for ADA).

        With `pack`, fakes and reals go through D in one call where the minibatch-std groups
        allow it (training/pairs.py): the same logits as two calls, but ADA draws its random
        transforms for both at once, so the official path keeps two calls and its streams."""
        finetune.set_requires_grad(self.D, True, self.frozen)
        real_in = real.detach().requires_grad_(do_r1)
        group = pack_group(self.D, real.shape[0]) if pack else None
        if group is not None:
            both_c = pack_pairs(c, real_c, group) if c is not None else None
            logits = self._run_D(pack_pairs(fake.detach(), real_in, group), both_c)
            fake_logits, real_logits = unpack_pairs(logits, group)
        else:
            fake_logits = self._run_D(fake.detach(), c)
            real_logits = self._run_D(real_in, real_c)
        return self._loss_D(fake_logits, real_in, real_logits, do_r1), real_logits.detach()

    def _loss_D(self, fake_logits, real_in, real_logits, do_r1: bool) -> torch.Tensor:
        """Logistic loss on fake and real logits (Dmain), + R1 on the reals when due (Dreg)."""
        cfg = self.cfg
        self.stats.report("Loss/scores/real", real_logits)
        self.stats.report("Loss/signs/real", real_logits.sign())
        self.stats.report("Loss/scores/fake", fake_logits)
        self.stats.report("Loss/signs/fake", fake_logits.sign())
        loss_fake = torch.nn.functional.softplus(fake_logits)
        loss_real = torch.nn.functional.softplus(-real_logits)
        self.stats.report("Loss/D/loss", loss_real + loss_fake.mean().detach())
        total = loss_fake.mean() + loss_real.mean()
        if do_r1:
            penalty = losses.r1_penalty(real_in, real_logits)
            self.stats.report("Loss/r1_penalty", penalty)
            r1 = losses.r1_loss(penalty, cfg.gamma)
            self.stats.report("Loss/D/reg", r1)
            total = total + r1.mean() * cfg.r1_interval
        return total

    def train_step(self, cur_nimg: int, batch_idx: int) -> torch.Tensor | int:
        """One minibatch: all due phases over every local shard, then EMA; returns the number
        of optimiser steps skipped for non-finite losses (a 0-dim tensor on the step's device,
        not read here)."""
        cfg = self.cfg
        n = cfg.batch_gpu
        self.cur_nimg = cur_nimg
        self._set_cond_weight(cur_nimg)
        if cfg.lr_rampdown:
            self._set_learning_rates(rampdown_factor(cur_nimg, cfg.kimg * 1000, cfg.lr_rampdown))
        self.skipped = 0
        shards = []
        for k in range(len(self.shard_rngs)):
            with self._shard_rng(k) as batches:
                real, real_c = batches.next()
                # uint8 over the bus (a quarter of float32's bytes), converted on the device
                real = uint8_to_float(real.to(self.device))
                real_c = real_c.to(self.device) if self.c_dim else None
                z = torch.randn(n, self.G.z_dim, device=self.device)
                shards.append((real, real_c, z, self._gen_c(n, batches)))

        # Official code runs Dmain and Dreg as separate phases; when both are due we fuse them
        # into one pass over the reals (same gradients, one D forward fewer).
        do_r1 = cfg.gamma > 0 and batch_idx % cfg.r1_interval == 0
        if cfg.shared_fakes:
            # D first, on fakes generated once with G's graph kept; then G on the same fakes
            # against the updated D (the order of DCGAN's loop). One G forward per minibatch
            # instead of two, and one D call for fakes and reals (RESULTS.md round 6: 1.12-1.22x).
            fakes = self._generate_fakes(shards)
            self._run_D_phase(shards, do_r1, fakes)
            # Requires-grad is read when the gradient arrives, not when the graph was built.
            finetune.set_requires_grad(self.G, True, self.frozen)
            finetune.set_requires_grad(self.D, False, self.frozen)
            self._run_phase(self.opt_G, self.G, lambda k: self._loss_G(fakes[k], shards[k][3]))
            del fakes  # G's graph
            self._run_Greg_phase(shards, batch_idx)
        else:
            self._run_phase(self.opt_G, self.G, lambda k: self._phase_G(*shards[k][2:]))
            self._run_Greg_phase(shards, batch_idx)
            self._run_D_phase(shards, do_r1)

        beta = ema_beta(cfg.batch, cfg.ema_kimg, cfg.ema_rampup, cur_nimg)
        update_ema(self.G_ema, self.G, beta)
        return self.skipped

    def _set_learning_rates(self, factor: float) -> None:
        for opt, base in zip((self.opt_G, self.opt_D), self.base_lrs):
            for group, lr in zip(opt.param_groups, base):
                group["lr"] = lr * factor

    def _run_Greg_phase(self, shards: list, batch_idx: int) -> None:
        cfg = self.cfg
        if cfg.pl_weight > 0 and batch_idx % cfg.pl_interval == 0:
            finetune.set_requires_grad(self.G, True, self.frozen)
            new_pl_means: list[torch.Tensor] = []
            self._run_phase(
                self.opt_G, self.G, lambda k: self._phase_Greg(*shards[k][2:], new_pl_means)
            )
            self.pl_mean = self._mean_over_shards(new_pl_means)

    def _generate_fakes(self, shards: list) -> list[torch.Tensor]:
        """Each shard's fakes from its (z, c), with G's graph, under its random streams."""
        finetune.set_requires_grad(self.G, True, self.frozen)
        fakes = []
        with self._running_averages() as shard_pass:
            for k, (_, _, z, c) in enumerate(shards):
                with self._shard_rng(k):
                    fakes.append(shard_pass(self._run_G, z, c, update_emas=True)[0])
        return fakes

    @contextmanager
    def _running_averages(self) -> Iterator[Callable[..., Any]]:
        """G's running averages (w_avg, ...) move once per shard in _run_G(update_emas=True);
        like pl_mean, each shard starts from the same values and the result is their mean over
        shards. Run each shard's G pass through the yielded function, shard_pass(fn, *args)."""
        emas = []
        if self.layout.num_shards > 1:
            emas = [b for name, b in self.G.named_buffers() if name.endswith(("_avg", "_ema"))]
        start = [b.clone() for b in emas]
        moved: list[list[torch.Tensor]] = [[] for _ in emas]

        def shard_pass(run: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            with torch.no_grad():
                for buf, value in zip(emas, start):
                    buf.copy_(value)
            out = run(*args, **kwargs)
            for i, buf in enumerate(emas):
                moved[i].append(buf.detach().clone())
            return out

        yield shard_pass
        with torch.no_grad():
            for buf, values in zip(emas, moved):
                if values:  # no G pass ran (shared fakes made theirs before Dmain)
                    buf.copy_(self._mean_over_shards(values))

    def _run_D_phase(self, shards: list, do_r1: bool, fakes: list | None = None) -> None:
        """Dmain (+ Dreg) over every shard, then the ADA update from all reals' logits. Without
        `fakes` each shard generates its own from a new z (the official Dmain)."""
        n = self.cfg.batch_gpu
        finetune.set_requires_grad(self.G, False, self.frozen)
        real_logits: list[torch.Tensor] = []
        with self._running_averages() as shard_pass:

            def shard_loss(k: int) -> torch.Tensor:
                real, real_c = shards[k][:2]
                if fakes is not None:
                    fake, c = fakes[k], shards[k][3]
                else:
                    z = torch.randn(n, self.G.z_dim, device=self.device)
                    c = self._gen_c(n, self.shard_batches[k])
                    with torch.no_grad():
                        fake, _ = shard_pass(self._run_G, z, c, update_emas=True)
                loss, logits = self._phase_D(
                    real, real_c, fake, c, do_r1=do_r1, pack=fakes is not None
                )
                real_logits.append(logits)
                return loss

            self._run_phase(self.opt_D, self.D, shard_loss)
        self.augment.update(torch.cat(real_logits))

    # -- what the trainer asks for ----------------------------------------------------------

    def tick_stats(self) -> dict[str, Any]:
        return {"Progress/augment": self.augment.p}

    def sample_grid(self) -> np.ndarray:
        imgs = []
        with torch.no_grad():
            for i in range(0, len(self.grid_z), 16):
                z = self.grid_z[i : i + 16].to(self.device)
                c = self.grid_c[i : i + 16].to(self.device) if self.grid_c is not None else None
                imgs.append(float_to_uint8(self.G_ema(z, c, noise_mode="const")).cpu())
        return make_grid(torch.cat(imgs), ncols=8)

    def preview_reals(self) -> np.ndarray:
        gen = torch.Generator().manual_seed(54321)
        idx = torch.randint(len(self.ds), (64,), generator=gen).tolist()
        return make_grid(np.stack([self.ds[i][0] for i in idx]), ncols=8)

    def save_networks(self, folder: Path, metadata: dict[str, Any]) -> None:
        metadata = {**metadata, "dataset": self.cfg.data}
        if self.cond_weight != 1:
            # Saved mid-transition: the checkpoint loads with lambda 1, which this G_ema was
            # not trained for yet; set G.mapping.cond_weight to this value to sample as trained.
            metadata["cond_weight"] = self.cond_weight
            log.warning("snapshot mid-transition (lambda %.3f < 1)", self.cond_weight)
        write_checkpoint_files(self.G_ema, folder, metadata)

    def metrics_target(self) -> tuple[torch.nn.Module, Any]:
        return self.G_ema, self.ds

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue bit-for-bit; plain tensors and containers only.

        Collective with several processes: every rank must call it (it gathers their streams).
        """
        local = [
            {**state, "batches": batches.rng.get_state()}
            for state, batches in zip(self.shard_rngs, self.shard_batches)
        ]
        shard_rngs = [s for part in distributed.all_gather_objects(local) for s in part]
        return {
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "G_ema": self.G_ema.state_dict(),
            "opt_G": self.opt_G.state_dict(),
            "opt_D": self.opt_D.state_dict(),
            "augment": self._augment_state(),
            "pl_mean": self.pl_mean.detach().cpu(),
            # Shard 0's streams under the names older snapshots used, then every shard's.
            "rng_torch": shard_rngs[0]["torch"],
            "rng_batches": shard_rngs[0]["batches"],
            "rng_shards": shard_rngs,
        }

    def _augment_state(self) -> dict[str, Any]:
        """ADA state with the signs each process has gathered since the last adjustment summed."""
        state = self.augment.state_dict()
        ada = state.get("ada")
        if ada is None or not self.dist.enabled:
            return state
        pending = torch.tensor([ada["sign_sum"], ada["count"]], dtype=torch.float64)
        sign_sum, count = distributed.all_reduce_sum_(pending.to(self.device)).tolist()
        return {**state, "ada": {**ada, "sign_sum": sign_sum, "count": int(count)}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.G_ema.load_state_dict(state["G_ema"])
        self.opt_G.load_state_dict(state["opt_G"])
        self.opt_D.load_state_dict(state["opt_D"])
        augment = state["augment"]
        if augment.get("ada") is not None and not self.dist.is_main:
            # Rank 0 carries the job's pending ADA sign sums (see _augment_state); others none.
            augment = {**augment, "ada": {**augment["ada"], "sign_sum": 0.0, "count": 0}}
        self.augment.load_state_dict(augment)
        self.pl_mean = state["pl_mean"].to(self.device)
        self._set_cond_weight(int(state["counters"][0]))  # the grid before the next step
        self._load_shard_rngs(state, batch_idx=int(state["counters"][1]))

    def _load_shard_rngs(self, state: dict[str, Any], batch_idx: int) -> None:
        saved = state.get("rng_shards") or [
            {"torch": state["rng_torch"], "batches": state["rng_batches"]}
        ]
        if len(saved) != self.layout.num_shards:
            log.warning(
                "the snapshot has %d batch shards, this run %d (batch / batch_gpu): training "
                "goes on, but with other random draws than an uninterrupted run",
                len(saved),
                self.layout.num_shards,
            )
        for k, shard in enumerate(self.layout.local_shards):
            if shard < len(saved):
                rng = saved[shard]
            else:  # a shard the snapshot did not have: fresh streams, not a replay of step 0
                seed = _shard_seed(self.cfg.seed + batch_idx, shard, 0)
                rng = {"torch": torch.Generator().manual_seed(seed).get_state()}
                rng["batches"] = torch.Generator().manual_seed(seed + 1).get_state()
            self.shard_rngs[k]["torch"] = rng["torch"]
            if "cuda" in rng and "cuda" in self.shard_rngs[k]:
                self.shard_rngs[k]["cuda"] = rng["cuda"]
            self.shard_batches[k].rng.set_state(rng["batches"])


def _shard_seed(seed: int, shard: int, stream: int) -> int:
    """Shard 0 keeps `seed` (the single-process streams); other shards get their own seeds."""
    return seed if shard == 0 else distributed.shard_seed(seed, shard, stream)


# ---------------------------------------------------------------------------------------------
# Entry points


def _check_networks(cfg: TrainConfig, ds, world_size: int) -> None:
    """The networks build for this data and the batch splits into `world_size` processes."""
    layout = distributed.shard_layout(cfg.batch, cfg.batch_gpu, world_size)
    G, D = build_networks(dataclasses.replace(cfg, batch_gpu=layout.batch_gpu), ds)
    finetune.frozen_parameters(G, D, cfg.freeze_d, cfg.freeze_mapping)  # --freeze-d in range


def _check(cfg: TrainConfig, ds) -> None:
    """Fail on bad batch sizes and metric names before a run folder exists."""
    from stylegen.metrics.report import check_training_metrics

    _check_networks(cfg, ds, distributed.info().world_size)
    if cfg.init:
        finetune.check_labels(cfg, ds.label_dim if cfg.cond else 0)
    check_training_metrics(cfg.metrics, device=cfg.device)


def check_before_launch(cfg: TrainConfig, nprocs: int) -> None:
    """Fail in the launching process, not in every launched one, on bad data or batch sizes:
    the resolved `cfg`'s data must open and its batch must split into `nprocs` processes."""
    _check_networks(cfg, open_training_data(cfg), nprocs)


STYLEGAN = Family(
    kind=StyleGANStep.kind,
    title="StyleGAN",
    config_cls=TrainConfig,
    open_data=open_training_data,
    build_step=StyleGANStep,
    run_name=lambda cfg: runs.run_name(cfg.data, cfg.preset),
    check=_check,
    backend=lambda cfg: cfg.dist_backend,
    prepare=lambda step, cfg: finetune.apply_init(step, cfg) if cfg.init else None,
)


FAMILY = STYLEGAN  # the name training/families.py looks up


def train(cfg: TrainConfig, progress: ProgressFn | None = None) -> Path:
    """Start a new run under cfg.outdir; returns the final snapshot folder. With `cfg.init`
    the networks and their weights come from that source (training/finetune.py)."""
    if cfg.init:
        cfg = finetune.resolve_init(cfg)
    return start_run(STYLEGAN, cfg, progress)


def resume(
    run_dir: str | os.PathLike,
    progress: ProgressFn | None = None,
    kimg: float | None = None,
    *,
    batch_gpu: int | None = None,
    dist_backend: str | None = None,
) -> Path:
    """Continue a run from its last snapshot up to its --kimg (or a new `kimg`).

    With several processes every one of them reads the run folder (a shared filesystem);
    `batch_gpu` / `dist_backend` override the run's settings for a different machine.
    """
    hint = f"; continue it with `stylegen cyclegan train --resume {run_dir}`"
    cfg = read_run_config(STYLEGAN, Path(run_dir), other_hint=hint)
    if kimg is not None:
        cfg.kimg = kimg
    if batch_gpu is not None:
        cfg.batch_gpu = batch_gpu
    if dist_backend is not None:
        cfg.dist_backend = dist_backend
    return resume_run(STYLEGAN, run_dir, cfg, progress)
