"""ProGAN (Karras et al. 2018) and StyleGAN (Karras et al. 2019) training configuration:
`ProgressiveConfig` and the preset table (`stylegen train --arch progan|stylegan1`).

The `paper` presets follow the official TF `train.py` of the StyleGAN repository (NVlabs/stylegan,
which trains both networks) for one GPU: start at 4x4 (ProGAN) or 8x8 (StyleGAN), 600k images per
resolution and 600k more to fade the next one in, per-resolution minibatch
{4: 128, 8: 128, 16: 128, 32: 64, 64: 32, 128: 16, 256: 8, 512: 4} (else 4) and learning rates
(0.001 unless the table says otherwise), Adam (0, 0.99, 1e-8), G's weight average with a
half-life of 10k images. ProGAN: WGAN-GP (lambda 10, target 1) with the drift term 0.001 * D(x)^2;
StyleGAN: non-saturating logistic loss with R1 (gamma 10) and style mixing (p 0.9). `cpu32` is
sized for a 2-core CPU and 32x32 data (e.g. Fashion-MNIST), `tiny` for tests. This module imports
no torch: the CLI builds its flags from `ProgressiveConfig`.

Fine-tuning (`init`, training/finetune.py): the networks are the source's (written into
`G_overrides` / `D_overrides`, so `--resume` rebuilds them without the source), `arch` is the
source's (None: "stylegan1" for a new network) and the run trains at the data's resolution from
the start (`fixed_resolution`): a fully grown source is not grown again from 4x4.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from stylegen.config import check_choice, check_number
from stylegen.errors import UserError

__all__ = [
    "ARCHES",
    "PRESETS",
    "ProgressiveConfig",
    "ProgressivePreset",
    "get_preset",
    "network_configs",
]

ARCHES = ("progan", "stylegan1")

# Official train.py, 1 GPU: per-resolution minibatch (minibatch_base 4 elsewhere).
PAPER_BATCH = {4: 128, 8: 128, 16: 128, 32: 64, 64: 32, 128: 16, 256: 8, 512: 4}


@dataclass(frozen=True)
class ProgressivePreset:
    """A named recipe: network sizes (resolution, channels and c_dim come from the data), the
    growth schedule and the loss settings of one architecture."""

    description: str
    G: dict[str, Any] = field(default_factory=dict)
    D: dict[str, Any] = field(default_factory=dict)
    kimg: float = 12000.0
    initial_resolution: int = 4
    phase_kimg: float = 600.0  # official lod_training_kimg
    fade_kimg: float = 600.0  # official lod_transition_kimg
    batch: int = 4  # minibatch_base: at resolutions missing from batch_by_res
    batch_by_res: dict[int, int] = field(default_factory=lambda: dict(PAPER_BATCH))
    lr: float = 0.001
    lr_by_res: dict[int, float] = field(default_factory=dict)  # G and D alike, as official
    ema_kimg: float = 10.0
    tick_kimg: float = 4.0
    gamma: float = 10.0  # StyleGAN: R1 weight
    style_mixing_prob: float = 0.9  # StyleGAN
    wgan_lambda: float = 10.0  # ProGAN: gradient penalty weight
    drift: float = 0.001  # ProGAN: epsilon_drift
    threads: int | None = None


_TINY_G = dict(z_dim=16, w_dim=16, mapping_layers=2, channel_base=128, channel_max=8)
_TINY_D = dict(channel_base=128, channel_max=8)
_TINY = dict(
    description="a few thousand parameters and a fast schedule, for tests",
    kimg=0.08,
    phase_kimg=0.008,
    fade_kimg=0.008,
    batch=4,
    batch_by_res={},
    ema_kimg=0.01,
    tick_kimg=0.008,
)

# 2-core CPU, 32x32 (e.g. Fashion-MNIST), about ten minutes on one thread of a quiet core: 64
# channels at most, small latents, two mapping layers (as the StyleGAN2 cpu32 preset); 6k images
# per resolution and 6k to fade the next one in, so 32x32 is reached after 36k (ProGAN, from 4x4)
# or 24k images (StyleGAN, from 8x8); larger minibatches at the cheap low resolutions, 8 images at
# 32x32 (small batches train a short CPU run faster); G_ema half-life 1k images. StyleGAN's R1
# weight is the StyleGAN2 cpu32 preset's 0.2 (the paper's 10 is for 1024x1024 faces). One thread:
# these small convolutions gain little from two, and lose much on a busy CPU.
_CPU_G = dict(z_dim=128, w_dim=128, mapping_layers=2, channel_base=2048, channel_max=64)
_CPU_D = dict(channel_base=2048, channel_max=64)
_CPU = dict(
    kimg=50.0,
    phase_kimg=6.0,
    fade_kimg=6.0,
    batch=8,
    batch_by_res={4: 32, 8: 32, 16: 16, 32: 8},
    ema_kimg=1.0,
    tick_kimg=1.0,
    threads=1,
)

PRESETS: dict[str, dict[str, ProgressivePreset]] = {
    "progan": {
        "tiny": ProgressivePreset(
            G=dict(z_dim=16, channel_base=128, channel_max=8), D=_TINY_D, **_TINY
        ),
        "cpu32": ProgressivePreset(
            description="ProGAN sized for 32x32 images on a 2-core CPU, minutes",
            G={"z_dim": 128, "channel_base": 2048, "channel_max": 64},
            D=_CPU_D,
            **_CPU,
        ),
        "paper": ProgressivePreset(
            description="the official ProGAN config (preset-v2-1gpu, CelebA-HQ 1024)",
            kimg=12000.0,
            lr_by_res={1024: 0.0015},
        ),
    },
    "stylegan1": {
        "tiny": ProgressivePreset(G=_TINY_G, D=_TINY_D, **_TINY),
        "cpu32": ProgressivePreset(
            description="StyleGAN (2019) sized for 32x32 images on a 2-core CPU, minutes",
            G=_CPU_G,
            D=_CPU_D,
            initial_resolution=8,
            gamma=0.2,
            **_CPU,
        ),
        "paper": ProgressivePreset(
            description="the official StyleGAN config (FFHQ 1024, 1 GPU)",
            kimg=25000.0,
            initial_resolution=8,
            lr_by_res={128: 0.0015, 256: 0.002, 512: 0.003, 1024: 0.003},
        ),
    },
}


def get_preset(arch: str, name: str) -> ProgressivePreset:
    check_choice("--arch", arch, ARCHES)
    table = PRESETS[arch]
    if name not in table:
        raise UserError(f"unknown --arch {arch} preset {name!r}; choose one of: {', '.join(table)}")
    return table[name]


def network_configs(cfg: ProgressiveConfig, resolution: int, channels: int, c_dim: int) -> tuple:
    """G and D configs of `cfg` (its preset and overrides) for images of this size and labels."""
    # the networks' modules import torch; this module stays torch-free for the CLI parser
    from stylegen.models.progan import ProGANDiscriminatorConfig, ProGANGeneratorConfig
    from stylegen.models.stylegan1 import StyleGAN1GeneratorConfig

    p = cfg.preset_values()
    arch = cfg.arch or "stylegan1"
    common = dict(img_resolution=resolution, img_channels=channels, c_dim=c_dim)
    d_cfg = ProGANDiscriminatorConfig(**{**p.D, **common, "blur": arch == "stylegan1"})
    g_class = ProGANGeneratorConfig if arch == "progan" else StyleGAN1GeneratorConfig
    g_cfg = dataclasses.replace(g_class(**{**p.G, **common}), **cfg.G_overrides)
    return g_cfg, dataclasses.replace(d_cfg, **cfg.D_overrides)


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass
class ProgressiveConfig:
    """Everything `stylegen train --arch progan|stylegan1` needs; None means "the preset's"."""

    data: str
    outdir: str = "runs"
    arch: str | None = None  # None: the --init source's, else "stylegan1"
    preset: str = "cpu32"
    cond: bool = False
    mirror: bool = False
    max_size: int | None = None
    labels: str = "json"
    skip_bad: bool = False
    kimg: float | None = None
    # Wall-clock budget: stop with a snapshot after the first minibatch past N minutes
    # (training/trainer.py); None: train to the full length.
    minutes: float | None = None
    batch: int | None = None  # one minibatch size at every resolution; None: the preset's table
    glr: float | None = None  # one G learning rate at every resolution; None: the preset's table
    dlr: float | None = None
    phase_kimg: float | None = field(
        default=None,
        metadata=_help("kimg trained at each resolution before the next fades in (paper: 600)"),
    )
    fade_kimg: float | None = field(
        default=None, metadata=_help("kimg over which a new resolution fades in (paper: 600)")
    )
    initial_resolution: int | None = field(
        default=None, metadata=_help("resolution growing starts at (ProGAN 4, StyleGAN 8)")
    )
    fixed_resolution: bool = field(
        default=False, metadata=_help("train at the data's resolution from the start, no growing")
    )
    ema_kimg: float | None = None
    gamma: float | None = None  # StyleGAN: R1 weight
    style_mixing_prob: float | None = None  # StyleGAN
    wgan_lambda: float | None = field(
        default=None, metadata=_help("ProGAN: WGAN-GP gradient penalty weight (paper: 10)")
    )
    drift: float | None = field(
        default=None, metadata=_help("ProGAN: weight of the drift term D(real)^2 (paper: 0.001)")
    )
    tick_kimg: float | None = None
    snap: int = 50
    metrics: tuple[str, ...] = ()
    metrics_max_real: int | None = None  # at most this many dataset images for them (None: all)
    seed: int = 0
    device: str = "cpu"
    threads: int | None = None
    max_nonfinite: int = 20
    # Fine-tuning (training/finetune.py): start from this fully grown network.
    init: str | None = None  # checkpoint folder or run folder of a progan/stylegan1 run
    freeze_d: int = 0  # FreezeD: D blocks kept fixed, counted from the highest resolution
    freeze_mapping: bool = False  # StyleGAN (2019): keep G's mapping network fixed
    G_overrides: dict[str, Any] = field(default_factory=dict)  # network config fields
    D_overrides: dict[str, Any] = field(default_factory=dict)

    def preset_values(self) -> ProgressivePreset:
        return get_preset(self.arch or "stylegan1", self.preset)

    def resolved(self) -> ProgressiveConfig:
        """A copy with every None replaced by the preset's default, validated."""
        r = dataclasses.replace(self, arch=self.arch or "stylegan1")
        check_choice("--arch", r.arch, ARCHES)
        p = r.preset_values()
        own = ("gamma", "style_mixing_prob") if r.arch == "stylegan1" else ("wgan_lambda", "drift")
        for name in ("gamma", "style_mixing_prob", "wgan_lambda", "drift"):
            value = getattr(r, name)
            if name not in own:
                if value is not None:
                    other = "stylegan1" if r.arch == "progan" else "progan"
                    flag = (
                        "--mixing" if name == "style_mixing_prob" else "--" + name.replace("_", "-")
                    )
                    raise UserError(f"{flag} applies to --arch {other}, not {r.arch}; leave it out")
                continue
            if value is None:
                setattr(r, name, getattr(p, name))
        for name in ("kimg", "phase_kimg", "fade_kimg", "initial_resolution", "ema_kimg"):
            if getattr(r, name) is None:
                setattr(r, name, getattr(p, name))
        r.tick_kimg = p.tick_kimg if r.tick_kimg is None else r.tick_kimg
        r.threads = p.threads if r.threads is None else r.threads
        r.metrics = tuple(r.metrics or ())
        return r.validate()

    def validate(self) -> ProgressiveConfig:
        check_number("--minutes", self.minutes, low=0, low_open=True, optional=True)
        check_choice("--labels", self.labels, ("json", "folders"))
        if self.kimg is not None and self.kimg <= 0:
            raise UserError(f"--kimg {self.kimg} must be > 0")
        for name in ("phase_kimg", "fade_kimg"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                flag = "--" + name.replace("_", "-")
                raise UserError(
                    f"{flag} {value} must be > 0 (thousands of images); to train without growing "
                    "use --fixed-resolution"
                )
        res = self.initial_resolution
        if res is not None and (res < 4 or res & (res - 1)):
            raise UserError(
                f"--initial-resolution {res} must be a power of two >= 4 (growing doubles the "
                "resolution from there up to the data's)"
            )
        if self.freeze_d < 0:
            raise UserError(f"--freeze-d {self.freeze_d} must be >= 0 (discriminator blocks)")
        if self.batch is not None and self.batch < 1:
            raise UserError(f"--batch {self.batch} must be >= 1")
        for name in ("glr", "dlr", "ema_kimg", "gamma", "wgan_lambda", "drift"):
            value = getattr(self, name)
            if value is not None and (value < 0 or not math.isfinite(value)):
                raise UserError(f"--{name.replace('_', '-')} {value} must be >= 0")
        if self.style_mixing_prob is not None and not 0 <= self.style_mixing_prob <= 1:
            raise UserError(f"--mixing {self.style_mixing_prob} must be between 0 and 1")
        if self.tick_kimg is not None and self.tick_kimg <= 0:
            raise UserError(f"--tick {self.tick_kimg} must be > 0")
        if self.snap < 1:
            raise UserError(f"--snap {self.snap} must be >= 1 (ticks between snapshots)")
        check_number(
            "--metrics-max-real", self.metrics_max_real, integer=True, low=2, optional=True
        )
        if self.metrics:
            from stylegen.metrics.registry import parse_metric_names

            parse_metric_names(list(self.metrics))
        return self
