"""StyleGAN2/3 training configuration: `TrainConfig` and the named presets.

The presets follow the configurations of StyleGAN2-ADA (Karras et al. 2020, "Training Generative
Adversarial Networks with Limited Data", train.py cfg_specs) and StyleGAN3 (Karras et al. 2021,
train.py --cfg), plus `tiny` for tests and `cpu32`, a network sized so that training on a 2-core
CPU is practical.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stylegen.config import DIST_BACKENDS, check_choice, check_number
from stylegen.errors import UserError

if TYPE_CHECKING:
    from stylegen.models.discriminator import DiscriminatorConfig
    from stylegen.models.stylegan2 import GeneratorConfig
    from stylegen.models.stylegan3 import StyleGAN3GeneratorConfig


@dataclass
class TrainDefaults:
    """Per-preset training hyper-parameters (StyleGAN2-ADA cfg_specs for the paper presets)."""

    batch: int = 32
    lr: float = 0.0025
    dlr: float | None = None  # None: same as lr
    gamma: float = 1.0
    ema_kimg: float = 10.0
    ema_rampup: float | None = None
    pl_weight: float = 2.0
    style_mixing_prob: float = 0.9
    aug: str = "ada"
    tick_kimg: float = 4.0
    # Transitional training (Shahbazi et al. 2022): class information ramps in between these
    # marks when training with --cond; None = conditional from the first step (StyleGAN2-ADA).
    cond_start_kimg: float | None = None
    cond_end_kimg: float | None = None
    # "mixed": the num_fp16_res highest-resolution blocks of G and D in bfloat16; "auto": mixed
    # where the device has bfloat16 hardware, else fp32 (models/precision.py); a preset whose
    # networks were tuned for it says so here.
    precision: str = "fp32"
    # One generator pass per minibatch: D steps first on the fakes (scored in one call with the
    # reals), then G steps on the same fakes against the updated D (training/stylegan.py).
    shared_fakes: bool = False
    # Over this last fraction of the run both learning rates fall linearly to zero (0: constant,
    # as in the official code); training/schedule.py.
    lr_rampdown: float = 0.0


@dataclass
class Preset:
    """A named StyleGAN recipe: network sizes (resolution, channels and c_dim come from the
    data) and the training hyper-parameters that go with them."""

    description: str
    G: dict[str, Any] = field(default_factory=dict)
    D: dict[str, Any] = field(default_factory=dict)
    resolution: int | None = None  # the resolution the preset was designed for
    arch: str = "stylegan2"  # generator family, one of GENERATOR_ARCHS
    train: TrainDefaults = field(default_factory=TrainDefaults)


def _paper(fmaps: float, mbstd: int, resolution: int, train: TrainDefaults) -> Preset:
    base = int(fmaps * 32768)
    return Preset(
        description=f"StyleGAN2-ADA paper config for {resolution}x{resolution}",
        G=dict(channel_base=base, channel_max=512, mapping_layers=8, num_fp16_res=4),
        D=dict(channel_base=base, channel_max=512, mbstd_group_size=mbstd, num_fp16_res=4),
        resolution=resolution,
        train=train,
    )


def _stylegan3(arch: str, what: str, train: TrainDefaults) -> Preset:
    return Preset(
        description=f"StyleGAN3-{arch[-1].upper()} paper config ({what})",
        G=dict(channel_base=32768, channel_max=512, mapping_layers=2),
        D=dict(channel_base=32768, channel_max=512, mbstd_group_size=4),
        resolution=256,
        arch=arch,
        train=train,
    )


def _cpu32(
    description: str = "32x32 network sized for training on a 2-core CPU",
    G: dict[str, Any] | None = None,
    D: dict[str, Any] | None = None,
    **train: Any,
) -> Preset:
    """The cpu32 recipe; G / D update its network sizes, `train` its TrainDefaults."""
    return Preset(
        description=description,
        G={
            **dict(
                z_dim=128,
                w_dim=128,
                mapping_layers=2,
                channel_base=2048,
                channel_max=64,
                use_noise=False,
            ),
            **(G or {}),
        },
        D={
            **dict(channel_base=2048, channel_max=64, mapping_layers=2, mbstd_group_size=4),
            **(D or {}),
        },
        resolution=32,
        # Small batches: on a CPU the cost per image barely depends on the batch, and a short run
        # gains more from 4x the optimiser steps than from less noisy gradients.
        train=dataclasses.replace(
            TrainDefaults(
                batch=8,
                lr=0.0025,
                gamma=0.2,  # demo FID@2k: 66.7 at gamma 0.05, 53.5 at 0.2 (benchmarks/RESULTS.md)
                ema_kimg=1.0,
                ema_rampup=0.05,
                pl_weight=0.0,
                style_mixing_prob=0.0,
                aug="ada",
                tick_kimg=1.0,
            ),
            **train,  # a preset built on cpu32 may override any of these
        ),
    )


# No activation clamp: the official conv_clamp=256 guards float16 against overflow, which
# bfloat16 (float32's exponent range) cannot suffer, and its backward masks (ge, le, where on
# every activation) were 11% of a demo step (benchmarks/RESULTS.md, 2026-12-06).
_FAST: dict[str, Any] = dict(
    G=dict(channel_base=1024, channel_max=128, num_fp16_res=4, conv_clamp=None),
    D=dict(
        channel_base=1024, channel_max=128, architecture="orig", num_fp16_res=4, conv_clamp=None
    ),
    # auto, not mixed: on a CPU without bfloat16 hardware (AVX2 only) the mixed demo step ran 12x
    # slower than float32 (RESULTS.md round 9).
    precision="auto",
)

PRESETS: dict[str, Preset] = {
    "tiny": Preset(
        description="a few thousand parameters, for tests",
        G=dict(z_dim=32, w_dim=32, mapping_layers=2, channel_base=256, channel_max=32),
        D=dict(channel_base=256, channel_max=32, mapping_layers=2),
        train=TrainDefaults(batch=8, gamma=0.1, ema_kimg=0.1, ema_rampup=0.05, tick_kimg=0.016),
    ),
    # Tuned on a 2-core CPU for Fashion-MNIST in ten minutes (benchmarks/RESULTS.md): 64 channels
    # at every resolution and no per-pixel noise (which early on shows up as speckle) train far
    # faster per wall-clock second than the paper's widths.
    "cpu32": _cpu32(),
    # cpu32 for class-conditional training (--cond): class information ramps in between 4 and 14
    # kimg (transitional training, Shahbazi et al. 2022); conditional from the first step the
    # cpu32 network collapses to about one image per class (benchmarks/RESULTS.md).
    "cpu32-cond": _cpu32(
        description="cpu32 for class-conditional training: classes ramp in (--cond-ramp 4,14)",
        cond_start_kimg=4.0,
        cond_end_kimg=14.0,
    ),
    # Twice cpu32's images per CPU-second at better FID (benchmarks/RESULTS.md, 2026-12-05): the
    # usual channel taper (channel_base / resolution: 32 channels at 32x32, 64 at 16, 128 below),
    # which moves the FLOPs from the full-resolution convolutions to the coarse layers that shape
    # the garments; a plain ("orig") D; and every block in bfloat16 where the CPU computes it in
    # hardware (--precision auto; the 2x was measured on such a Xeon).
    # --shared-fakes as in cpu32-fast-cond below: unconditional at batch 16, seeds 1 and 2, FID@2k
    # 46.6 / 55.1 at 86.7 kimg (official order 50.0 / 55.2) and 42.1 / 50.1 at the 100 kimg that
    # ten minutes hold (RESULTS.md round 6).
    "cpu32-fast": _cpu32(
        "cpu32 with tapered channels, bfloat16 blocks where the CPU has bfloat16 hardware",
        **_FAST,
        shared_fakes=True,
    ),
    # Its conditional form keeps the class-agnostic D head of transitional training but needs
    # no ramp (--cond-ramp 0,0: labels at full weight from the first step): at 1200 CPU-seconds
    # FID@2k 42.8 against 49.3 with a 2 -> 10 kimg ramp and 52.4 with 8 -> 30, and as varied
    # within classes (benchmarks/RESULTS.md). Learning rates, R1 gamma and EMA are the best
    # trial (rounded) of an 8-trial Optuna study (`stylegen tune`, README section 14): at the demo's
    # batch 16 and 80 kimg FID@2k 48.2 against 53.7 with cpu32's values; raising the G
    # learning rate alone (72.9) or all of them further (53.9) was worse. A fresh-clone demo with
    # them scored 55.1, so the gain is within one run's spread (RESULTS.md, 2026-12-06).
    # --shared-fakes (D then G on one generator pass): 1.22x the images/s at batch 16 and the
    # same FID per image (three seeds at 86.7 kimg: 52.4, 50.7, 50.8 against a mean of 51.6 in
    # the official order), so ten minutes reach 100 kimg: 45.7, 45.2, 48.0 (RESULTS.md round 6).
    # With the folded gains and biases (1.17x) they reach 120 kimg: 42.9 (fresh-clone make
    # demo), 42.3, 39.5; a learning-rate ramp-down over the last 30% was worse (round 7).
    # At that length the study's D rate (found at 8 kimg) is too low: dlr 0.0035 scores 34.9 /
    # 32.6 with the same seeds 1 / 2 (0.005: 35.2, seed 1) and 39.1 in a fresh-clone make demo
    # (two threads), 40.6 / 37.0 with seeds 0 / 3 (mean of five 36.8); R1 gamma 0.75 / 3 scored
    # 38.3 / 34.7 (seed 1): gamma stays (round 8).
    "cpu32-fast-cond": _cpu32(
        "cpu32-fast for class-conditional training (class-agnostic D head, --cond-ramp 0,0)",
        **_FAST,
        cond_start_kimg=0.0,
        cond_end_kimg=0.0,
        lr=0.0057,
        dlr=0.0035,
        gamma=1.5,
        ema_kimg=2.2,
        shared_fakes=True,
    ),
    "cifar": Preset(
        description="official StyleGAN2-ADA CIFAR-10 config (32x32, 2-layer mapping)",
        G=dict(channel_base=32768, channel_max=512, mapping_layers=2, num_fp16_res=4),
        D=dict(
            channel_base=32768,
            channel_max=512,
            mbstd_group_size=32,
            architecture="orig",
            num_fp16_res=4,
        ),
        resolution=32,
        train=TrainDefaults(
            batch=64,
            lr=0.0025,
            gamma=0.01,
            ema_kimg=500,
            ema_rampup=0.05,
            pl_weight=0.0,
            style_mixing_prob=0.0,
        ),
    ),
    "paper256": _paper(0.5, 8, 256, TrainDefaults(batch=64, lr=0.0025, gamma=1.0, ema_kimg=20)),
    "paper512": _paper(1.0, 8, 512, TrainDefaults(batch=64, lr=0.0025, gamma=0.5, ema_kimg=20)),
    "paper1024": _paper(1.0, 4, 1024, TrainDefaults(batch=32, lr=0.002, gamma=2.0, ema_kimg=10)),
    # StyleGAN3 (Karras et al. 2021), official train.py --cfg=stylegan3-t/-r: 2-layer mapping,
    # cbase 32768, cmax 512 (doubled for R by the arch), mbstd group 4. Designed for 256x256
    # (docs/configs.md: FFHQ-U 256, gamma 2).
    "stylegan3-t": _stylegan3(
        "stylegan3-t",
        "translation equivariant, 3x3 convs",
        TrainDefaults(batch=32, lr=0.0025, dlr=0.002, gamma=2.0, ema_kimg=10, ema_rampup=0.05),
    ),
    "stylegan3-r": _stylegan3(
        "stylegan3-r",
        "rotation equivariant, 1x1 convs, radial filters",
        TrainDefaults(batch=32, lr=0.0025, dlr=0.002, gamma=2.0, ema_kimg=10, ema_rampup=0.05),
    ),
    # Sized for a 2-core CPU: 32x32, at most 32 channels, 8 synthesis layers.
    "stylegan3-t-cpu": Preset(
        description="32x32 StyleGAN3-T sized for training on a 2-core CPU",
        G=dict(
            z_dim=64,
            w_dim=64,
            mapping_layers=2,
            channel_base=1024,
            channel_max=32,
            num_layers=8,
        ),
        D=dict(channel_base=2048, channel_max=64, mapping_layers=2, mbstd_group_size=4),
        resolution=32,
        arch="stylegan3-t",
        train=TrainDefaults(
            batch=8,
            lr=0.0025,
            dlr=0.002,
            gamma=0.05,
            ema_kimg=1.0,
            ema_rampup=0.05,
            aug="ada",
            tick_kimg=1.0,
        ),
    ),
}

GENERATOR_ARCHS = ("stylegan2", "stylegan3-t", "stylegan3-r")

# The project-style spelling of the paper's config names is accepted too.
PRESET_ALIASES = {
    "stylegen3-t": "stylegan3-t",
    "stylegen3-r": "stylegan3-r",
    "stylegen3-t-cpu": "stylegan3-t-cpu",
}


def canonical_preset(name: str) -> str:
    return PRESET_ALIASES.get(name, name)


def get_preset(name: str) -> Preset:
    name = canonical_preset(name)
    if name not in PRESETS:
        raise UserError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    return PRESETS[name]


def build_configs(
    preset: str,
    *,
    img_resolution: int | None = None,
    img_channels: int = 3,
    c_dim: int = 0,
    arch: str | None = None,
) -> tuple[GeneratorConfig | StyleGAN3GeneratorConfig, DiscriminatorConfig]:
    """Generator and discriminator configs of a preset for data of the given shape.

    `arch` (default: the preset's) picks the generator family; sizes that both families share
    (z/w dims, channel base and max) carry over when it differs from the preset's.
    """
    # the networks' modules import torch; this module stays torch-free for the CLI parser
    from stylegen.models.discriminator import DiscriminatorConfig
    from stylegen.models.stylegan2 import GeneratorConfig

    p = get_preset(preset)
    arch = arch or p.arch
    check_choice("--arch", arch, GENERATOR_ARCHS)
    resolution = img_resolution or p.resolution or 32
    common = dict(img_resolution=resolution, img_channels=img_channels, c_dim=c_dim)
    g_fields = dict(p.G)
    if (arch == "stylegan2") != (p.arch == "stylegan2"):
        shared = ("z_dim", "w_dim", "channel_base", "channel_max")
        g_fields = {k: v for k, v in g_fields.items() if k in shared}
    if arch == "stylegan2":
        g = GeneratorConfig(**{**g_fields, **common}).validate()
    else:
        g = stylegan3_config(arch, **g_fields, **common)
    d = DiscriminatorConfig(**{**p.D, **common}).validate()
    return g, d


def stylegan3_config(arch: str, **fields: Any) -> StyleGAN3GeneratorConfig:
    """StyleGAN3 generator config for `arch` stylegan3-t or stylegan3-r (official train.py:
    R uses 1x1 convolutions, radially symmetric filters and twice the channels)."""
    from stylegen.models.stylegan3 import StyleGAN3GeneratorConfig

    check_choice("StyleGAN3 arch", arch, ("stylegan3-t", "stylegan3-r"))
    if arch == "stylegan3-r":
        fields["conv_kernel"] = 1
        fields["use_radial_filters"] = True
        fields["channel_base"] = fields.get("channel_base", 32768) * 2
        fields["channel_max"] = fields.get("channel_max", 512) * 2
    return StyleGAN3GeneratorConfig(**fields).validate()


def transition_weight(kimg: float, start: float | None, end: float | None) -> float:
    """lambda(t) of transitional training (Shahbazi et al. 2022): 0 before `start` kimg, 1 from
    `end` on, linear in between (a step at `start` when they are equal); 1 without a ramp."""
    if start is None or end is None:
        return 1.0
    if kimg >= end:
        return 1.0
    if kimg < start:
        return 0.0
    return (kimg - start) / (end - start)


def magnitude_ema_beta(batch: int) -> float:
    """StyleGAN3's magnitude EMA decay for a batch size: a half-life of 20k images."""
    return 0.5 ** (batch / (20 * 1e3))


# ---------------------------------------------------------------------------------------------
# Training


AUG_MODES = ("ada", "fixed", "diffaug", "none")
PRECISIONS = ("fp32", "mixed", "auto")
INIT_ADA_P = ("source", "zero")


@dataclass
class TrainConfig:
    """Everything `stylegen train` needs; None means "the preset's default"."""

    data: str
    outdir: str = "runs"
    preset: str = "cpu32"
    cond: bool = False
    mirror: bool = False
    max_size: int | None = None
    labels: str = "json"
    skip_bad: bool = False
    kimg: float = 50.0
    # Wall-clock budget: stop (with a snapshot) after the first minibatch past this many minutes
    # of this session's training, even before --kimg; None: no budget (training/trainer.py).
    minutes: float | None = None
    batch: int | None = None
    glr: float | None = None
    dlr: float | None = None
    gamma: float | None = None
    ema_kimg: float | None = None
    ema_rampup: float | None = None
    pl_weight: float | None = None
    pl_batch_shrink: int = 2
    pl_decay: float = 0.01
    style_mixing_prob: float | None = None
    arch: str | None = None  # generator family; None = the preset's
    blur_init_sigma: float | None = None  # D input blur (StyleGAN3-R: 10), fades out linearly
    blur_fade_kimg: float | None = None  # ... over this many kimg (official: batch * 200 / 32)
    # Transitional training (Shahbazi et al. 2022, "Collapse by Conditioning"): with --cond the
    # label's weight lambda in G's mapping input and in D's logits goes 0 -> 1 linearly between
    # these marks, and D gets a class-agnostic head. None: the preset's (None there: no ramp).
    cond_start_kimg: float | None = None
    cond_end_kimg: float | None = None
    r1_interval: int = 16
    pl_interval: int = 4
    aug: str | None = None
    aug_p: float = 0.0
    ada_target: float = 0.6
    ada_kimg: float = 500.0
    ada_interval: int = 4
    tick_kimg: float | None = None
    snap: int = 50
    metrics: tuple[str, ...] = ()  # evaluated at every snapshot, e.g. ("fid10k_full",)
    metrics_max_real: int | None = None  # at most this many dataset images for them (None: all)
    seed: int = 0
    device: str = "cpu"
    threads: int | None = None
    max_nonfinite: int = 20
    precision: str | None = None  # "mixed": reduced-precision blocks (models/precision.py)
    shared_fakes: bool | None = None  # D then G on one generator pass (None: the preset's)
    lr_rampdown: float | None = None  # last fraction of the run with falling lr (None: preset's)
    batch_gpu: int | None = None  # images per process per round; None: batch / processes
    dist_backend: str | None = None  # gloo | nccl | auto; None: $STYLEGEN_DIST_BACKEND or auto
    G_overrides: dict[str, Any] = field(default_factory=dict)
    D_overrides: dict[str, Any] = field(default_factory=dict)
    # Fine-tuning (training/finetune.py): start from this network's weights and architecture.
    init: str | None = None  # checkpoint folder, run folder or official .pkl
    freeze_d: int = 0  # FreezeD: D blocks kept fixed, counted from the highest resolution
    freeze_mapping: bool = False  # keep G's mapping network fixed
    init_ada_p: str = "source"  # ADA p from the source's training state, or "zero"

    def resolved(self) -> TrainConfig:
        """A copy with every None replaced by the preset's default, validated."""
        preset = get_preset(self.preset)
        d = preset.train
        r = dataclasses.replace(self, preset=canonical_preset(self.preset))
        r.batch = d.batch if r.batch is None else r.batch
        r.glr = d.lr if r.glr is None else r.glr
        r.dlr = (d.lr if d.dlr is None else d.dlr) if r.dlr is None else r.dlr
        r.gamma = d.gamma if r.gamma is None else r.gamma
        r.ema_kimg = d.ema_kimg if r.ema_kimg is None else r.ema_kimg
        r.ema_rampup = d.ema_rampup if self.ema_rampup is None else r.ema_rampup
        r.pl_weight = d.pl_weight if r.pl_weight is None else r.pl_weight
        if r.style_mixing_prob is None:
            r.style_mixing_prob = d.style_mixing_prob
        r.arch = preset.arch if r.arch is None else r.arch
        check_choice("--arch", r.arch, GENERATOR_ARCHS)
        if r.arch.startswith("stylegan3"):
            # Official StyleGAN3 recipe: no path-length penalty, no style mixing, and for R a
            # blur of the images D sees that fades out over the first kimg.
            r.pl_weight = 0.0 if self.pl_weight is None else r.pl_weight
            r.style_mixing_prob = 0.0 if self.style_mixing_prob is None else r.style_mixing_prob
        if r.blur_init_sigma is None:
            r.blur_init_sigma = 10.0 if r.arch == "stylegan3-r" else 0.0
        if r.blur_fade_kimg is None:
            r.blur_fade_kimg = r.batch * 200 / 32
        if r.cond_start_kimg is None and r.cond_end_kimg is None:
            r.cond_start_kimg, r.cond_end_kimg = d.cond_start_kimg, d.cond_end_kimg
        r.aug = d.aug if r.aug is None else r.aug
        r.tick_kimg = d.tick_kimg if r.tick_kimg is None else r.tick_kimg
        r.precision = d.precision if r.precision is None else r.precision
        r.shared_fakes = d.shared_fakes if r.shared_fakes is None else r.shared_fakes
        r.lr_rampdown = d.lr_rampdown if r.lr_rampdown is None else r.lr_rampdown
        r.metrics = tuple(r.metrics or ())
        return r.validate()

    def validate(self) -> TrainConfig:
        check_choice("--aug mode", self.aug, AUG_MODES)
        if self.precision is not None:  # None: the preset's (resolved() fills it in)
            check_choice("--precision", self.precision, PRECISIONS)
        check_choice("--init-ada-p", self.init_ada_p, INIT_ADA_P)
        self._check_numbers()
        if self.batch and self.pl_weight and self.batch % self.pl_batch_shrink:
            raise UserError(
                f"--batch {self.batch} is not divisible by the path-length batch shrink "
                f"{self.pl_batch_shrink}; use an even batch size"
            )
        if (self.cond_start_kimg is None) != (self.cond_end_kimg is None):
            raise UserError("--cond-ramp needs both marks, START,END in kimg")
        if self.cond_start_kimg is not None and self.cond_end_kimg < self.cond_start_kimg:
            raise UserError(
                f"--cond-ramp ends ({self.cond_end_kimg} kimg) before it starts "
                f"({self.cond_start_kimg} kimg)"
            )
        if self.dist_backend is not None:
            check_choice("--dist-backend", self.dist_backend, DIST_BACKENDS)
        if self.metrics:
            from stylegen.metrics.registry import parse_metric_names

            parse_metric_names(list(self.metrics))  # unknown names fail before training starts
        return self

    def _check_numbers(self) -> None:
        """Every numeric setting is a finite number in its range (NaN fails explicitly); the
        names are the flags of `stylegen train` (library fields without a flag keep their name).
        None (the preset's default) passes: resolved() fills it in and validates again."""
        ints = {  # flag: (value, lowest allowed)
            "--batch": (self.batch, 1),
            "--batch-gpu": (self.batch_gpu, 1),
            "--max-size": (self.max_size, 1),
            "--threads": (self.threads, 1),
            "--snap": (self.snap, 1),
            "r1_interval": (self.r1_interval, 1),
            "pl_interval": (self.pl_interval, 1),
            "ada_interval": (self.ada_interval, 1),
            "pl_batch_shrink": (self.pl_batch_shrink, 1),
            "max_nonfinite": (self.max_nonfinite, 1),
            "--freeze-d": (self.freeze_d, 0),
            "--metrics-max-real": (self.metrics_max_real, 2),
        }
        for flag, (value, low) in ints.items():
            check_number(flag, value, integer=True, low=low, optional=True)
        check_number("--seed", self.seed, integer=True, low=0, high=2**32 - 1)
        check_number("--kimg", self.kimg, low=0, low_open=True)
        check_number("--minutes", self.minutes, low=0, low_open=True, optional=True)
        check_number("--tick", self.tick_kimg, low=0, low_open=True, optional=True)
        check_number("ada_kimg", self.ada_kimg, low=0, low_open=True)
        non_negative = {
            "--glr": self.glr,
            "--dlr": self.dlr,
            "--gamma": self.gamma,
            "--ema": self.ema_kimg,
            "ema_rampup": self.ema_rampup,
            "--pl-weight": self.pl_weight,
            "--blur-sigma": self.blur_init_sigma,
            "--blur-kimg": self.blur_fade_kimg,
            "--cond-ramp start": self.cond_start_kimg,
            "--cond-ramp end": self.cond_end_kimg,
        }
        for flag, value in non_negative.items():
            check_number(flag, value, low=0, optional=True)
        for flag, value in {
            "--p": self.aug_p,
            "--target": self.ada_target,
            "--mixing": self.style_mixing_prob,
            "pl_decay": self.pl_decay,
            "--lr-rampdown": self.lr_rampdown,
        }.items():
            check_number(flag, value, low=0, high=1, optional=flag in ("--mixing", "--lr-rampdown"))


# The `make demo` / `stylegen demo` recipe: class-conditional cpu32-fast on built-in
# Fashion-MNIST (one row per class in the sample grids), sized to train for about ten minutes on
# a 2-core CPU; see benchmarks/RESULTS.md for its FID. The unconditional recipe stays available
# as `--preset cpu32-fast` without --cond (FID@2k 41.7 at the same CPU time). Batch 16, not the
# preset's 8: with two threads the batch-8 bfloat16 step keeps the second core half idle (10.1 s
# per kimg against 6.9 at batch 16), so ten minutes hold 59 kimg at batch 8, 86 at 16, 105 at
# 24 or 117 at 32; of these, batch 16 scored best (FID@2k 59.3, 48.2, 49.6, 61.3, one run
# each; RESULTS.md). The preset's shared-fakes step with the folded gains and biases (4.8 s per
# kimg at batch 16 on the 2-core Xeon of 2026-12-06; 7.3 in the official order before the
# folding) fits 120 kimg in those ten minutes (RESULTS.md round 7).
# On a CPU without bfloat16 hardware (the AVX2 EPYC of 2026-12-06) the preset's --precision auto
# trains in float32 at 11.8 s per kimg (15-19 under hypervisor steal), so the ten-minute budget
# (`minutes`) ends it at 35-50 kimg (fresh clone: 35.1 kimg, FID@2k 67.7; RESULTS.md round 9);
# there `stylegen demo` trains at batch 8 instead (demo_config below; fresh clone: 38.3 kimg,
# FID@2k 54.7, round 10).
DEMO_CONFIG = TrainConfig(
    data="fashion-mnist",
    outdir="runs/demo",
    preset="cpu32-fast-cond",
    cond=True,
    batch=16,
    kimg=120.0,
    minutes=10.0,
    snap=10,
)

# Where `--precision auto` falls back to float32 on a CPU (no bfloat16 hardware), the batch-16
# argument above does not hold: the float32 step costs nearly as much per image at batch 8
# (12-17% more on the AVX2 EPYC), and twice the optimiser steps in the same ten minutes scored
# FID@2k 55.8 and 53.0 (seeds 0, 1; 40 and 37 kimg) against 69.6, 70.7 and 67.7 at batch 16
# (45, 32 and 35 kimg; RESULTS.md rounds 9-10).
DEMO_FLOAT32_CPU_BATCH = 8


def demo_config(device: str, bfloat16_hardware: bool) -> TrainConfig:
    """The demo recipe for `device`: DEMO_CONFIG, at batch DEMO_FLOAT32_CPU_BATCH on a CPU
    whose blocks run in float32 (`bfloat16_hardware`: models.precision.has_fast_bfloat16)."""
    cfg = dataclasses.replace(DEMO_CONFIG, device=device)
    if device == "cpu" and not bfloat16_hardware:
        cfg.batch = DEMO_FLOAT32_CPU_BATCH
    return cfg
