"""Training configuration of the baseline families: `BaselineConfig` and the named presets.

The families (`stylegen train --arch ...`):

- `gan`: the MLP GAN of Goodfellow et al. 2014 ("Generative Adversarial Nets");
- `dcgan`: Radford, Metz & Chintala 2016 ("Unsupervised Representation Learning with Deep
  Convolutional Generative Adversarial Networks"), Adam lr 2e-4, beta1 0.5 as in the paper;
- `cgan`: the MLP GAN given class labels (Mirza & Osindero 2014, "Conditional Generative
  Adversarial Nets"); `--cond-mode projection` uses a projection discriminator instead of the
  joined label (Miyato & Koyama 2018, "cGANs with Projection Discriminator"). `--arch dcgan
  --cond` is the conditional DCGAN;
- `vae`: Kingma & Welling 2014 ("Auto-Encoding Variational Bayes"), convolutional, Bernoulli or
  Gaussian likelihood, `--beta-kl` weighting the KL term (Higgins et al. 2017, beta-VAE), and with
  `--cond` the conditional VAE (Sohn et al. 2015).

Every GAN family uses Adam lr 2e-4, betas (0.5, 0.999) by default; the VAE Adam lr 1e-3, betas
(0.9, 0.999). This module imports no torch, so the CLI builds its flags from these dataclasses.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from stylegen.config import check_choice, check_number
from stylegen.errors import UserError

__all__ = [
    "ARCHES",
    "BASELINE_PRESETS",
    "BaselineConfig",
    "BaselinePreset",
    "GAN_ARCHES",
    "LIKELIHOODS",
    "MLP_ARCHES",
    "MLP_MAX_RESOLUTION",
    "baseline_preset",
]

ARCHES = ("gan", "dcgan", "cgan", "vae")
GAN_ARCHES = ("gan", "dcgan", "cgan")
MLP_ARCHES = ("gan", "cgan")  # fully connected: parameters grow with the pixel count
MLP_MAX_RESOLUTION = 64
COND_MODES = ("concat", "projection")
LIKELIHOODS = ("bernoulli", "gaussian")

# (lr, beta1) per family: the papers' / reference implementations' Adam settings.
ADAM_DEFAULTS = {"gan": (2e-4, 0.5), "dcgan": (2e-4, 0.5), "cgan": (2e-4, 0.5), "vae": (1e-3, 0.9)}


@dataclass(frozen=True)
class BaselinePreset:
    """Network sizes and training lengths of a named recipe (every baseline family)."""

    description: str
    batch: int = 64
    kimg: float = 100.0
    tick_kimg: float = 2.0
    gan_z_dim: int = 100  # z of the GAN families (the papers' 100)
    vae_z_dim: int = 32
    mlp_g: tuple[int, ...] = (256, 512, 1024)  # MLP generator hidden widths
    mlp_d: tuple[int, ...] = (512, 256)  # MLP discriminator hidden widths
    ngf: int = 64  # DCGAN generator channels before the output layer
    ndf: int = 64  # DCGAN discriminator channels of the first layer
    vae_channels: int = 32  # VAE encoder channels of the first layer
    vae_channel_max: int = 256
    max_size: int | None = None
    threads: int | None = None  # torch CPU threads; None = torch's default


BASELINE_PRESETS: dict[str, BaselinePreset] = {
    # Fashion-MNIST (32x32 grey) on a 2-core CPU: the DCGAN at half the usual widths (PyTorch's
    # example uses 64 at 64x64), the VAE with 32 latents. 200 kimg take about 8 minutes for the
    # DCGAN (2.5 sec/kimg), 4 for the VAE, 2.5 for the MLP GANs. One thread: on a shared CPU two
    # threads were 20x slower for these small layers (benchmarks/RESULTS.md, bench_families).
    "cpu32": BaselinePreset(
        "32x32 images (e.g. Fashion-MNIST) on a 2-core CPU, under ten minutes",
        batch=64,
        kimg=200.0,
        tick_kimg=2.0,
        ngf=32,
        ndf=32,
        threads=1,
    ),
    # The DCGAN paper's networks for 64x64 (1024 channels at 4x4) and batch 128.
    "paper64": BaselinePreset(
        "the DCGAN paper's sizes for 64x64 images (batch 128, 1024 channels at 4x4); a GPU",
        batch=128,
        kimg=5000.0,
        tick_kimg=20.0,
        ngf=128,
        ndf=128,
        vae_channels=64,
        vae_channel_max=512,
        vae_z_dim=128,
    ),
    "tiny": BaselinePreset(
        "a few thousand parameters, for tests",
        batch=8,
        kimg=0.064,
        tick_kimg=0.016,
        gan_z_dim=8,
        vae_z_dim=4,
        mlp_g=(16, 32),
        mlp_d=(32, 16),
        ngf=4,
        ndf=4,
        vae_channels=4,
        vae_channel_max=16,
    ),
}


def baseline_preset(name: str) -> BaselinePreset:
    if name not in BASELINE_PRESETS:
        raise UserError(f"unknown preset {name!r}; choose one of: {', '.join(BASELINE_PRESETS)}")
    return BASELINE_PRESETS[name]


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass
class BaselineConfig:
    """Everything `stylegen train --arch gan|dcgan|cgan|vae` needs; None: the preset's or the
    family's default."""

    data: str
    outdir: str = "runs"
    preset: str = "cpu32"
    arch: str = "dcgan"
    cond: bool = False  # implied by --arch cgan
    cond_mode: str | None = field(
        default=None,
        metadata=_help(
            "GAN families with labels: how D sees the label, concat (Mirza & Osindero; default) or "
            "projection (Miyato & Koyama)"
        ),
    )
    labels: str = "json"
    mirror: bool = False
    max_size: int | None = None
    skip_bad: bool = False
    kimg: float | None = None
    # Wall-clock budget: stop with a snapshot after the first minibatch past N minutes
    # (training/trainer.py); None: train to the full length.
    minutes: float | None = None
    batch: int | None = None
    lr: float | None = field(
        default=None, metadata=_help("Adam learning rate (default 2e-4 for GANs, 1e-3 for the VAE)")
    )
    beta1: float | None = field(
        default=None, metadata=_help("Adam beta1 (default 0.5 for GANs, 0.9 for the VAE)")
    )
    beta2: float = field(default=0.999, metadata=_help("Adam beta2 (default 0.999)"))
    z_dim: int | None = field(
        default=None, metadata=_help("latent size (default 100 for GANs, 32 for the VAE)")
    )
    beta_kl: float | None = field(
        default=None, metadata=_help("VAE: weight of the KL term (default 1; beta-VAE above 1)")
    )
    likelihood: str | None = field(
        default=None, metadata=_help("VAE: bernoulli (default) or gaussian pixels")
    )
    sigma: float | None = field(
        default=None,
        metadata=_help("VAE, gaussian likelihood: pixel std on the [0, 1] scale (default 0.1)"),
    )
    tick_kimg: float | None = None
    snap: int = 50
    metrics: tuple[str, ...] = ()
    metrics_max_real: int | None = None  # at most this many dataset images for them (None: all)
    seed: int = 0
    device: str = "cpu"
    threads: int | None = None
    max_nonfinite: int = 20

    @property
    def is_vae(self) -> bool:
        return self.arch == "vae"

    def resolved(self) -> BaselineConfig:
        """A copy with every None replaced by the preset's or the family's default, validated.
        Idempotent: a resolved config resolves to itself."""
        check_choice("--arch", self.arch, ARCHES)
        p = baseline_preset(self.preset)
        r = dataclasses.replace(self)
        r._refuse_other_family_fields()
        lr, beta1 = ADAM_DEFAULTS[r.arch]
        r.lr = lr if r.lr is None else r.lr
        r.beta1 = beta1 if r.beta1 is None else r.beta1
        r.kimg = p.kimg if r.kimg is None else r.kimg
        r.batch = p.batch if r.batch is None else r.batch
        r.tick_kimg = p.tick_kimg if r.tick_kimg is None else r.tick_kimg
        r.max_size = p.max_size if r.max_size is None else r.max_size
        r.threads = p.threads if r.threads is None else r.threads
        r.z_dim = (p.vae_z_dim if r.is_vae else p.gan_z_dim) if r.z_dim is None else r.z_dim
        r.cond = r.cond or r.arch == "cgan"
        if r.is_vae:
            r.beta_kl = 1.0 if r.beta_kl is None else r.beta_kl
            r.likelihood = "bernoulli" if r.likelihood is None else r.likelihood
            if r.likelihood == "gaussian" and r.sigma is None:
                r.sigma = 0.1
        elif r.cond and r.cond_mode is None:
            r.cond_mode = "concat"
        r.metrics = tuple(r.metrics or ())
        return r.validate()

    def _refuse_other_family_fields(self) -> None:
        """Settings of the VAE on a GAN and the other way round: one line each."""
        if not self.is_vae:
            for name in ("beta_kl", "likelihood", "sigma"):
                if getattr(self, name) is not None:
                    flag = "--" + name.replace("_", "-")
                    raise UserError(f"{flag} applies to --arch vae only; leave it out")
        elif self.cond_mode is not None:
            raise UserError(
                "--cond-mode picks how a GAN discriminator sees labels; the VAE joins them to "
                "its inputs: leave it out"
            )
        if self.cond_mode is not None and not (self.cond or self.arch == "cgan"):
            raise UserError("--cond-mode needs labels: add --cond or use --arch cgan")

    def validate(self) -> BaselineConfig:
        check_number("--minutes", self.minutes, low=0, low_open=True, optional=True)
        check_choice("--arch", self.arch, ARCHES)
        check_choice("--labels", self.labels, ("json", "folders"))
        if self.cond_mode is not None:
            check_choice("--cond-mode", self.cond_mode, COND_MODES)
        if self.likelihood is not None:
            check_choice("--likelihood", self.likelihood, LIKELIHOODS)
        if self.sigma is not None and self.likelihood != "gaussian":
            raise UserError(
                "--sigma is the std of the gaussian likelihood: add --likelihood gaussian"
            )
        if self.kimg is None or self.kimg <= 0:
            raise UserError(f"--kimg {self.kimg} must be > 0")
        if self.batch is None or self.batch < 1:
            raise UserError(f"--batch {self.batch} must be >= 1")
        if self.z_dim is not None and self.z_dim < 1:
            raise UserError(f"--z-dim {self.z_dim} must be >= 1")
        for name in ("lr", "beta_kl", "sigma"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise UserError(f"--{name.replace('_', '-')} {value} must be >= 0")
        if self.sigma == 0:
            raise UserError("--sigma 0 makes the gaussian likelihood infinite; use e.g. 0.1")
        for name in ("beta1", "beta2"):
            value = getattr(self, name)
            if value is not None and not 0 <= value < 1:
                raise UserError(f"--{name} {value} must be in [0, 1)")
        if self.snap < 1:
            raise UserError(f"--snap {self.snap} must be >= 1 (ticks between snapshots)")
        check_number(
            "--metrics-max-real", self.metrics_max_real, integer=True, low=2, optional=True
        )
        if self.metrics:
            from stylegen.metrics.registry import parse_metric_names

            parse_metric_names(list(self.metrics))  # unknown names fail before training starts
        return self
