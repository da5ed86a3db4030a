"""Configuration dataclasses of the StyleGAN networks and the dataclass <-> JSON helpers.

Every checkpoint stores its model config as JSON, so a checkpoint alone rebuilds its model. Named
training presets live with their training family (training/stylegan_config.py).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from stylegen.errors import UserError

SYNTHESIS_ARCHITECTURES = ("orig", "skip", "resnet")
DISCRIMINATOR_ARCHITECTURES = ("orig", "skip", "resnet")


# torch.distributed backends a training run may ask for ("auto": NCCL on CUDA, gloo on CPU).
DIST_BACKENDS = ("auto", "gloo", "nccl")


def _check_resolution(resolution: int) -> None:
    if not isinstance(resolution, int) or resolution < 4 or resolution & (resolution - 1):
        raise UserError(
            f"resolution {resolution!r} is not a power of two >= 4; "
            "resize the data with `stylegen dataset --resolution 64` (or 32, 128, ...)"
        )


def _check_choice(what: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise UserError(f"unknown {what} {value!r}; choose one of: {', '.join(choices)}")


@dataclass
class GeneratorConfig:
    """StyleGAN2 generator: mapping network (z, c) -> ws plus synthesis network ws -> image."""

    z_dim: int = 512
    c_dim: int = 0
    w_dim: int = 512
    img_resolution: int = 32
    img_channels: int = 3
    mapping_layers: int = 8
    mapping_lr_multiplier: float = 0.01
    w_avg_beta: float = 0.995
    channel_base: int = 32768
    channel_max: int = 512
    architecture: str = "skip"
    conv_clamp: float | None = 256
    # Blocks at the num_fp16_res highest resolutions may run in bfloat16 (models/precision.py);
    # only when reduced precision is switched on (training --precision mixed), never by default.
    num_fp16_res: int = 0
    use_noise: bool = True

    def validate(self) -> GeneratorConfig:
        _check_resolution(self.img_resolution)
        _check_choice("generator architecture", self.architecture, SYNTHESIS_ARCHITECTURES)
        if self.img_channels not in (1, 3, 4):
            raise UserError(f"img_channels {self.img_channels} must be 1, 3 or 4")
        for name in ("z_dim", "w_dim", "channel_base", "channel_max", "mapping_layers"):
            if getattr(self, name) < 1:
                raise UserError(f"{name} {getattr(self, name)} must be a positive integer")
        if self.c_dim < 0:
            raise UserError(f"c_dim {self.c_dim} must be >= 0")
        return self


@dataclass
class DiscriminatorConfig:
    """StyleGAN2 discriminator with minibatch-std epilogue and projection conditioning."""

    c_dim: int = 0
    img_resolution: int = 32
    img_channels: int = 3
    architecture: str = "resnet"
    channel_base: int = 32768
    channel_max: int = 512
    conv_clamp: float | None = 256
    num_fp16_res: int = 0
    cmap_dim: int | None = None
    mapping_layers: int = 8  # mapping of the class label c (official default)
    mbstd_group_size: int = 4
    mbstd_num_channels: int = 1

    def validate(self) -> DiscriminatorConfig:
        _check_resolution(self.img_resolution)
        _check_choice("discriminator architecture", self.architecture, DISCRIMINATOR_ARCHITECTURES)
        if self.mbstd_group_size < 0:
            raise UserError(f"mbstd_group_size {self.mbstd_group_size} must be >= 0")
        return self


@dataclass
class StyleGAN3GeneratorConfig:
    """StyleGAN3 (alias-free) generator; defaults are the paper's stylegan3-t (Karras et al. 2021).

    stylegan3-r: conv_kernel=1, use_radial_filters=True, channel_base and channel_max doubled.
    """

    z_dim: int = 512
    c_dim: int = 0
    w_dim: int = 512
    img_resolution: int = 256
    img_channels: int = 3
    mapping_layers: int = 2
    mapping_lr_multiplier: float = 0.01
    w_avg_beta: float = 0.998
    channel_base: int = 32768
    channel_max: int = 512
    num_layers: int = 14  # synthesis layers, excluding the Fourier input and ToRGB
    num_critical: int = 2  # critically sampled layers at the end
    first_cutoff: float = 2.0
    first_stopband: float = 2**2.1
    last_stopband_rel: float = 2**0.3
    margin_size: int = 10
    output_scale: float = 0.25
    num_fp16_res: int = 4  # kept for interop with official snapshots; compute stays float32
    conv_kernel: int = 3
    filter_size: int = 6
    lrelu_upsampling: int = 2
    use_radial_filters: bool = False
    conv_clamp: float | None = 256
    magnitude_ema_beta: float = 0.999

    def validate(self) -> StyleGAN3GeneratorConfig:
        r = self.img_resolution
        if not isinstance(r, int) or r < 4 or r & (r - 1):
            raise UserError(
                f"resolution {r!r} cannot be served by the StyleGAN3 filter design: its sampling "
                "rates are powers of two, and the last layers must sample the image at exactly "
                "its resolution, so it needs a power of two >= 4; resize the data with "
                "`stylegen dataset --resolution 64` (or 32, 128, ...)"
            )
        # The last layers have channel_base / 2 / (resolution / 2) channels before the cap.
        if round(min(self.channel_base / r, self.channel_max)) < 1:
            raise UserError(
                f"channel_base {self.channel_base} leaves 0 channels at resolution {r}; "
                f"use channel_base >= {r // 2 + 1}"
            )
        if self.img_channels not in (1, 3, 4):
            raise UserError(f"img_channels {self.img_channels} must be 1, 3 or 4")
        for name in ("z_dim", "w_dim", "channel_base", "channel_max", "mapping_layers"):
            if getattr(self, name) < 1:
                raise UserError(f"{name} {getattr(self, name)} must be a positive integer")
        if self.c_dim < 0:
            raise UserError(f"c_dim {self.c_dim} must be >= 0")
        if not 0 <= self.num_critical < self.num_layers:
            raise UserError(
                f"num_critical {self.num_critical} must be >= 0 and below num_layers "
                f"{self.num_layers}"
            )
        if self.conv_kernel < 1 or self.filter_size < 1 or self.lrelu_upsampling < 1:
            raise UserError("conv_kernel, filter_size and lrelu_upsampling must be >= 1")
        return self


def config_to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def config_from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Rebuild a config dataclass, rejecting unknown keys with a clear message."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise UserError(
            f"{cls.__name__} has no field(s) {', '.join(unknown)}; "
            "the checkpoint was written by a newer stylegen: upgrade stylegen"
        )
    return cls(**data)
