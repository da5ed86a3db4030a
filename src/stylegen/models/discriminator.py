"""StyleGAN2 discriminator (Karras et al. 2020) with class conditioning by projection.

Blocks halve the resolution with FIR-filtered stride-2 convolutions (`resnet`: residual blocks, the
paper's default; `skip`: an image pyramid fed in at every resolution; `orig`: plain). The 4x4
epilogue appends minibatch standard deviation (Karras et al. 2018), then a conv and two dense
layers. A conditional D maps the label c to `cmap` with a small mapping network and outputs the
projection <out(x), cmap> / sqrt(cmap_dim) (Miyato & Koyama 2018). Names match official snapshots.

`uncond_head` adds the class-agnostic term of Miyato & Koyama's projection discriminator that
StyleGAN2-ADA leaves out: logits = u(x) + lambda * <out(x), cmap> / sqrt(cmap_dim), with u a dense
layer on the same features. Transitional training (Shahbazi et al. 2022, "Collapse by
Conditioning") ramps lambda (`cond_weight` of forward) from 0 to 1, so D starts as an
unconditional discriminator and only later judges whether an image fits its class.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from stylegen.config import check_choice, check_network_sizes, check_resolution
from stylegen.errors import UserError
from stylegen.models.base import ConfiguredModule
from stylegen.models.layers import (
    DEFAULT_RESAMPLE_FILTER,
    Conv2dLayer,
    FullyConnectedLayer,
    MinibatchStdLayer,
)
from stylegen.models.mapping import MappingNetwork
from stylegen.models.precision import block_dtype, block_memory_format, fp16_resolution
from stylegen.models.registry import register_model
from stylegen.ops import downsample2d, setup_filter

__all__ = ["DISCRIMINATOR_ARCHITECTURES", "Discriminator", "DiscriminatorConfig"]

DISCRIMINATOR_ARCHITECTURES = ("orig", "skip", "resnet")


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
    uncond_head: bool = False  # class-agnostic logit beside the projection (conditional D only)

    def validate(self) -> DiscriminatorConfig:
        check_resolution(self.img_resolution)
        check_network_sizes(self)
        check_choice("discriminator architecture", self.architecture, DISCRIMINATOR_ARCHITECTURES)
        if self.mbstd_group_size < 0:
            raise UserError(f"mbstd_group_size {self.mbstd_group_size} must be >= 0")
        return self


class DiscriminatorBlock(nn.Module):
    def __init__(
        self,
        in_channels: int,
        tmp_channels: int,
        out_channels: int,
        resolution: int,
        img_channels: int,
        architecture: str = "resnet",
        activation: str = "lrelu",
        resample_filter: tuple[int, ...] = DEFAULT_RESAMPLE_FILTER,
        conv_clamp: float | None = None,
        use_fp16: bool = False,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.resolution = resolution
        self.architecture = architecture
        self.use_fp16 = use_fp16  # eligible for reduced precision (models/precision.py)
        self.reduced_precision = False
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        if in_channels == 0 or architecture == "skip":
            self.fromrgb = Conv2dLayer(
                img_channels,
                tmp_channels,
                kernel_size=1,
                activation=activation,
                conv_clamp=conv_clamp,
            )
        self.conv0 = Conv2dLayer(
            tmp_channels,
            tmp_channels,
            kernel_size=3,
            activation=activation,
            conv_clamp=conv_clamp,
        )
        self.conv1 = Conv2dLayer(
            tmp_channels,
            out_channels,
            kernel_size=3,
            activation=activation,
            down=2,
            resample_filter=resample_filter,
            conv_clamp=conv_clamp,
        )
        if architecture == "resnet":
            self.skip = Conv2dLayer(
                tmp_channels,
                out_channels,
                kernel_size=1,
                bias=False,
                down=2,
                resample_filter=resample_filter,
            )

    def forward(
        self, x: torch.Tensor | None, img: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        dtype, memory_format = block_dtype(self), block_memory_format(self)
        if x is not None:
            x = x.to(dtype=dtype, memory_format=memory_format)
        if self.in_channels == 0 or self.architecture == "skip":
            img = img.to(dtype=dtype, memory_format=memory_format)
            y = self.fromrgb(img)
            x = y if x is None else x + y
            img = downsample2d(img, self.resample_filter) if self.architecture == "skip" else None
        if self.architecture == "resnet":
            y = self.skip(x, gain=np.sqrt(0.5))
            x = self.conv0(x)
            x = self.conv1(x, gain=np.sqrt(0.5))
            x = y + x
        else:
            x = self.conv1(self.conv0(x))
        return x, img


class DiscriminatorEpilogue(nn.Module):
    def __init__(
        self,
        in_channels: int,
        cmap_dim: int,
        resolution: int,
        img_channels: int,
        architecture: str = "resnet",
        mbstd_group_size: int = 4,
        mbstd_num_channels: int = 1,
        activation: str = "lrelu",
        conv_clamp: float | None = None,
        uncond_head: bool = False,
    ) -> None:
        super().__init__()
        self.cmap_dim = cmap_dim
        self.architecture = architecture
        if architecture == "skip":
            self.fromrgb = Conv2dLayer(img_channels, in_channels, 1, activation=activation)
        self.mbstd = (
            MinibatchStdLayer(mbstd_group_size, mbstd_num_channels)
            if mbstd_num_channels > 0
            else None
        )
        self.conv = Conv2dLayer(
            in_channels + mbstd_num_channels,
            in_channels,
            kernel_size=3,
            activation=activation,
            conv_clamp=conv_clamp,
        )
        self.fc = FullyConnectedLayer(
            in_channels * resolution**2, in_channels, activation=activation
        )
        self.out = FullyConnectedLayer(in_channels, 1 if cmap_dim == 0 else cmap_dim)
        if uncond_head and cmap_dim > 0:
            self.out_uncond = FullyConnectedLayer(in_channels, 1)
        self.uncond_head = uncond_head and cmap_dim > 0

    def forward(
        self,
        x: torch.Tensor,
        img: torch.Tensor | None,
        cmap: torch.Tensor | None,
        cond_weight: float = 1.0,
    ) -> torch.Tensor:
        # The epilogue always runs in float32, whatever precision the blocks above used.
        x = x.to(dtype=torch.float32, memory_format=torch.contiguous_format)
        if self.architecture == "skip":
            x = x + self.fromrgb(img.to(dtype=torch.float32, memory_format=torch.contiguous_format))
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.conv(x)
        x = self.fc(x.flatten(1))
        if self.cmap_dim == 0:
            return self.out(x)
        proj = (self.out(x) * cmap).sum(dim=1, keepdim=True) * (1 / np.sqrt(self.cmap_dim))
        if cond_weight != 1:
            proj = proj * cond_weight
        return self.out_uncond(x) + proj if self.uncond_head else proj


@register_model("stylegan2.Discriminator")
class Discriminator(ConfiguredModule):
    """img [N, C, H, W] (and c [N, c_dim]) -> logits [N, 1]."""

    config_class = DiscriminatorConfig

    def __init__(self, config: DiscriminatorConfig) -> None:
        super().__init__()
        config.validate()
        self.config = config
        self.c_dim = config.c_dim
        self.img_resolution = config.img_resolution
        self.img_channels = config.img_channels
        log2 = int(np.log2(config.img_resolution))
        self.block_resolutions = [2**i for i in range(log2, 2, -1)]
        channels = {
            r: min(config.channel_base // r, config.channel_max)
            for r in self.block_resolutions + [4]
        }
        cmap_dim = channels[4] if config.cmap_dim is None else config.cmap_dim
        if config.c_dim == 0:
            cmap_dim = 0
        common = dict(
            img_channels=config.img_channels,
            architecture=config.architecture,
            conv_clamp=config.conv_clamp,
        )
        fp16_res = fp16_resolution(config.img_resolution, config.num_fp16_res)
        for res in self.block_resolutions:
            in_channels = channels[res] if res < config.img_resolution else 0
            block = DiscriminatorBlock(
                in_channels,
                channels[res],
                channels[res // 2],
                resolution=res,
                use_fp16=config.num_fp16_res > 0 and res >= fp16_res,
                **common,
            )
            setattr(self, f"b{res}", block)
        if config.c_dim > 0:
            self.mapping = MappingNetwork(
                z_dim=0,
                c_dim=config.c_dim,
                w_dim=cmap_dim,
                num_ws=None,
                w_avg_beta=None,
                num_layers=config.mapping_layers,
            )
        self.b4 = DiscriminatorEpilogue(
            channels[4],
            cmap_dim=cmap_dim,
            resolution=4,
            mbstd_group_size=config.mbstd_group_size,
            mbstd_num_channels=config.mbstd_num_channels,
            uncond_head=config.uncond_head,
            **common,
        )

    def forward(
        self, img: torch.Tensor, c: torch.Tensor | None = None, cond_weight: float = 1.0
    ) -> torch.Tensor:
        """Logits; `cond_weight` scales the projection (class) term, 1 for a trained D."""
        x = None
        for res in self.block_resolutions:
            x, img = getattr(self, f"b{res}")(x, img)
        cmap = self.mapping(None, c) if self.c_dim > 0 else None
        return self.b4(x, img, cmap, cond_weight)
