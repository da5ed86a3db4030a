"""ProGAN: the generator and discriminator of Karras, Aila, Laine & Lehtinen (2018), "Progressive
Growing of GANs for Improved Quality, Stability, and Variation", and the level of detail (lod) that
both ProGAN and StyleGAN (2019) networks grow by.

Generator: the latent (and one-hot label) is normalised to unit second moment, a dense layer makes a
4x4 map, then each resolution doubles with nearest up-sampling and two 3x3 convolutions, each
followed by a bias, leaky ReLU (0.2) and pixel-wise feature normalisation; a 1x1 toRGB per
resolution makes the image. Discriminator: a 1x1 fromRGB per resolution, two 3x3 convolutions per
resolution and box-filter down-sampling, then minibatch standard deviation, a 3x3 convolution and
two dense layers at 4x4. Every weight has an equalised learning rate (models/layers.py,
`EqualizedConv2d`). StyleGAN (2019) uses this discriminator with the [1, 2, 1] blur before each
down-sampling convolution (`blur=True`).

Level of detail. `lod` counts the resolutions not yet grown: 0 is the full `img_resolution`, lod
k the resolution `img_resolution / 2**k`; a fractional lod is a fade. With lod in (k, k + 1) the
newest block, at `img_resolution / 2**k`, is faded in with weight alpha = 1 - (lod - k): the
generator outputs alpha * toRGB(new block) + (1 - alpha) * up-sampled toRGB of the block below,
and the discriminator feeds alpha * block(fromRGB(x)) + (1 - alpha) * fromRGB(down-sampled x) to
the blocks below, as the official "linear" structure does (blocks above the current resolution
are not run; their contribution there is zero). The lod is a buffer of each network, so it is
saved in checkpoints: a generator saved in the middle of growing still makes `img_resolution`
images, showing its current resolution up-sampled (nearest), exactly as the official snapshots
do. Conditional networks (c_dim > 0) use the label switch of StyleGAN's `D_basic`: D outputs one
score per class and the label picks it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from stylegen.config import check_resolution
from stylegen.errors import UserError
from stylegen.models.base import ConfiguredModule
from stylegen.models.layers import (
    SQRT2,
    EqualizedConv2d,
    EqualizedLinear,
    MinibatchStdLayer,
    blur2d,
    downscale2d,
    lrelu,
    normalize_2nd_moment,
    upscale2d,
)
from stylegen.models.registry import register_model

__all__ = [
    "Discriminator",
    "Generator",
    "ProGANDiscriminatorConfig",
    "ProGANGeneratorConfig",
    "lod_resolution",
    "max_lod",
]


def max_lod(img_resolution: int) -> int:
    """The lod of the 4x4 start: log2(img_resolution) - 2."""
    return int(round(math.log2(img_resolution))) - 2


def lod_resolution(lod: float, img_resolution: int) -> tuple[int, float]:
    """(resolution of the newest active block, its fade-in weight alpha) at level of detail lod.

    lod is clipped to [0, max_lod]. An integer lod k gives img_resolution / 2**k with alpha 1;
    lod in (k, k + 1) fades in the block at img_resolution / 2**k with alpha = 1 - (lod - k).
    """
    top = max_lod(img_resolution)
    lod = min(max(float(lod), 0.0), float(top))
    level = math.floor(lod)
    return img_resolution >> level, 1.0 - (lod - level)


def _channels(channel_base: int, channel_max: int):
    """Feature maps at resolution r: min(channel_base / r, channel_max). channel_base 16384 is the
    official fmap_base 8192 (whose nf(stage) counts stages, not pixels)."""
    return lambda res: max(min(channel_base // res, channel_max), 1)


def _check_common(cfg) -> None:
    check_resolution(cfg.img_resolution)
    if cfg.img_channels not in (1, 3, 4):
        raise UserError(f"img_channels {cfg.img_channels} must be 1, 3 or 4")
    if cfg.c_dim < 0:
        raise UserError(f"c_dim {cfg.c_dim} must be >= 0")
    for name in ("channel_base", "channel_max"):
        if getattr(cfg, name) < 1:
            raise UserError(f"{name} {getattr(cfg, name)} must be a positive integer")


class Growing:
    """The level-of-detail buffer a progressive network carries (see the module docstring)."""

    img_resolution: int
    lod: torch.Tensor

    def set_lod(self, lod: float) -> None:
        """Show the networks the level of detail `lod` from now on (saved with the weights)."""
        self.lod.fill_(min(max(float(lod), 0.0), float(max_lod(self.img_resolution))))

    def current_resolution(self, lod: float | None = None) -> tuple[int, float]:
        """(resolution, alpha) at `lod`, or at the network's own lod."""
        return lod_resolution(float(self.lod) if lod is None else lod, self.img_resolution)


# ---------------------------------------------------------------------------------------------
# Generator


@dataclass
class ProGANGeneratorConfig:
    """ProGAN generator (G_paper); defaults are the paper's: 512-d latent, fmap_base 8192."""

    z_dim: int = 512
    c_dim: int = 0
    img_resolution: int = 32
    img_channels: int = 3
    channel_base: int = 16384
    channel_max: int = 512
    use_pixelnorm: bool = True

    def validate(self) -> ProGANGeneratorConfig:
        _check_common(self)
        if self.z_dim < 1:
            raise UserError(f"z_dim {self.z_dim} must be a positive integer")
        return self


class _GBlock(nn.Module):
    """One resolution of G: nearest up-sampling and two 3x3 convolutions, each + bias, leaky ReLU
    and pixel norm; the 4x4 block starts from a dense layer on the latent instead. Plus the
    resolution's 1x1 toRGB."""

    def __init__(
        self, in_channels: int, channels: int, img_channels: int, use_pixelnorm: bool, first: bool
    ) -> None:
        super().__init__()
        self.use_pixelnorm = use_pixelnorm
        self.channels = channels
        self.first = first
        if first:  # latent -> [channels, 4, 4], gain sqrt(2)/4 as in the official code
            self.dense = EqualizedLinear(in_channels, channels * 16, gain=SQRT2 / 4, bias=False)
            self.bias = nn.Parameter(torch.zeros([channels]))
            self.conv = EqualizedConv2d(channels, channels, 3)
        else:
            self.conv0 = EqualizedConv2d(in_channels, channels, 3)
            self.conv1 = EqualizedConv2d(channels, channels, 3)
        self.to_rgb = EqualizedConv2d(channels, img_channels, 1, gain=1)

    def _pn(self, x: torch.Tensor) -> torch.Tensor:
        return normalize_2nd_moment(x) if self.use_pixelnorm else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.first:
            x = self.dense(x).view(-1, self.channels, 4, 4)
            x = self._pn(lrelu(x + self.bias.view(1, -1, 1, 1)))
            return self._pn(lrelu(self.conv(x)))
        x = self._pn(lrelu(self.conv0(upscale2d(x))))
        return self._pn(lrelu(self.conv1(x)))


@register_model("progan.Generator")
class Generator(Growing, ConfiguredModule):
    """z [N, z_dim] (and c [N, c_dim]) -> images [N, C, img_resolution, img_resolution] at the
    network's level of detail."""

    config_class = ProGANGeneratorConfig

    def __init__(self, config: ProGANGeneratorConfig) -> None:
        super().__init__()
        config.validate()
        self.config = config
        self.z_dim = config.z_dim
        self.c_dim = config.c_dim
        self.img_resolution = config.img_resolution
        self.img_channels = config.img_channels
        nf = _channels(config.channel_base, config.channel_max)
        self.block_resolutions = [2**i for i in range(2, max_lod(config.img_resolution) + 3)]
        for res in self.block_resolutions:
            first = res == 4
            in_channels = config.z_dim + config.c_dim if first else nf(res // 2)
            block = _GBlock(in_channels, nf(res), config.img_channels, config.use_pixelnorm, first)
            setattr(self, f"b{res}", block)
        self.register_buffer("lod", torch.zeros([]))

    def forward(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        noise_mode: str = "random",
        update_emas: bool = False,
        lod: float | None = None,
        full_resolution: bool = True,
    ) -> torch.Tensor:
        """Images at level of detail `lod` (default: the network's); `full_resolution` False
        returns them at the current resolution instead of up-sampled to img_resolution.
        `noise_mode` and `update_emas` are accepted for the common generator interface (ProGAN
        has neither noise inputs nor running averages); it has no W space to truncate in."""
        if truncation_psi != 1:
            raise UserError(
                f"truncation psi {truncation_psi}: a ProGAN generator has no W space to truncate "
                "in; leave --trunc at 1 (StyleGAN networks support truncation)"
            )
        res, alpha = self.current_resolution(lod)
        return self.render(z, c, res, alpha, full_resolution)

    def render(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None,
        resolution: int,
        alpha: float,
        full_resolution: bool = True,
    ) -> torch.Tensor:
        """Images from the blocks up to `resolution`, the newest faded in with weight `alpha`."""
        x = z.to(torch.float32)
        if self.c_dim:
            if c is None or c.shape[1] != self.c_dim:
                raise ValueError(f"a conditional generator needs c of shape [N, {self.c_dim}]")
            x = torch.cat([x, c.to(torch.float32)], dim=1)
        x = normalize_2nd_moment(x)  # "normalize_latents" of the official G_paper
        prev = None
        for res in self.block_resolutions:
            if res > resolution:
                break
            prev, x = x, getattr(self, f"b{res}")(x)
        img = getattr(self, f"b{resolution}").to_rgb(x)
        if alpha < 1 and resolution > 4:
            low = getattr(self, f"b{resolution // 2}").to_rgb(prev)
            img = torch.lerp(upscale2d(low), img, alpha)
        if full_resolution:
            img = upscale2d(img, self.img_resolution // resolution)
        return img


# ---------------------------------------------------------------------------------------------
# Discriminator


@dataclass
class ProGANDiscriminatorConfig:
    """ProGAN discriminator (D_paper); `blur=True` is StyleGAN's D_basic."""

    c_dim: int = 0
    img_resolution: int = 32
    img_channels: int = 3
    channel_base: int = 16384
    channel_max: int = 512
    mbstd_group_size: int = 4
    mbstd_num_channels: int = 1
    blur: bool = False

    def validate(self) -> ProGANDiscriminatorConfig:
        _check_common(self)
        if self.mbstd_group_size < 0 or self.mbstd_num_channels < 1:
            raise UserError(
                f"mbstd_group_size {self.mbstd_group_size} must be >= 0 (0 or 1: off) and "
                f"mbstd_num_channels {self.mbstd_num_channels} >= 1"
            )
        return self


class _DBlock(nn.Module):
    """One resolution of D: fromRGB (used when the images enter here), 3x3 conv, [blur,] 3x3
    conv + box down-sampling, each + bias and leaky ReLU."""

    def __init__(self, img_channels: int, channels: int, out_channels: int, blur: bool) -> None:
        super().__init__()
        self.blur = blur
        self.from_rgb = EqualizedConv2d(img_channels, channels, 1)
        self.conv0 = EqualizedConv2d(channels, channels, 3)
        self.conv1 = EqualizedConv2d(channels, out_channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = lrelu(self.conv0(x))
        if self.blur:
            x = blur2d(x)
        # The bias is constant per channel, so adding it before the box filter is the same.
        return lrelu(downscale2d(self.conv1(x)))


class _DEpilogue(nn.Module):
    """4x4: fromRGB, minibatch stddev, 3x3 conv, dense, dense to the score(s)."""

    def __init__(self, cfg: ProGANDiscriminatorConfig, channels: int, hidden: int) -> None:
        super().__init__()
        self.from_rgb = EqualizedConv2d(cfg.img_channels, channels, 1)
        use_mbstd = cfg.mbstd_group_size > 1
        self.mbstd = (
            MinibatchStdLayer(cfg.mbstd_group_size, cfg.mbstd_num_channels) if use_mbstd else None
        )
        extra = cfg.mbstd_num_channels if use_mbstd else 0
        self.conv = EqualizedConv2d(channels + extra, channels, 3)
        self.fc = EqualizedLinear(channels * 16, hidden)
        self.out = EqualizedLinear(hidden, max(cfg.c_dim, 1), gain=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = lrelu(self.conv(x))
        x = lrelu(self.fc(x.flatten(1)))
        return self.out(x)


@register_model("progan.Discriminator")
class Discriminator(Growing, ConfiguredModule):
    """img [N, C, H, W] (H a power of two between the current resolution and img_resolution; and
    c [N, c_dim]) -> scores [N, 1]."""

    config_class = ProGANDiscriminatorConfig

    def __init__(self, config: ProGANDiscriminatorConfig) -> None:
        super().__init__()
        config.validate()
        self.config = config
        self.c_dim = config.c_dim
        self.img_resolution = config.img_resolution
        self.img_channels = config.img_channels
        nf = _channels(config.channel_base, config.channel_max)
        self.block_resolutions = [2**i for i in range(max_lod(config.img_resolution) + 2, 2, -1)]
        for res in self.block_resolutions:
            setattr(
                self, f"b{res}", _DBlock(config.img_channels, nf(res), nf(res // 2), config.blur)
            )
        self.b4 = _DEpilogue(config, nf(4), nf(2))
        self.register_buffer("lod", torch.zeros([]))

    def forward(
        self, img: torch.Tensor, c: torch.Tensor | None = None, lod: float | None = None
    ) -> torch.Tensor:
        res, alpha = self.current_resolution(lod)
        return self.score(img, c, res, alpha)

    def score(
        self, img: torch.Tensor, c: torch.Tensor | None, resolution: int, alpha: float
    ) -> torch.Tensor:
        """Scores with the images entering at `resolution`, the block there faded in with
        weight `alpha`; larger images are box-filtered down to `resolution` first."""
        size = img.shape[-1]
        if size < resolution or size % resolution:
            raise ValueError(f"images of {size}x{size} cannot enter D at {resolution}x{resolution}")
        img = downscale2d(img.to(self.b4.out.weight.dtype), size // resolution)
        top = getattr(self, f"b{resolution}")
        x = lrelu(top.from_rgb(img))
        if resolution > 4:
            x = top(x)
            if alpha < 1:
                low = getattr(self, f"b{resolution // 2}").from_rgb(downscale2d(img))
                x = torch.lerp(lrelu(low), x, alpha)
            for res in self.block_resolutions:
                if res < resolution:
                    x = getattr(self, f"b{res}")(x)
        x = self.b4(x)
        if self.c_dim:
            if c is None or c.shape[1] != self.c_dim:
                raise ValueError(f"a conditional discriminator needs c of shape [N, {self.c_dim}]")
            x = (x * c.to(x.dtype)).sum(dim=1, keepdim=True)
        return x
