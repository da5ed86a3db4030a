"""The baseline families on the shared trainer: GAN (Goodfellow et al. 2014), DCGAN (Radford et
al. 2016), conditional GAN (Mirza & Osindero 2014; projection D, Miyato & Koyama 2018) and the VAE
(Kingma & Welling 2014). Config and presets: training/baselines_config.py; networks:
models/gan.py and models/vae.py.

`AdversarialStep` trains the three GAN families, as the DCGAN paper and PyTorch's DCGAN example
do, per minibatch: D on real images and on G(z) (binary cross-entropy on logits, i.e. the
logistic loss), one Adam step; then G with the non-saturating loss -log D(G(z)) on the same
G(z), one Adam step. Conditional runs feed the real batch's labels to both networks. It reports
the G and D losses, D's accuracy (the fraction of reals with D(x) > 0.5 and of fakes with
D(G(z)) < 0.5, drawn into accuracy.png) and the mean D(x) and D(G(z)).

`VAEStep` maximises beta-weighted ELBO = E_q[log p(x | z)] - beta * KL(q(z | x) || p(z)) with one
reparameterised sample per image (Adam); it reports the ELBO (nats per image, beta = 1), the
reconstruction term -E_q[log p(x | z)] and the KL, and writes reconstructions.png (input |
reconstruction) into every snapshot.

Minibatches walk the data in a fresh random order every epoch (a function of the seed, the epoch
and the batch index, so a resumed run sees the same batches); z and eps come from the seeded
global torch RNG on the CPU, saved in each snapshot. Snapshots hold the generator (the whole VAE
for `vae`, so `stylegen reconstruct` finds its encoder) as the checkpoint, the rest in
training_state.pt.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from stylegen import runs
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
    count_parameters,
)
from stylegen.models.serialization import write_checkpoint_files
from stylegen.models.vae import VAE, VAEConfig
from stylegen.training import losses
from stylegen.training.baselines_config import (
    MLP_ARCHES,
    MLP_MAX_RESOLUTION,
    BaselineConfig,
    baseline_preset,
)
from stylegen.training.stats import Panel, StatsCollector
from stylegen.training.trainer import Family, ProgressFn, start_run

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
    "train",
    "vae_terms",
]

STYLEGAN_METRICS = ("ppl", "eqt", "eqr")  # metric kinds that need StyleGAN's mapping or StyleGAN3

ACCURACY_PANELS: list[Panel] = [
    (
        "Discriminator accuracy",
        [("Accuracy/D/real", "real: D(x) > 0.5"), ("Accuracy/D/fake", "fake: D(G(z)) < 0.5")],
    ),
    ("Discriminator outputs", [("Prob/D_real", "mean D(x)"), ("Prob/D_fake", "mean D(G(z))")]),
]


# ---------------------------------------------------------------------------------------------
# Data and networks


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


def d_accuracy(
    real_logits: torch.Tensor, fake_logits: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample correctness of D as 0/1 floats: D(x) > 0.5 on reals, D(G(z)) < 0.5 on fakes
    (logit > 0 is D > 0.5)."""
    return (real_logits > 0).float(), (fake_logits < 0).float()


def vae_terms(
    vae: VAE,
    img: torch.Tensor,
    c: torch.Tensor | None,
    eps: torch.Tensor,
    likelihood: str,
    sigma: float | None = None,
) -> dict[str, torch.Tensor]:
    """Per-sample ELBO terms of images in [-1, 1] with noise eps [N, z_dim]: `recon` =
    -log p(x | z) at z = mu + sigma_q * eps (pixels on the [0, 1] scale), `kl` = KL(q || p) in
    closed form, `elbo` = -(recon + kl); nats per image."""
    target = (img + 1) / 2
    mu, logvar = vae.encode(img, c)
    z = mu + torch.exp(0.5 * logvar) * eps
    logits = vae.decode_logits(z, c)
    if likelihood == "bernoulli":
        log_lik = losses.bernoulli_log_likelihood(logits, target)
    else:
        log_lik = losses.gaussian_log_likelihood(torch.sigmoid(logits), target, float(sigma))
    kl = losses.gaussian_kl(mu, logvar)
    return {"recon": -log_lik, "kl": kl, "elbo": log_lik - kl}


@contextmanager
def _evaluating(*modules: torch.nn.Module) -> Iterator[None]:
    """Eval mode (batch norm's running statistics) and no gradients, then back to training."""
    for m in modules:
        m.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for m in modules:
            m.train()


# ---------------------------------------------------------------------------------------------
# The steps


class _BaselineStep:
    """What both steps share: data, sample latents, grids, the snapshot's checkpoint."""

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
        img = uint8_to_float(img).to(self.device)
        return img, (c.to(self.device) if self.c_dim else None)

    def _noise(self, n: int, dim: int) -> torch.Tensor:
        """Standard normal [n, dim] from the global CPU RNG (the same on every device)."""
        return torch.randn(n, dim).to(self.device)

    @staticmethod
    def _step(opt: torch.optim.Optimizer, loss: torch.Tensor) -> int:
        """Backward + step; a non-finite loss skips the step (returns 1)."""
        opt.zero_grad(set_to_none=True)
        if not torch.isfinite(loss):
            return 1
        loss.backward()
        opt.step()
        return 0

    def _sample(self, G: torch.nn.Module) -> np.ndarray:
        with _evaluating(G):
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


class AdversarialStep(_BaselineStep):
    """G, D and their Adam optimisers (gan, dcgan, cgan): D then G, once per minibatch."""

    kind: ClassVar[str] = "baseline"
    loss_panels: ClassVar[list[Panel]] = []
    figures: ClassVar[dict[str, list[Panel]]] = {"accuracy.png": ACCURACY_PANELS}
    log_keys: ClassVar[list[tuple[str, str]]] = [
        ("G", "Loss/G/loss"),
        ("D", "Loss/D/loss"),
        ("acc_real", "Accuracy/D/real"),
        ("acc_fake", "Accuracy/D/fake"),
    ]

    def __init__(self, cfg: BaselineConfig, ds: ImageDataset, device: torch.device) -> None:
        super().__init__(cfg, ds, device)
        G, D = build_gan(cfg, ds.resolution, ds.num_channels, self.c_dim)
        self.G, self.D = G.to(device).train(), D.to(device).train()
        betas = (cfg.beta1, cfg.beta2)
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=cfg.lr, betas=betas)
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=cfg.lr, betas=betas)
        self.grid_z, self.grid_c = self._grid_latents(cfg.z_dim)

    def train_step(self, cur_nimg: int, batch_idx: int) -> int:
        self.iteration = batch_idx
        real, c = self._real(batch_idx)
        fake = self.G(self._noise(real.shape[0], self.cfg.z_dim), c)

        self.D.requires_grad_(True)
        real_logits = self.D(real, c)
        fake_logits = self.D(fake.detach(), c)
        loss_real, loss_fake = losses.d_logistic_loss(real_logits, fake_logits)
        loss_D = loss_real + loss_fake
        skipped = self._step(self.opt_D, loss_D.mean())

        self.D.requires_grad_(False)
        loss_G = losses.g_nonsaturating_loss(self.D(fake, c))
        skipped += self._step(self.opt_G, loss_G.mean())

        acc_real, acc_fake = d_accuracy(real_logits.detach(), fake_logits.detach())
        report = self.stats.report
        report("Loss/G/loss", loss_G.detach())
        report("Loss/D/loss", loss_D.detach())
        report("Accuracy/D/real", acc_real)
        report("Accuracy/D/fake", acc_fake)
        report("Prob/D_real", torch.sigmoid(real_logits.detach()))
        report("Prob/D_fake", torch.sigmoid(fake_logits.detach()))
        self.iteration = batch_idx + 1
        return skipped

    def sample_grid(self) -> np.ndarray:
        return self._sample(self.G)

    def metrics_target(self) -> tuple[torch.nn.Module, Any]:
        return copy.deepcopy(self.G).eval(), self.ds  # eval: batch norm's running statistics

    def save_networks(self, folder: Path, metadata: dict[str, Any]) -> None:
        self._save(self.G, folder, metadata)

    def state_dict(self) -> dict[str, Any]:
        return {
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "opt_G": self.opt_G.state_dict(),
            "opt_D": self.opt_D.state_dict(),
            "rng_torch": torch.get_rng_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name in ("G", "D", "opt_G", "opt_D"):
            getattr(self, name).load_state_dict(state[name])
        torch.set_rng_state(state["rng_torch"])
        self.iteration = int(state["counters"][1])


class VAEStep(_BaselineStep):
    """The VAE and its Adam optimiser: one reparameterised ELBO step per minibatch."""

    kind: ClassVar[str] = "baseline"
    loss_panels: ClassVar[list[Panel]] = [
        ("ELBO (nats per image)", [("Loss/VAE/elbo", "ELBO")]),
        ("ELBO terms", [("Loss/VAE/recon", "reconstruction -log p(x|z)"), ("Loss/VAE/kl", "KL")]),
    ]
    log_keys: ClassVar[list[tuple[str, str]]] = [
        ("elbo", "Loss/VAE/elbo"),
        ("recon", "Loss/VAE/recon"),
        ("kl", "Loss/VAE/kl"),
    ]

    def __init__(self, cfg: BaselineConfig, ds: ImageDataset, device: torch.device) -> None:
        super().__init__(cfg, ds, device)
        self.vae = build_vae(cfg, ds.resolution, ds.num_channels, self.c_dim).to(device).train()
        betas = (cfg.beta1, cfg.beta2)
        self.opt = torch.optim.Adam(self.vae.parameters(), lr=cfg.lr, betas=betas)
        self.grid_z, self.grid_c = self._grid_latents(cfg.z_dim)
        self.recon_img, self.recon_c = self._recon_inputs()

    def train_step(self, cur_nimg: int, batch_idx: int) -> int:
        cfg = self.cfg
        self.iteration = batch_idx
        real, c = self._real(batch_idx)
        eps = self._noise(real.shape[0], cfg.z_dim)
        terms = vae_terms(self.vae, real, c, eps, cfg.likelihood, cfg.sigma)
        loss = terms["recon"] + cfg.beta_kl * terms["kl"]
        skipped = self._step(self.opt, loss.mean())
        for name in ("elbo", "recon", "kl"):
            self.stats.report(f"Loss/VAE/{name}", terms[name].detach())
        self.stats.report("Loss/VAE/loss", loss.detach())
        self.iteration = batch_idx + 1
        return skipped

    def _recon_inputs(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """32 fixed training images (and labels) for reconstructions.png."""
        idx = np.random.default_rng(123).choice(len(self.ds), min(32, len(self.ds)), False)
        items = [self.ds[int(i)] for i in idx]
        img = uint8_to_float(torch.from_numpy(np.stack([im for im, _ in items])))
        c = torch.from_numpy(np.stack([lab for _, lab in items]).astype(np.float32))
        return img, (c if self.c_dim else None)

    def snapshot_images(self) -> dict[str, np.ndarray]:
        """reconstructions.png: pairs input | reconstruction (posterior mean), 4 pairs a row."""
        with _evaluating(self.vae):
            c = self.recon_c.to(self.device) if self.recon_c is not None else None
            rec = self.vae.reconstruct(self.recon_img.to(self.device), c).cpu()
        pairs = torch.stack([self.recon_img, rec], dim=1).flatten(0, 1)
        return {"reconstructions.png": make_grid(float_to_uint8(pairs), ncols=8)}

    def sample_grid(self) -> np.ndarray:
        return self._sample(self.vae)

    def metrics_target(self) -> tuple[torch.nn.Module, Any]:
        return copy.deepcopy(self.vae).eval(), self.ds

    def save_networks(self, folder: Path, metadata: dict[str, Any]) -> None:
        meta = {**metadata, "likelihood": self.cfg.likelihood, "beta_kl": self.cfg.beta_kl}
        self._save(self.vae, folder, meta)

    def state_dict(self) -> dict[str, Any]:
        return {
            "vae": self.vae.state_dict(),
            "opt": self.opt.state_dict(),
            "rng_torch": torch.get_rng_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.vae.load_state_dict(state["vae"])
        self.opt.load_state_dict(state["opt"])
        torch.set_rng_state(state["rng_torch"])
        self.iteration = int(state["counters"][1])


def _build_step(cfg: BaselineConfig, ds: ImageDataset, device: torch.device) -> _BaselineStep:
    return (VAEStep if cfg.is_vae else AdversarialStep)(cfg, ds, device)


# ---------------------------------------------------------------------------------------------
# Entry points


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
