"""Single-image super-resolution networks: SRCNN (Dong, Loy, He & Tang 2014, "Learning a Deep
Convolutional Network for Image Super-Resolution") and ESPCN (Shi et al. 2016, "Real-Time Single
Image and Video Super-Resolution Using an Efficient Sub-Pixel Convolutional Neural Network").

- SRCNN works on the bicubic-up-sampled image: 9x9 conv to 64 maps, ReLU, 1x1 conv to 32, ReLU,
  5x5 conv to the image (the paper's 9-1-5 network); for colour images on all channels at once.
- ESPCN works on the low-resolution image: 5x5 conv to 64, tanh, 3x3 to 32, tanh, 3x3 to
  C * r^2 maps, then the sub-pixel shuffle to the r-times larger image (the paper's 5-3-3).

Both take and return float images in [-1, 1] ([N, C, h, w] -> [N, C, h r, w r]). Convolutions pad
by replicating the border so outputs keep the input's size. With `residual` (the default) each
network adds its output to the bicubic up-sampling and its last layer starts at zero: training
starts exactly at bicubic quality, which on a CPU budget of minutes matters more than anything
else (the global residual of VDSR, Kim et al. 2016). `residual=False` is the papers' networks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from stylegen.errors import UserError
from stylegen.models.base import ConfiguredModule
from stylegen.models.registry import register_model
from stylegen.ops.resize import bicubic_up, pixel_shuffle

__all__ = ["ESPCN", "ESPCNConfig", "SCALES", "SRCNN", "SRCNNConfig"]

SCALES = (2, 3, 4)


# Bounds checked before any allocation, so an edited config.json cannot ask for terabytes.
MAX_FILTERS = 4096
MAX_KERNEL = 31


def _check(name: str, scale: int, channels: int, filters: dict[str, int], kernels: dict[str, int]):
    if scale not in SCALES:
        raise UserError(f"{name}: scale {scale} is not supported; use 2, 3 or 4")
    if channels not in (1, 3):
        raise UserError(f"{name}: img_channels {channels} must be 1 (grey) or 3 (RGB)")
    for field, value in filters.items():
        if not 1 <= value <= MAX_FILTERS:
            raise UserError(f"{name}: {field} {value} must be between 1 and {MAX_FILTERS}")
    for field, value in kernels.items():
        if not 1 <= value <= MAX_KERNEL:
            raise UserError(f"{name}: {field} {value} must be between 1 and {MAX_KERNEL}")


def _conv(cin: int, cout: int, k: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, padding=k // 2, padding_mode="replicate")


@dataclass
class SRCNNConfig:
    scale: int = 3
    img_channels: int = 1
    n1: int = 64  # filters of the patch extraction layer
    n2: int = 32  # filters of the non-linear mapping layer
    f1: int = 9
    f2: int = 1
    f3: int = 5
    residual: bool = True

    def validate(self) -> SRCNNConfig:
        filters = {"n1": self.n1, "n2": self.n2}
        kernels = {"f1": self.f1, "f2": self.f2, "f3": self.f3}
        _check("SRCNN", self.scale, self.img_channels, filters, kernels)
        return self


@dataclass
class ESPCNConfig:
    scale: int = 3
    img_channels: int = 1
    n1: int = 64
    n2: int = 32
    f1: int = 5
    f2: int = 3
    f3: int = 3
    residual: bool = True

    def validate(self) -> ESPCNConfig:
        filters = {"n1": self.n1, "n2": self.n2}
        kernels = {"f1": self.f1, "f2": self.f2, "f3": self.f3}
        _check("ESPCN", self.scale, self.img_channels, filters, kernels)
        return self


class _Upscaler(ConfiguredModule):
    """What both networks share: scale, channels, the bicubic residual, the context size."""

    def _init_last(self, last: nn.Conv2d) -> None:
        if self.config.residual:  # start at bicubic: the correction is zero
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)

    @property
    def scale(self) -> int:
        return int(self.config.scale)

    @property
    def img_channels(self) -> int:
        return int(self.config.img_channels)

    @property
    def lr_context(self) -> int:
        """Low-resolution pixels on each side that can change an output pixel (the receptive
        field's radius, bicubic support included): tiles overlapping this much join exactly."""
        c = self.config
        radius = (c.f1 // 2) + (c.f2 // 2) + (c.f3 // 2)
        return 2 + (math.ceil(radius / self.scale) if isinstance(self, SRCNN) else radius)


@register_model("srcnn.SRCNN")
class SRCNN(_Upscaler):
    config_class = SRCNNConfig

    def __init__(self, config: SRCNNConfig) -> None:
        super().__init__()
        self.config = config.validate()
        c = config
        self.body = nn.Sequential(
            _conv(c.img_channels, c.n1, c.f1),
            nn.ReLU(inplace=True),
            _conv(c.n1, c.n2, c.f2),
            nn.ReLU(inplace=True),
            _conv(c.n2, c.img_channels, c.f3),
        )
        self._init_last(self.body[-1])

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        up = bicubic_up(lr, self.scale)
        out = self.body(up)
        return up + out if self.config.residual else out


@register_model("espcn.ESPCN")
class ESPCN(_Upscaler):
    config_class = ESPCNConfig

    def __init__(self, config: ESPCNConfig) -> None:
        super().__init__()
        self.config = config.validate()
        c = config
        self.body = nn.Sequential(
            _conv(c.img_channels, c.n1, c.f1),
            nn.Tanh(),
            _conv(c.n1, c.n2, c.f2),
            nn.Tanh(),
            _conv(c.n2, c.img_channels * c.scale**2, c.f3),
        )
        self._init_last(self.body[-1])

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        out = pixel_shuffle(self.body(lr), self.scale)
        return bicubic_up(lr, self.scale) + out if self.config.residual else out
