"""CycleGAN networks (Zhu, Park, Isola & Efros 2017, "Unpaired Image-to-Image Translation using
Cycle-Consistent Adversarial Networks"): the ResNet generator and the 70x70 PatchGAN discriminator.

Generator (the paper's appendix 7.2, after Johnson et al. 2016): c7s1-64, d128, d256, N residual
blocks R256 (9 at 256 px, 6 at 128 px and below), u128, u64, c7s1-3, tanh. Convolutions that keep
the size use reflection padding; every conv but the last is followed by instance normalisation and
ReLU. Upsampling uses transposed convolutions (stride 2, output padding 1).

Discriminator (the PatchGAN of pix2pix, Isola et al. 2017): C64-C128-C256-C512 with 4x4 kernels
(stride 2 for the first three, 1 for the last), then a 4x4 conv to one channel. Instance norm on all
but the first block, leaky ReLU 0.2. It outputs a map of logits, one per overlapping input patch;
with three strided layers each logit sees 70x70 input pixels (`patchgan_receptive_field`).

Both networks carry their config dataclass, so a checkpoint rebuilds each one alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from stylegen.errors import UserError
from stylegen.models.base import ConfiguredModule
from stylegen.models.registry import register_model

__all__ = [
    "DIRECTIONS",
    "PatchDiscriminator",
    "PatchDiscriminatorConfig",
    "ResnetGenerator",
    "ResnetGeneratorConfig",
    "default_num_blocks",
    "patchgan_receptive_field",
]

# A CycleGAN run or snapshot holds one generator per direction, in these sub-folders.
DIRECTIONS = {"a2b": "G_AB", "b2a": "G_BA"}


def default_num_blocks(resolution: int) -> int:
    """The paper's choice: 9 residual blocks for 256x256 training images, 6 for 128 and below."""
    return 9 if resolution >= 256 else 6


def _check_channels(what: str, value: int) -> None:
    if value not in (1, 3):
        raise UserError(f"{what} {value} must be 1 (grey) or 3 (RGB)")


@dataclass
class ResnetGeneratorConfig:
    """ResNet translation generator; `img_resolution` is the training crop (for information)."""

    in_channels: int = 3
    out_channels: int = 3
    ngf: int = 64  # channels of the first layer; doubled by each downsampling
    num_blocks: int = 9
    num_downsampling: int = 2
    img_resolution: int = 256
    direction: str = "a2b"  # which way this generator translates within its CycleGAN pair

    def validate(self) -> ResnetGeneratorConfig:
        _check_channels("in_channels", self.in_channels)
        _check_channels("out_channels", self.out_channels)
        for name in ("ngf", "num_blocks", "num_downsampling", "img_resolution"):
            if getattr(self, name) < 1:
                raise UserError(f"{name} {getattr(self, name)} must be a positive integer")
        if self.direction not in ("a2b", "b2a"):
            raise UserError(f"direction {self.direction!r} must be a2b or b2a")
        return self


@dataclass
class PatchDiscriminatorConfig:
    """PatchGAN: `num_layers` strided 4x4 conv blocks (3 gives the 70x70 discriminator)."""

    in_channels: int = 3
    ndf: int = 64
    num_layers: int = 3

    def validate(self) -> PatchDiscriminatorConfig:
        _check_channels("in_channels", self.in_channels)
        if self.ndf < 1 or self.num_layers < 1:
            raise UserError(f"ndf {self.ndf} and num_layers {self.num_layers} must be >= 1")
        return self


def _norm(channels: int) -> nn.Module:
    # No affine parameters and no running statistics, as in the paper's code: the output is the
    # same in train and eval mode, so a translation does not depend on the batch it is in.
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


class ResidualBlock(nn.Module):
    """x + (reflect-pad, conv3, IN, ReLU, reflect-pad, conv3, IN)(x)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            _norm(channels),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            _norm(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


@register_model("cyclegan.ResnetGenerator")
class ResnetGenerator(ConfiguredModule):
    """Image [N, in_channels, H, W] in [-1, 1] -> image [N, out_channels, H, W] in [-1, 1].

    H and W must be multiples of 2**num_downsampling (4 by default).
    """

    config_class = ResnetGeneratorConfig

    def __init__(self, config: ResnetGeneratorConfig) -> None:
        super().__init__()
        self.config = cfg = config.validate()
        ch = cfg.ngf
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(cfg.in_channels, ch, 7),
            _norm(ch),
            nn.ReLU(True),
        ]
        for _ in range(cfg.num_downsampling):
            layers += [nn.Conv2d(ch, ch * 2, 3, stride=2, padding=1), _norm(ch * 2), nn.ReLU(True)]
            ch *= 2
        layers += [ResidualBlock(ch) for _ in range(cfg.num_blocks)]
        for _ in range(cfg.num_downsampling):
            layers += [
                nn.ConvTranspose2d(ch, ch // 2, 3, stride=2, padding=1, output_padding=1),
                _norm(ch // 2),
                nn.ReLU(True),
            ]
            ch //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ch, cfg.out_channels, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    @property
    def size_multiple(self) -> int:
        return 2**self.config.num_downsampling

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@register_model("cyclegan.PatchDiscriminator")
class PatchDiscriminator(ConfiguredModule):
    """Image [N, C, H, W] -> patch logits [N, 1, H', W'] (least-squares targets 1 real / 0 fake)."""

    config_class = PatchDiscriminatorConfig

    def __init__(self, config: PatchDiscriminatorConfig) -> None:
        super().__init__()
        self.config = cfg = config.validate()
        leaky = 0.2
        layers: list[nn.Module] = [
            nn.Conv2d(cfg.in_channels, cfg.ndf, 4, stride=2, padding=1),
            nn.LeakyReLU(leaky, True),
        ]
        ch = cfg.ndf
        for i in range(1, cfg.num_layers + 1):
            out = cfg.ndf * min(2**i, 8)
            stride = 2 if i < cfg.num_layers else 1
            layers += [
                nn.Conv2d(ch, out, 4, stride=stride, padding=1),
                _norm(out),
                nn.LeakyReLU(leaky, True),
            ]
            ch = out
        layers.append(nn.Conv2d(ch, 1, 4, stride=1, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def patchgan_receptive_field(num_layers: int = 3) -> int:
    """Input pixels (per side) seen by one output logit of a PatchGAN with `num_layers`.

    Walk back from one output pixel: through a conv of kernel k and stride s a field of r pixels
    grows to r * s + (k - s). The layers are `num_layers` 4x4 stride-2 convs, then two 4x4
    stride-1 convs; for num_layers = 3 this gives 70.
    """
    kernels_strides = [(4, 2)] * num_layers + [(4, 1), (4, 1)]
    field = 1
    for k, s in reversed(kernels_strides):
        field = field * s + (k - s)
    return field
