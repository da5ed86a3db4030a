"""The StyleGAN2 training loop (Karras et al. 2020), with ADA (Karras et al. 2020b).

`train(config)` builds the dataset and networks, then alternates four phases per minibatch as the
official code does: Gmain (non-saturating loss, optional style mixing), Greg (path-length penalty
every `pl_interval` minibatches), Dmain (logistic loss on augmented reals and fakes) and Dreg (R1
on reals every `r1_interval` minibatches), with Adam settings corrected for lazy regularisation.
After each minibatch G_ema follows G and ADA adjusts p. Every tick logs and writes stats; every
`snap` ticks an atomic snapshot folder holds the G_ema checkpoint, the full training state (for an
exact resume) and a sample grid.

Each minibatch is cut into shards of `batch_gpu` images, each with its own random streams; with
several processes (torchrun) each runs its own shards and gradients, ADA and stats are summed
over processes (training/distributed.py). One process with one shard is the classic loop.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stylegen.checkpoint import fsync_files, replace_dir, write_checkpoint_files
from stylegen.config import config_from_dict, config_to_dict
from stylegen.data.datasets import open_dataset
from stylegen.errors import TrainingDivergedError, UserError
from stylegen.images import float_to_uint8, make_grid, save_image, uint8_to_float
from stylegen.metrics.report import check_training_metrics, evaluate_snapshot, truncate_metrics
from stylegen.models import Discriminator, Generator, set_reduced_precision
from stylegen.models.registry import build_generator
from stylegen.training import distributed, losses
from stylegen.training.augment import make_augment
from stylegen.training.ema import ema_beta, update_ema
from stylegen.training.stats import StatsCollector, StatsWriter, plot_losses
from stylegen.training.stylegan_config import TrainConfig, build_configs, magnitude_ema_beta

log = logging.getLogger(__name__)

STATE_FILE = "training_state.pt"
OPTIONS_FILE = "training_options.json"
SNAPSHOT_RE = re.compile(r"^snapshot-(\d+)$")


@dataclass
class Progress:
    """What the CLI's progress bar needs after every minibatch and tick."""

    cur_nimg: int
    total_nimg: int
    tick: int
    stats: dict[str, Any] | None = None  # set at the end of a tick


ProgressFn = Callable[[Progress], None]


# ---------------------------------------------------------------------------------------------
# Setup


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
    g_cfg, d_cfg = build_configs(
        cfg.preset,
        img_resolution=ds.resolution,
        img_channels=ds.num_channels,
        c_dim=ds.label_dim if cfg.cond else 0,
        arch=cfg.arch,
    )
    if hasattr(g_cfg, "magnitude_ema_beta"):  # StyleGAN3: EMA half-life of 20k images
        g_cfg = dataclasses.replace(g_cfg, magnitude_ema_beta=magnitude_ema_beta(cfg.batch))
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
    return build_generator(g_cfg), Discriminator(d_cfg)


def new_run_dir(outdir: str | os.PathLike, data: str, preset: str) -> Path:
    """runs/NNNNN-<data>-<preset>, numbered after the highest existing run."""
    outdir = Path(outdir)
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create --outdir {outdir} ({exc.strerror})") from None
    ids = [int(m.group(1)) for p in outdir.iterdir() if (m := re.match(r"^(\d+)-", p.name))]
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(str(data).rstrip("/")).stem or "data")
    run_dir = outdir / f"{max(ids, default=-1) + 1:05d}-{name}-{preset}"
    run_dir.mkdir()
    return run_dir


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
# The trainer


class Trainer:
    """Holds every piece of training state; `run()` trains until `kimg`."""

    def __init__(
        self, cfg: TrainConfig, run_dir: Path, progress: ProgressFn | None = None, ds=None
    ):
        cfg = cfg.resolved()
        self.dist = distributed.info()
        # Each process runs `rounds` shards of batch_gpu images per minibatch (distributed.py).
        self.layout = distributed.shard_layout(
            cfg.batch, cfg.batch_gpu, self.dist.world_size, self.dist.rank
        )
        self.cfg = cfg = dataclasses.replace(cfg, batch_gpu=self.layout.batch_gpu)
        self.run_dir = run_dir
        self.progress = progress if self.dist.is_main else None
        self.device = distributed.process_device(cfg.device, self.dist)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        self.ds = open_training_data(cfg) if ds is None else ds
        self.G, self.D = build_networks(cfg, self.ds)
        self.G.to(self.device).train()
        self.D.to(self.device).train()
        distributed.broadcast_module_(self.G)
        distributed.broadcast_module_(self.D)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        if cfg.precision == "mixed":
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
        self.opt_G = self._adam(self.G, cfg.glr, cfg.pl_interval if cfg.pl_weight > 0 else None)
        self.opt_D = self._adam(self.D, cfg.dlr, cfg.r1_interval if cfg.gamma > 0 else None)
        self.pl_mean = torch.zeros([], device=self.device)
        self.cur_nimg = 0
        self.batch_idx = 0
        self.tick = 0
        self.nonfinite_total = 0
        self.nonfinite_streak = 0
        self.step_ok = True
        self.stats = StatsCollector()
        self.grid_z, self.grid_c = self._grid_latents()
        self.shard_rngs = [self._new_shard_rng(s) for s in self.layout.local_shards]

    @staticmethod
    def _adam(module: torch.nn.Module, lr: float, reg_interval: int | None):
        betas: tuple[float, ...] = (0.0, 0.99)
        if reg_interval:
            lr, betas = losses.lazy_reg_params(lr, betas, reg_interval)
        return torch.optim.Adam(
            module.parameters(), lr=lr, betas=tuple(float(b) for b in betas), eps=1e-8
        )

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

    def _run_G(self, z, c, update_emas: bool = False):
        ws = self.G.mapping(z, c, update_emas=update_emas)
        if self.cfg.style_mixing_prob > 0:
            ws = losses.style_mixing_ws(
                lambda z2, c2: self.G.mapping(z2, c2), z, c, ws, self.cfg.style_mixing_prob
            )
        return self.G.synthesis(ws, update_emas=update_emas), ws

    def _run_D(self, img, c):
        sigma = losses.blur_sigma(
            self.cur_nimg, self.cfg.blur_init_sigma or 0.0, self.cfg.blur_fade_kimg or 0.0
        )
        if sigma > 0:
            img = losses.blur_images(img, sigma)
        return self.D(self.augment(img), c)

    def _run_phase(self, opt, module, shard_loss: Callable[[int], torch.Tensor]) -> None:
        """One optimiser step: accumulate each local shard's loss, sum gradients, step.

        Every shard's loss is scaled by 1 / num_shards, so the step sees the mean over the global
        batch whatever the number of processes. A non-finite loss on any shard of any process
        skips the step everywhere and is counted.
        """
        opt.zero_grad(set_to_none=True)
        gain = 1.0 / self.layout.num_shards
        bad = 0.0
        for k in range(len(self.shard_rngs)):
            with self._shard_rng(k):
                loss = shard_loss(k)
                if not torch.isfinite(loss):
                    bad = 1.0
                    continue
                (loss * gain if gain != 1.0 else loss).backward()
        params = [p for p in module.parameters() if p.requires_grad]
        if distributed.reduce_gradients(params, bad) > 0:
            self.nonfinite_total += 1
            self.step_ok = False
            return
        for p in module.parameters():
            if p.grad is not None:
                torch.nan_to_num_(p.grad, nan=0, posinf=1e5, neginf=-1e5)
        opt.step()

    def _check_divergence(self) -> None:
        """Stop once whole minibatches keep producing non-finite losses."""
        self.nonfinite_streak = 0 if self.step_ok else self.nonfinite_streak + 1
        if self.nonfinite_streak >= self.cfg.max_nonfinite:
            raise TrainingDivergedError(
                f"losses were not finite for {self.nonfinite_streak} steps in a row at "
                f"kimg {self.cur_nimg / 1000:.1f}; the last good snapshot in {self.run_dir} "
                "is intact: lower --glr/--dlr or raise --gamma and resume"
            )

    def _phase_G(self, z, c) -> torch.Tensor:
        self.G.requires_grad_(True)
        self.D.requires_grad_(False)
        img, _ = self._run_G(z, c)
        logits = self._run_D(img, c)
        self.stats.report("Loss/scores/fake", logits)
        loss_G = losses.g_nonsaturating_loss(logits)
        self.stats.report("Loss/G/loss", loss_G)
        return loss_G.mean()

    def _phase_Greg(self, z, c, new_pl_means: list[torch.Tensor]) -> torch.Tensor:
        cfg = self.cfg
        n = max(z.shape[0] // cfg.pl_batch_shrink, 1)
        c_small = c[:n] if c is not None else None
        img, ws = self._run_G(z[:n], c_small)
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

    def _phase_D(self, real, real_c, z, c, do_main: bool, do_r1: bool):
        """D's loss on one shard, and its logits on the reals (for ADA)."""
        cfg = self.cfg
        self.G.requires_grad_(False)
        self.D.requires_grad_(True)
        total = torch.zeros([], device=self.device)
        if do_main:
            with torch.no_grad():
                fake, _ = self._run_G(z, c, update_emas=True)
            fake_logits = self._run_D(fake, c)
            self.stats.report("Loss/scores/fake", fake_logits)
            self.stats.report("Loss/signs/fake", fake_logits.sign())
            total = total + torch.nn.functional.softplus(fake_logits).mean()
        real_in = real.detach().requires_grad_(do_r1)
        real_logits = self._run_D(real_in, real_c)
        self.stats.report("Loss/scores/real", real_logits)
        self.stats.report("Loss/signs/real", real_logits.sign())
        if do_main:
            loss_real = torch.nn.functional.softplus(-real_logits)
            self.stats.report("Loss/D/loss", loss_real + total.detach())
            total = total + loss_real.mean()
        if do_r1:
            penalty = losses.r1_penalty(real_in, real_logits)
            self.stats.report("Loss/r1_penalty", penalty)
            r1 = losses.r1_loss(penalty, cfg.gamma)
            self.stats.report("Loss/D/reg", r1)
            total = total + r1.mean() * cfg.r1_interval
        return total, real_logits.detach()

    def train_step(self) -> None:
        """One minibatch: all due phases over every local shard, then EMA and bookkeeping."""
        cfg = self.cfg
        n = cfg.batch_gpu
        self.step_ok = True
        shards = []
        for k in range(len(self.shard_rngs)):
            with self._shard_rng(k) as batches:
                real, real_c = batches.next()
                real = uint8_to_float(real).to(self.device)
                real_c = real_c.to(self.device) if self.c_dim else None
                z = torch.randn(n, self.G.z_dim, device=self.device)
                shards.append((real, real_c, z, self._gen_c(n, batches)))

        self._run_phase(self.opt_G, self.G, lambda k: self._phase_G(*shards[k][2:]))
        if cfg.pl_weight > 0 and self.batch_idx % cfg.pl_interval == 0:
            new_pl_means: list[torch.Tensor] = []
            self._run_phase(
                self.opt_G, self.G, lambda k: self._phase_Greg(*shards[k][2:], new_pl_means)
            )
            self.pl_mean = self._mean_over_shards(new_pl_means)
        # Official code runs Dmain and Dreg as separate phases; when both are due we fuse them
        # into one pass over the reals (same gradients, one D forward fewer).
        do_r1 = cfg.gamma > 0 and self.batch_idx % cfg.r1_interval == 0
        self._run_D_phase(shards, do_r1)

        beta = ema_beta(cfg.batch, cfg.ema_kimg, cfg.ema_rampup, self.cur_nimg)
        update_ema(self.G_ema, self.G, beta)
        self.cur_nimg += cfg.batch
        self.batch_idx += 1
        self._check_divergence()

    def _run_D_phase(self, shards: list, do_r1: bool) -> None:
        """Dmain (+ Dreg) over every shard, then the ADA update from all reals' logits."""
        n = self.cfg.batch_gpu
        # G's running averages (w_avg, ...) move once per shard in _run_G; like pl_mean, each
        # shard starts from the same values and the result is their mean over shards.
        emas = []
        if self.layout.num_shards > 1:
            emas = [b for name, b in self.G.named_buffers() if name.endswith(("_avg", "_ema"))]
        start = [b.clone() for b in emas]
        moved: list[list[torch.Tensor]] = [[] for _ in emas]
        real_logits: list[torch.Tensor] = []

        def shard_loss(k: int) -> torch.Tensor:
            for buf, value in zip(emas, start):
                buf.copy_(value)
            real, real_c = shards[k][:2]
            z = torch.randn(n, self.G.z_dim, device=self.device)
            c = self._gen_c(n, self.shard_batches[k])
            loss, logits = self._phase_D(real, real_c, z, c, do_main=True, do_r1=do_r1)
            for i, buf in enumerate(emas):
                moved[i].append(buf.clone())
            real_logits.append(logits)
            return loss

        self._run_phase(self.opt_D, self.D, shard_loss)
        with torch.no_grad():
            for buf, values in zip(emas, moved):
                buf.copy_(self._mean_over_shards(values))
        self.augment.update(torch.cat(real_logits))

    # -- ticks, snapshots -------------------------------------------------------------------

    def run(self) -> Path:
        cfg = self.cfg
        total_nimg = int(cfg.kimg * 1000)
        tick_nimg = max(int(cfg.tick_kimg * 1000), 1)
        main = self.dist.is_main  # rank 0 alone writes files
        writer = StatsWriter(self.run_dir) if main else None
        if self.cur_nimg == 0 and main:
            self._write_reals()
        tick_start_nimg, tick_start_time, start_time = self.cur_nimg, time.time(), time.time()
        last_snapshot = None
        try:
            while self.cur_nimg < total_nimg:
                self.train_step()
                done = self.cur_nimg >= total_nimg
                if self.progress:
                    self.progress(Progress(self.cur_nimg, total_nimg, self.tick))
                if not done and self.cur_nimg < tick_start_nimg + tick_nimg:
                    continue
                now = time.time()
                stats = self._end_tick(tick_start_nimg, now - tick_start_time, now - start_time)
                if writer:
                    writer.write(stats)
                self.tick += 1
                if done or self.tick % cfg.snap == 0:
                    last_snapshot = self.snapshot()
                    if main:
                        plot_losses(self.run_dir / "stats.jsonl", self.run_dir / "losses.png")
                        self.evaluate_metrics(last_snapshot, writer)
                if self.progress:
                    self.progress(Progress(self.cur_nimg, total_nimg, self.tick, stats))
                tick_start_nimg, tick_start_time = self.cur_nimg, time.time()
        finally:
            if writer:
                writer.close()
        distributed.barrier()  # nobody leaves while rank 0 still writes the last snapshot
        return last_snapshot or (self.latest_snapshot() if main else None)

    def _end_tick(self, start_nimg: int, tick_sec: float, total_sec: float) -> dict[str, Any]:
        kimg = self.cur_nimg / 1000
        sec_per_kimg = tick_sec / max((self.cur_nimg - start_nimg) / 1000, 1e-8)
        if self.dist.enabled:  # means over every process's samples
            names = distributed.all_gather_objects(self.stats.names())
            union = list(dict.fromkeys(name for local in names for name in local))
            self.stats.reduce(union, distributed.all_reduce_sum_, self.device)
        stats = self.stats.tick(
            {
                "Progress/tick": self.tick,
                "Progress/kimg": kimg,
                "Progress/augment": self.augment.p,
                "Progress/nonfinite_steps": self.nonfinite_total,
                "Timing/sec_per_tick": tick_sec,
                "Timing/sec_per_kimg": sec_per_kimg,
                "Timing/total_sec": total_sec,
            }
        )
        log.info(
            "tick %d kimg %.1f sec/kimg %.1f G %.3f D %.3f aug %.3f",
            self.tick,
            kimg,
            sec_per_kimg,
            stats.get("Loss/G/loss", float("nan")),
            stats.get("Loss/D/loss", float("nan")),
            self.augment.p,
        )
        return stats

    def sample_grid(self) -> np.ndarray:
        imgs = []
        with torch.no_grad():
            for i in range(0, len(self.grid_z), 16):
                z = self.grid_z[i : i + 16].to(self.device)
                c = self.grid_c[i : i + 16].to(self.device) if self.grid_c is not None else None
                imgs.append(float_to_uint8(self.G_ema(z, c, noise_mode="const")).cpu())
        return make_grid(torch.cat(imgs), ncols=8)

    def _write_reals(self) -> None:
        gen = torch.Generator().manual_seed(54321)
        idx = torch.randint(len(self.ds), (64,), generator=gen).tolist()
        reals = np.stack([self.ds[i][0] for i in idx])
        save_image(make_grid(reals, ncols=8), self.run_dir / "reals.png")

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
            "counters": torch.tensor(
                [self.cur_nimg, self.batch_idx, self.tick, self.nonfinite_total]
            ),
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
        self.cur_nimg, self.batch_idx, self.tick, self.nonfinite_total = (
            int(v) for v in state["counters"]
        )
        self._load_shard_rngs(state)

    def _load_shard_rngs(self, state: dict[str, Any]) -> None:
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
                seed = _shard_seed(self.cfg.seed + self.batch_idx, shard, 0)
                rng = {"torch": torch.Generator().manual_seed(seed).get_state()}
                rng["batches"] = torch.Generator().manual_seed(seed + 1).get_state()
            self.shard_rngs[k]["torch"] = rng["torch"]
            if "cuda" in rng and "cuda" in self.shard_rngs[k]:
                self.shard_rngs[k]["cuda"] = rng["cuda"]
            self.shard_batches[k].rng.set_state(rng["batches"])

    def snapshot(self) -> Path:
        """Write snapshot-<kimg>/ atomically: G_ema checkpoint + training state + samples."""
        name = f"snapshot-{self.cur_nimg // 1000:06d}"
        if self.cur_nimg % 1000:
            name += f".{self.cur_nimg % 1000:03d}"
        final = self.run_dir / name
        state = self.state_dict()
        if not self.dist.is_main:
            return final
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".tmp", dir=self.run_dir))
        try:
            write_checkpoint_files(
                self.G_ema,
                tmp,
                metadata={
                    "kimg": self.cur_nimg / 1000,
                    "run": self.run_dir.name,
                    "dataset": self.cfg.data,
                },
            )
            torch.save(state, tmp / STATE_FILE)
            grid = self.sample_grid()
            save_image(grid, tmp / "samples.png")
            fsync_files(tmp)
            replace_dir(tmp, final)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise UserError(
                f"could not write snapshot {final} ({exc.strerror}); free disk space or pick "
                "another --outdir, then --resume"
            ) from None
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        save_image(grid, self.run_dir / f"fakes{self.cur_nimg // 1000:06d}.png")
        log.info("snapshot %s", final)
        return final

    def latest_snapshot(self) -> Path | None:
        return latest_snapshot(self.run_dir)

    def evaluate_metrics(self, snapshot: Path, writer: StatsWriter | None = None) -> None:
        """cfg.metrics on G_ema → <run>/metrics.jsonl, metrics.png and TensorBoard."""
        if not self.cfg.metrics:
            return
        results = evaluate_snapshot(
            self.cfg.metrics,
            G=self.G_ema,
            dataset=self.ds,
            run_dir=self.run_dir,
            kimg=self.cur_nimg / 1000,
            snapshot=snapshot,
            device=str(self.device),
        )
        if writer is not None:
            values = {f"Metrics/{k}": v for r in results for k, v in r["results"].items()}
            writer.write_scalars(values, step=self.cur_nimg)


def _shard_seed(seed: int, shard: int, stream: int) -> int:
    """Shard 0 keeps `seed` (the single-process streams); other shards get their own seeds."""
    return seed if shard == 0 else distributed.shard_seed(seed, shard, stream)


def latest_snapshot(run_dir: Path) -> Path | None:
    snaps = sorted(
        (
            p
            for p in Path(run_dir).iterdir()
            if SNAPSHOT_RE.match(p.name.split(".")[0]) and (p / STATE_FILE).exists()
        ),
        key=lambda p: p.name,
    )
    return snaps[-1] if snaps else None


# ---------------------------------------------------------------------------------------------
# Entry points


def train(cfg: TrainConfig, progress: ProgressFn | None = None) -> Path:
    """Start a new run under cfg.outdir; returns the final snapshot folder."""
    resolved = cfg.resolved()
    # Under torchrun (WORLD_SIZE > 1) this joins the process group; see training/distributed.py.
    with distributed.session(resolved.device, resolved.dist_backend) as dist_info:
        ds = open_training_data(resolved)  # fail on bad data before creating the run folder
        layout = distributed.shard_layout(resolved.batch, resolved.batch_gpu, dist_info.world_size)
        build_networks(dataclasses.replace(resolved, batch_gpu=layout.batch_gpu), ds)
        check_training_metrics(resolved.metrics, device=resolved.device)
        run_dir = distributed.rank0_call(lambda: _create_run_dir(resolved))
        trainer = Trainer(resolved, run_dir, progress, ds=ds)
        return trainer.run()


def _create_run_dir(cfg: TrainConfig) -> Path:
    run_dir = new_run_dir(cfg.outdir, cfg.data, cfg.preset)
    (run_dir / OPTIONS_FILE).write_text(json.dumps(config_to_dict(cfg), indent=2) + "\n")
    log.info("run folder %s", run_dir)
    return run_dir


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
    run_dir = Path(run_dir)
    options = run_dir / OPTIONS_FILE
    if not options.exists():
        raise UserError(
            f"--resume {run_dir} is not a run folder (no {OPTIONS_FILE}); pass a folder "
            "written by `stylegen train`, e.g. runs/00000-fashion-mnist-cpu32"
        )
    values = json.loads(options.read_text())
    if values.get("kind") == "cyclegan":
        raise UserError(
            f"--resume {run_dir} is a CycleGAN run; continue it with "
            f"`stylegen cyclegan train --resume {run_dir}`"
        )
    cfg = config_from_dict(TrainConfig, values)
    if kimg is not None:
        cfg.kimg = kimg
    if batch_gpu is not None:
        cfg.batch_gpu = batch_gpu
    if dist_backend is not None:
        cfg.dist_backend = dist_backend
    with distributed.session(cfg.device, cfg.dist_backend):
        snap = distributed.rank0_call(lambda: _resume_snapshot(run_dir))
        trainer = Trainer(cfg, run_dir, progress)
        # Loaded on the CPU: RNG states must stay there; tensors move to their modules' devices.
        state = torch.load(snap / STATE_FILE, map_location="cpu", weights_only=True)
        trainer.load_state_dict(state)
        if trainer.dist.is_main:
            _truncate_stats(run_dir / "stats.jsonl", trainer.cur_nimg / 1000)
            truncate_metrics(run_dir / "metrics.jsonl", trainer.cur_nimg / 1000)
        log.info("resumed %s from %s at kimg %.1f", run_dir, snap.name, trainer.cur_nimg / 1000)
        return trainer.run()


def _resume_snapshot(run_dir: Path) -> Path:
    """The newest complete snapshot; drops temp folders left by a run that was killed."""
    snap = latest_snapshot(run_dir)
    if snap is None:
        raise UserError(f"run {run_dir} has no complete snapshot yet; start it again instead")
    for tmp in run_dir.glob(".snapshot-*.tmp"):
        shutil.rmtree(tmp, ignore_errors=True)
    return snap


def _truncate_stats(path: Path, kimg: float) -> None:
    """Drop stats lines written after the snapshot we resume from (they will be redone)."""
    if not path.exists():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line).get("Progress/kimg", 0) <= kimg + 1e-9:
                keep.append(line)
        except json.JSONDecodeError:
            break
    tmp = path.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(x + "\n" for x in keep))
    os.replace(tmp, path)
