"""Progressive growing on the shared trainer: ProGAN (Karras, Aila, Laine & Lehtinen 2018,
"Progressive Growing of GANs for Improved Quality, Stability, and Variation") and StyleGAN
(Karras, Laine & Aila 2019, "A Style-Based Generator Architecture for Generative Adversarial
Networks"), as the official TF training loop of the StyleGAN repository runs them.

Per minibatch: the growth schedule (training/growth.py) gives the level of detail, fade-in weight,
minibatch size and learning rates for the images seen so far; Adam's moments are reset whenever a
resolution starts or finishes fading in (official `reset_opt_for_new_lod`); the real images are
box-filtered to the current resolution and, while fading, blended with their half-resolution
version up-sampled (official `process_reals`); then one D step and one G step, and G_ema follows G
(half-life `ema_kimg`). The schedule is evaluated at every minibatch (the official loop does so
every 4, `minibatch_repeats`). The networks run at the current resolution (the official code
up-samples to full resolution and D box-filters back down, which changes nothing but the cost);
gradient penalties are measured as the official code measures them, with respect to the
full-resolution image (see losses.wgan_gp_penalty).

- ProGAN (`ProGANStep`): WGAN-GP, D loss D(fake) - D(real) + 10 * (||grad|| - 1)^2 + 0.001 *
  D(real)^2 on real/fake interpolations, G loss -D(fake).
- StyleGAN (`StyleGAN1Step`): non-saturating logistic loss, R1 on reals (gamma 10, every
  minibatch), style mixing (p 0.9) among the layers grown so far, w_avg tracked in every G pass.

The level of detail is saved with the networks (a buffer) and the schedule in the training state,
so `--resume` continues exactly, also in the middle of a fade; a run resumed with a different
schedule is refused. Snapshots hold G_ema, which renders its current resolution up-sampled to the
data's (models/progan.py).

Fine-tuning (`init`, training/finetune.py and finetune_progressive.py): a new run starts from a
fully grown source's networks and weights, at its resolution without growing; FreezeD and a
frozen mapping (StyleGAN) keep parameters out of the optimisers.
"""

from __future__ import annotations

import copy
import math
import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from stylegen import runs
from stylegen.config import check_resolution
from stylegen.errors import UserError
from stylegen.images import float_to_uint8, make_grid, uint8_to_float
from stylegen.models import progan, stylegan1
from stylegen.models.layers import downscale2d, upscale2d
from stylegen.models.serialization import write_checkpoint_files
from stylegen.training import finetune, losses
from stylegen.training.ema import ema_beta, update_ema
from stylegen.training.growth import GrowthSchedule, GrowthState
from stylegen.training.progressive_config import ProgressiveConfig, network_configs
from stylegen.training.stats import StatsCollector
from stylegen.training.stylegan import Batches, open_training_data
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
    "FAMILY",
    "PROGRESSIVE",
    "ProGANStep",
    "StyleGAN1Step",
    "build_networks",
    "growth_schedule",
    "process_reals",
    "resume",
    "train",
]

LOSS_PANELS = [
    ("Level of detail", [("Progress/lod", "lod")]),
    ("Minibatch", [("Progress/batch", "images")]),
]


def growth_schedule(cfg: ProgressiveConfig, resolution: int) -> GrowthSchedule:
    """The schedule of a resolved config for data of `resolution` pixels."""
    p = cfg.preset_values()
    lr_g = {} if cfg.glr is not None else dict(p.lr_by_res)
    lr_d = {} if cfg.dlr is not None else dict(p.lr_by_res)
    return GrowthSchedule(
        resolution=resolution,
        initial_resolution=resolution if cfg.fixed_resolution else cfg.initial_resolution,
        phase_kimg=cfg.phase_kimg,
        fade_kimg=cfg.fade_kimg,
        batch=cfg.batch if cfg.batch is not None else p.batch,
        batch_by_res={} if cfg.batch is not None else dict(p.batch_by_res),
        glr=cfg.glr if cfg.glr is not None else p.lr,
        glr_by_res=lr_g,
        dlr=cfg.dlr if cfg.dlr is not None else p.lr,
        dlr_by_res=lr_d,
    )


def build_networks(cfg: ProgressiveConfig, ds: Any) -> tuple[torch.nn.Module, torch.nn.Module]:
    """G and D of a resolved config for the data (its resolution, channels and labels)."""
    if cfg.init:  # fine-tuning: the networks are the source's, so the data must fit them
        finetune.check_data(cfg, ds.resolution, ds.num_channels)
    c_dim = ds.label_dim if cfg.cond else 0
    g_cfg, d_cfg = network_configs(cfg, ds.resolution, ds.num_channels, c_dim)
    G_cls = progan.Generator if cfg.arch == "progan" else stylegan1.Generator
    return G_cls(g_cfg), progan.Discriminator(d_cfg)


def process_reals(img: torch.Tensor, resolution: int, alpha: float) -> torch.Tensor:
    """Real images [N, C, H, W] as D sees them at `resolution`: box-filtered down, and while the
    resolution fades in (alpha < 1) blended with their half-resolution version up-sampled:
    alpha * x + (1 - alpha) * up(down(x)) (official `process_reals`, at the current size)."""
    x = downscale2d(img, img.shape[-1] // resolution)
    if alpha < 1 and resolution > 4:
        x = torch.lerp(upscale2d(downscale2d(x)), x, alpha)
    return x


# ---------------------------------------------------------------------------------------------
# The steps


class ProgressiveStep:
    """G, D, G_ema, Adam for each, the growth schedule and the random streams; one minibatch (a
    D step, then a G step) per `train_step`. Subclasses give the losses."""

    kind: ClassVar[str] = "progressive"
    loss_panels: ClassVar[list] = LOSS_PANELS
    log_keys: ClassVar[list[tuple[str, str]]] = [
        ("lod", "Progress/lod"),
        ("res", "Progress/resolution"),
        ("G", "Loss/G/loss"),
        ("D", "Loss/D/loss"),
    ]
    divergence_hint: ClassVar[str] = "lower --glr/--dlr"

    def __init__(self, cfg: ProgressiveConfig, ds: Any, device: torch.device) -> None:
        self.cfg = cfg
        self.device = device
        self.ds = ds
        self.schedule = growth_schedule(cfg, ds.resolution)
        self.G, self.D = build_networks(cfg, ds)
        self.G.to(device).train()
        self.D.to(device).train()
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.c_dim = self.G.c_dim
        self.img_resolution = ds.resolution
        # Fine-tuning may keep parts fixed (FreezeD, the mapping): they get no optimiser state.
        self.frozen = finetune.frozen_parameters(self.G, self.D, cfg.freeze_d, cfg.freeze_mapping)
        rates = dict(betas=(0.0, 0.99), eps=1e-8)
        self.opt_G = adam(finetune.trainable(self.G, self.frozen), lr=self.schedule.glr, **rates)
        self.opt_D = adam(finetune.trainable(self.D, self.frozen), lr=self.schedule.dlr, **rates)
        self.growth = self.schedule.at(0)
        self.batch = self.growth.batch
        self.total_nimg = int(cfg.kimg * 1000)
        self.prev_lod = -1.0  # as the official loop: the first minibatch "starts" a resolution
        self.batches = Batches(ds, self.batch, cfg.seed)
        self.stats = StatsCollector()
        self.skipped = 0
        self.grid_z, self.grid_c = self._grid_latents()
        self._show_lod(self.growth.lod)

    # -- schedule ---------------------------------------------------------------------------

    def _show_lod(self, lod: float) -> None:
        for net in (self.G, self.G_ema, self.D):
            net.set_lod(lod)

    def _advance(self, cur_nimg: int) -> GrowthState:
        """Apply the schedule at cur_nimg: lod, minibatch, learning rates, Adam resets."""
        s = self.schedule.at(cur_nimg)
        prev = self.prev_lod
        if math.floor(s.lod) != math.floor(prev) or math.ceil(s.lod) != math.ceil(prev):
            self.opt_G.state.clear()
            self.opt_D.state.clear()
        self.prev_lod = s.lod
        for opt, lr in ((self.opt_G, s.glr), (self.opt_D, s.dlr)):
            for group in opt.param_groups:
                group["lr"] = lr
        self.growth = s
        self.batch = self.batches.batch = s.batch
        self._show_lod(s.lod)
        return s

    # -- one minibatch ----------------------------------------------------------------------

    def train_step(self, cur_nimg: int, batch_idx: int) -> torch.Tensor | int:
        s = self._advance(cur_nimg)
        self.skipped = 0
        real, real_c = self.batches.next()
        real = uint8_to_float(real.to(self.device))  # uint8 over the bus, converted there
        real = process_reals(real, s.resolution, s.alpha)
        real_c = real_c.to(self.device) if self.c_dim else None

        finetune.set_requires_grad(self.G, False, self.frozen)
        finetune.set_requires_grad(self.D, True, self.frozen)
        self._optimise(self.opt_D, self.loss_D(real, real_c, s))
        finetune.set_requires_grad(self.G, True, self.frozen)
        finetune.set_requires_grad(self.D, False, self.frozen)
        self._optimise(self.opt_G, self.loss_G(s))
        finetune.set_requires_grad(self.D, True, self.frozen)

        update_ema(self.G_ema, self.G, ema_beta(s.batch, self.cfg.ema_kimg, None, cur_nimg))
        report = self.stats.report
        report("Progress/lod", s.lod)
        report("Progress/resolution", s.resolution)
        report("Progress/alpha", s.alpha)
        report("Progress/batch", s.batch)
        report("Progress/glr", s.glr)
        return self.skipped

    def _optimise(self, opt: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        self.skipped = self.skipped + optimizer_step(opt, loss)

    def _z(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.G.z_dim, device=self.device)

    def _fake_c(self, n: int) -> torch.Tensor | None:
        return self.batches.random_labels(n).to(self.device) if self.c_dim else None

    def _gp_scale(self, s: GrowthState) -> float:
        """1/k: gradients with respect to the image up-sampled k times to the data's size."""
        return s.resolution / self.img_resolution

    def loss_D(self, real, real_c, s: GrowthState) -> torch.Tensor:
        raise NotImplementedError

    def loss_G(self, s: GrowthState) -> torch.Tensor:
        raise NotImplementedError

    # -- what the trainer asks for ----------------------------------------------------------

    def tick_stats(self) -> dict[str, Any]:
        s = self.growth
        return {"Progress/lod": s.lod, "Progress/resolution": s.resolution}

    def _grid_latents(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        gen = torch.Generator().manual_seed(12345)
        if self.c_dim:
            rows = min(self.c_dim, 16)
            c = torch.eye(self.c_dim)[torch.arange(rows).repeat_interleave(8)]
        else:
            rows, c = 8, None
        return torch.randn(rows * 8, self.G.z_dim, generator=gen), c

    def sample_grid(self) -> np.ndarray:
        """G_ema on fixed latents at the current resolution, up-sampled to the data's."""
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
        s = self.growth
        extra = {"dataset": self.cfg.data, "arch": self.cfg.arch, "lod": s.lod}
        extra["resolution"] = s.resolution
        write_checkpoint_files(self.G_ema, folder, {**metadata, **extra})

    def metrics_target(self) -> tuple[torch.nn.Module, Any]:
        return self.G_ema, self.ds

    def state_dict(self) -> dict[str, Any]:
        s = self.growth
        state = {
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "G_ema": self.G_ema.state_dict(),
            "opt_G": self.opt_G.state_dict(),
            "opt_D": self.opt_D.state_dict(),
            "schedule": self.schedule.describe(),
            # Where growing stands (the lod of the last minibatch; informative: on resume the
            # schedule recomputes it from cur_nimg) and the lod Adam's reset rule compares with.
            "growth": {"lod": s.lod, "resolution": s.resolution, "alpha": s.alpha},
            "prev_lod": torch.tensor(self.prev_lod, dtype=torch.float64),
            "rng_torch": torch.get_rng_state(),
            "rng_batches": self.batches.rng.get_state(),
        }
        if self.device.type == "cuda":
            state["rng_cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        saved, now = state.get("schedule"), self.schedule.describe()
        if saved != now:
            raise UserError(
                f"this run grows on another schedule ({_schedule_text(saved)}) than the one asked "
                f"for now ({_schedule_text(now)}); resume it with its own settings, or start a "
                "new run"
            )
        for name in ("G", "D", "G_ema", "opt_G", "opt_D"):
            getattr(self, name).load_state_dict(state[name])
        self.prev_lod = float(state["prev_lod"])
        torch.set_rng_state(state["rng_torch"])
        if "rng_cuda" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["rng_cuda"], self.device)
        self.batches.rng.set_state(state["rng_batches"])
        self.growth = self.schedule.at(int(state["counters"][0]))
        self.batch = self.batches.batch = self.growth.batch
        self._show_lod(self.growth.lod)


def _schedule_text(d: dict[str, Any] | None) -> str:
    if not d:
        return "unknown"
    if d.get("growing") is False:
        parts = ["--fixed-resolution"]
    else:
        parts = [
            f"--initial-resolution {d.get('initial_resolution')}",
            f"--phase-kimg {d.get('phase_kimg'):g}",
            f"--fade-kimg {d.get('fade_kimg'):g}",
        ]
    batch = d.get("batch", {})
    if batch:
        parts.append("minibatch " + ",".join(f"{r}:{b}" for r, b in sorted(batch.items())))
    return " ".join(parts)


class ProGANStep(ProgressiveStep):
    """WGAN-GP with the drift term (official D_wgan_gp / G_wgan)."""

    def loss_D(self, real, real_c, s: GrowthState) -> torch.Tensor:
        cfg, n = self.cfg, real.shape[0]
        lod = s.lod
        with torch.no_grad():
            fake = self.G(self._z(n), real_c, lod=lod, full_resolution=False)
        real_scores = self.D(real, real_c, lod=lod)
        fake_scores = self.D(fake, real_c, lod=lod)
        mix = torch.rand([n, 1, 1, 1], device=self.device)
        mixed = torch.lerp(real, fake, mix).requires_grad_(True)
        mixed_scores = self.D(mixed, real_c, lod=lod)
        penalty = losses.wgan_gp_penalty(mixed, mixed_scores, grad_scale=self._gp_scale(s))
        loss = losses.wgan_d_loss(
            real_scores, fake_scores, penalty, wgan_lambda=cfg.wgan_lambda, drift=cfg.drift
        )
        report = self.stats.report
        report("Loss/scores/real", real_scores)
        report("Loss/scores/fake", fake_scores)
        report("Loss/gradient_penalty", penalty)
        report("Loss/D/loss", loss)
        return loss.mean()

    def loss_G(self, s: GrowthState) -> torch.Tensor:
        n = s.batch
        c = self._fake_c(n)
        fake = self.G(self._z(n), c, lod=s.lod, full_resolution=False)
        loss = -self.D(fake, c, lod=s.lod).flatten()
        self.stats.report("Loss/G/loss", loss)
        return loss.mean()


class StyleGAN1Step(ProgressiveStep):
    """Non-saturating logistic loss, R1 on reals, style mixing (official G_logistic_nonsaturating
    / D_logistic_simplegp)."""

    def _fakes(self, n: int, c, s: GrowthState) -> torch.Tensor:
        G = self.G
        z = self._z(n)
        ws = G.mapping(z, c, update_emas=True)
        prob = self.cfg.style_mixing_prob
        if prob > 0:
            active = G.num_ws - 2 * int(s.lod)  # the layers of the resolutions grown so far
            ws = losses.style_mixing_ws(
                lambda z2, c2: G.mapping(z2, c2), z, c, ws, prob, None, active
            )
        return G.synthesis(ws, lod=s.lod, full_resolution=False)

    def loss_D(self, real, real_c, s: GrowthState) -> torch.Tensor:
        gamma, lod = self.cfg.gamma, s.lod
        with torch.no_grad():
            fake = self._fakes(real.shape[0], real_c, s)
        fake_scores = self.D(fake, real_c, lod=lod)
        real_in = real.detach().requires_grad_(gamma > 0)
        real_scores = self.D(real_in, real_c, lod=lod)
        loss = F.softplus(fake_scores) + F.softplus(-real_scores)
        report = self.stats.report
        report("Loss/scores/real", real_scores)
        report("Loss/scores/fake", fake_scores)
        if gamma > 0:
            penalty = losses.r1_penalty(real_in, real_scores) * self._gp_scale(s) ** 2
            report("Loss/r1_penalty", penalty)
            loss = loss + losses.r1_loss(penalty, gamma).unsqueeze(1)
        report("Loss/D/loss", loss)
        return loss.mean()

    def loss_G(self, s: GrowthState) -> torch.Tensor:
        n = s.batch
        c = self._fake_c(n)
        loss = losses.g_nonsaturating_loss(self.D(self._fakes(n, c, s), c, lod=s.lod))
        self.stats.report("Loss/G/loss", loss)
        return loss.mean()


STEPS = {"progan": ProGANStep, "stylegan1": StyleGAN1Step}


# ---------------------------------------------------------------------------------------------
# Entry points


def _check(cfg: ProgressiveConfig, ds: Any) -> None:
    """Fail on data the growth cannot reach, bad batch sizes and metric names before a run
    folder exists."""
    check_resolution(ds.resolution)
    schedule = growth_schedule(cfg, ds.resolution)
    G, D = build_networks(cfg, ds)
    finetune.frozen_parameters(G, D, cfg.freeze_d, cfg.freeze_mapping)  # --freeze-d in range
    if cfg.init:
        finetune.check_labels(cfg, ds.label_dim if cfg.cond else 0)
    group = D.config.mbstd_group_size
    for batch in schedule.batches():
        if group > 1 and batch % min(group, batch):
            raise UserError(
                f"minibatch {batch} is not divisible by the minibatch-std group size {group}; "
                f"use a multiple of {group}"
            )
    if cfg.metrics:
        from stylegen.metrics.report import check_training_metrics

        check_training_metrics(cfg.metrics, device=cfg.device)


def _build_step(cfg: ProgressiveConfig, ds: Any, device: torch.device) -> ProgressiveStep:
    return STEPS[cfg.arch](cfg, ds, device)


PROGRESSIVE = Family(
    kind=ProgressiveStep.kind,
    title="ProGAN/StyleGAN (2019)",
    config_cls=ProgressiveConfig,
    open_data=open_training_data,
    build_step=_build_step,
    run_name=lambda cfg: runs.run_name(cfg.data, f"{cfg.arch}-{cfg.preset}"),
    check=_check,
    prepare=lambda step, cfg: finetune.apply_init(step, cfg) if cfg.init else None,
)

FAMILY = PROGRESSIVE  # the name training/families.py looks up


def train(cfg: ProgressiveConfig, progress: ProgressFn | None = None) -> Path:
    """Start a new ProGAN / StyleGAN (2019) run under cfg.outdir; returns the final snapshot.
    With `cfg.init` the networks and weights come from that fully grown source, and the run
    trains at its resolution without growing (training/finetune_progressive.py)."""
    if cfg.init:
        cfg = finetune.resolve_init(cfg)
    return start_run(PROGRESSIVE, cfg, progress)


def resume(
    run_dir: str | os.PathLike, progress: ProgressFn | None = None, **overrides: Any
) -> Path:
    """Continue a run from its last snapshot; `overrides` (e.g. kimg) change its options."""
    cfg = read_run_config(PROGRESSIVE, Path(run_dir))
    for name, value in overrides.items():
        if value is not None:
            setattr(cfg, name, value)
    return resume_run(PROGRESSIVE, run_dir, cfg, progress)
