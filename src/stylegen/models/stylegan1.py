"""StyleGAN: the style-based generator of Karras, Laine & Aila (2019), "A Style-Based Generator
Architecture for Generative Adversarial Networks" (the official TF code's G_style).

Mapping: z (concatenated with an embedded label) is normalised to unit second moment and passed
through `mapping_layers` dense layers (leaky ReLU, learning-rate multiplier 0.01) to w, broadcast
to one w per synthesis layer. A running mean `w_avg` (decay 0.995) is the centre of the truncation
trick, which by default applies to the first `truncation_cutoff` = 8 ws (the paper uses psi 0.7).

Synthesis: a learned 4x4 constant, then two layers per resolution. Each layer: [nearest
up-sampling, 3x3 convolution, [1, 2, 1] blur (first layer of a resolution) | 3x3 convolution],
then per-pixel noise scaled by a learned per-channel strength, bias, leaky ReLU, instance
normalisation and AdaIN: x * (y_s + 1) + y_b with (y_s, y_b) an affine map of that layer's w (the
scale is biased to 1). A 1x1 toRGB per resolution; the level of detail grows and fades as in
ProGAN (models/progan.py), and a network saved mid-growth renders its current resolution
up-sampled. The discriminator is ProGAN's with the blur (`progan.Discriminator`, `blur=True`).

The interface is the StyleGAN2 Generator's (models/stylegan2.py): `mapping(z, c, truncation_psi=,
truncation_cutoff=)` -> ws [N, num_ws, w_dim], `synthesis(ws, noise_mode=)`, blocks `b{res}` with
style layers `conv0` / `conv1` (the 4x4 block's `conv0` is the constant's epilogue) whose `affine`
maps w to the style and whose `noise_const` buffer is the fixed noise of `noise_mode="const"`;
ws index i drives the layer at 4 * 2**(i // 2) pixels, as in StyleGAN2.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from stylegen.config import check_resolution
from stylegen.errors import UserError
from stylegen.models.base import ConfiguredModule
from stylegen.models.layers import (
    EqualizedConv2d,
    EqualizedLinear,
    blur2d,
    lrelu,
    normalize_2nd_moment,
    upscale2d,
)
from stylegen.models.progan import Growing, max_lod
from stylegen.models.registry import register_model

__all__ = [
    "Generator",
    "MappingNetwork",
    "StyleGAN1GeneratorConfig",
    "SynthesisNetwork",
    "adain",
    "instance_norm",
]

NOISE_MODES = ("random", "const", "none")


@dataclass
class StyleGAN1GeneratorConfig:
    """StyleGAN (2019) generator; defaults are the paper's (FFHQ config, 512-d z and w)."""

    z_dim: int = 512
    c_dim: int = 0
    w_dim: int = 512
    img_resolution: int = 32
    img_channels: int = 3
    mapping_layers: int = 8
    mapping_lr_multiplier: float = 0.01
    w_avg_beta: float = 0.995
    channel_base: int = 16384  # the official fmap_base 8192 (see models/progan.py)
    channel_max: int = 512
    use_noise: bool = True
    blur: bool = True  # the [1, 2, 1] filter after each up-sampling convolution
    truncation_cutoff: int | None = 8  # ws the truncation trick applies to by default (None: all)

    def validate(self) -> StyleGAN1GeneratorConfig:
        check_resolution(self.img_resolution)
        if self.img_channels not in (1, 3, 4):
            raise UserError(f"img_channels {self.img_channels} must be 1, 3 or 4")
        for name in ("z_dim", "w_dim", "channel_base", "channel_max", "mapping_layers"):
            if getattr(self, name) < 1:
                raise UserError(f"{name} {getattr(self, name)} must be a positive integer")
        if self.c_dim < 0:
            raise UserError(f"c_dim {self.c_dim} must be >= 0")
        if self.truncation_cutoff is not None and self.truncation_cutoff < 0:
            raise UserError(f"truncation_cutoff {self.truncation_cutoff} must be >= 0 or None")
        return self


def instance_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Each feature map of each sample to zero mean and unit variance over its pixels."""
    x = x - x.mean(dim=(2, 3), keepdim=True)
    return x * (x.square().mean(dim=(2, 3), keepdim=True) + eps).rsqrt()


def adain(x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """Adaptive instance normalisation: instance_norm(x) * (y_s + 1) + y_b, with style [N, 2C]
    holding y_s then y_b (the official `style_mod` after `instance_norm`)."""
    scale, bias = style.view(style.shape[0], 2, -1, 1, 1).unbind(1)
    return instance_norm(x) * (scale + 1) + bias


# ---------------------------------------------------------------------------------------------
# Mapping


class MappingNetwork(nn.Module):
    """(z, c) -> ws [N, num_ws, w_dim], with the running mean w_avg and the truncation trick."""

    def __init__(self, config: StyleGAN1GeneratorConfig, num_ws: int) -> None:
        super().__init__()
        self.z_dim = config.z_dim
        self.c_dim = config.c_dim
        self.w_dim = config.w_dim
        self.num_ws = num_ws
        self.num_layers = config.mapping_layers
        self.w_avg_beta = config.w_avg_beta
        self.default_cutoff = config.truncation_cutoff
        if config.c_dim:  # the official "LabelConcat": a plain (not equalised) N(0, 1) matrix
            self.embed = nn.Parameter(torch.randn([config.c_dim, config.z_dim]))
        features = config.z_dim * (2 if config.c_dim else 1)
        for idx in range(config.mapping_layers):
            layer = EqualizedLinear(
                features, config.w_dim, lr_multiplier=config.mapping_lr_multiplier
            )
            setattr(self, f"fc{idx}", layer)
            features = config.w_dim
        self.register_buffer("w_avg", torch.zeros([config.w_dim]))

    def forward(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        update_emas: bool = False,
    ) -> torch.Tensor:
        """ws; with truncation_psi != 1 the first `truncation_cutoff` ws (default: the config's
        cutoff, 8 as in the paper) move towards w_avg: w_avg + psi * (w - w_avg)."""
        assert z.shape[1] == self.z_dim, "z has the wrong shape"
        x = z.to(torch.float32)
        if self.c_dim:
            if c is None or c.shape[1] != self.c_dim:
                raise ValueError(f"a conditional generator needs c of shape [N, {self.c_dim}]")
            x = torch.cat([x, c.to(torch.float32) @ self.embed], dim=1)
        x = normalize_2nd_moment(x)
        for idx in range(self.num_layers):
            x = lrelu(getattr(self, f"fc{idx}")(x))
        if update_emas:
            with torch.no_grad():
                self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        ws = x.unsqueeze(1).repeat(1, self.num_ws, 1)
        if truncation_psi != 1:
            cutoff = self.default_cutoff if truncation_cutoff is None else truncation_cutoff
            cutoff = self.num_ws if cutoff is None else min(cutoff, self.num_ws)
            ws = ws.clone()
            ws[:, :cutoff] = self.w_avg.lerp(ws[:, :cutoff], truncation_psi)
        return ws

    def extra_repr(self) -> str:
        return f"z_dim={self.z_dim}, c_dim={self.c_dim}, w_dim={self.w_dim}, num_ws={self.num_ws}"


# ---------------------------------------------------------------------------------------------
# Synthesis


class SynthesisLayer(nn.Module):
    """[up-sampling conv + blur | conv |] -> noise -> bias -> leaky ReLU -> AdaIN(affine(w))."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        up: bool = False,
        use_noise: bool = True,
        blur: bool = True,
    ) -> None:
        super().__init__()
        self.up = up
        self.use_blur = blur and up
        self.use_noise = use_noise
        self.resolution = resolution
        # in_channels 0: the layer works on the learned constant (no convolution).
        self.conv = (
            EqualizedConv2d(in_channels, out_channels, 3, bias=False) if in_channels else None
        )
        if use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))
            self.noise_strength = nn.Parameter(torch.zeros([out_channels]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.affine = EqualizedLinear(w_dim, out_channels * 2, gain=1)

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "random") -> torch.Tensor:
        if self.conv is not None:
            x = self.conv(upscale2d(x) if self.up else x)
            if self.use_blur:
                x = blur2d(x)
        if self.use_noise and noise_mode != "none":
            if noise_mode == "random":
                noise = torch.randn([x.shape[0], 1, x.shape[2], x.shape[3]], device=x.device)
            else:
                noise = self.noise_const
            x = x + noise * self.noise_strength.view(1, -1, 1, 1)
        x = lrelu(x + self.bias.view(1, -1, 1, 1))
        return adain(x, self.affine(w))


class SynthesisBlock(nn.Module):
    """Two style layers at one resolution and its 1x1 toRGB (no style, as in the paper)."""

    def __init__(
        self,
        in_channels: int,
        channels: int,
        w_dim: int,
        resolution: int,
        img_channels: int,
        use_noise: bool,
        blur: bool,
    ) -> None:
        super().__init__()
        self.resolution = resolution
        self.num_conv = 2
        self.num_torgb = 0  # toRGB takes no w (StyleGAN2's does)
        kw = dict(w_dim=w_dim, resolution=resolution, use_noise=use_noise, blur=blur)
        if in_channels == 0:
            self.const = nn.Parameter(torch.ones([channels, resolution, resolution]))
            self.conv0 = SynthesisLayer(0, channels, **kw)
        else:
            self.conv0 = SynthesisLayer(in_channels, channels, up=True, **kw)
        self.conv1 = SynthesisLayer(channels, channels, **kw)
        self.to_rgb = EqualizedConv2d(channels, img_channels, 1, gain=1)

    def forward(
        self, x: torch.Tensor | None, ws: torch.Tensor, noise_mode: str = "random"
    ) -> torch.Tensor:
        if x is None:
            x = self.const.unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
        x = self.conv0(x, ws[:, 0], noise_mode)
        return self.conv1(x, ws[:, 1], noise_mode)


class SynthesisNetwork(Growing, nn.Module):
    """ws [N, num_ws, w_dim] -> images at the level of detail (see models/progan.py)."""

    def __init__(self, config: StyleGAN1GeneratorConfig) -> None:
        super().__init__()
        self.w_dim = config.w_dim
        self.img_resolution = config.img_resolution
        self.img_channels = config.img_channels
        self.block_resolutions = [2**i for i in range(2, max_lod(config.img_resolution) + 3)]
        self.num_ws = 2 * len(self.block_resolutions)

        def nf(res: int) -> int:
            return max(min(config.channel_base // res, config.channel_max), 1)

        for res in self.block_resolutions:
            block = SynthesisBlock(
                nf(res // 2) if res > 4 else 0,
                nf(res),
                w_dim=config.w_dim,
                resolution=res,
                img_channels=config.img_channels,
                use_noise=config.use_noise,
                blur=config.blur,
            )
            setattr(self, f"b{res}", block)
        self.register_buffer("lod", torch.zeros([]))

    def forward(
        self,
        ws: torch.Tensor,
        noise_mode: str = "random",
        update_emas: bool = False,  # accepted for StyleGAN2/3 parity
        lod: float | None = None,
        full_resolution: bool = True,
    ) -> torch.Tensor:
        res, alpha = self.current_resolution(lod)
        return self.render(ws, res, alpha, noise_mode, full_resolution)

    def render(
        self,
        ws: torch.Tensor,
        resolution: int,
        alpha: float,
        noise_mode: str = "random",
        full_resolution: bool = True,
    ) -> torch.Tensor:
        """Images from the blocks up to `resolution`, the newest faded in with weight `alpha`."""
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode {noise_mode!r} must be one of {NOISE_MODES}")
        assert ws.ndim == 3 and ws.shape[1:] == (self.num_ws, self.w_dim), ws.shape
        ws = ws.to(torch.float32)
        x = prev = None
        for i, res in enumerate(self.block_resolutions):
            if res > resolution:
                break
            prev, x = x, getattr(self, f"b{res}")(x, ws[:, 2 * i : 2 * i + 2], noise_mode)
        img = getattr(self, f"b{resolution}").to_rgb(x)
        if alpha < 1 and resolution > 4:
            low = getattr(self, f"b{resolution // 2}").to_rgb(prev)
            img = torch.lerp(upscale2d(low), img, alpha)
        if full_resolution:
            img = upscale2d(img, self.img_resolution // resolution)
        return img


@register_model("stylegan1.Generator")
class Generator(ConfiguredModule):
    """StyleGAN (2019) generator: mapping (z, c) -> ws, synthesis ws -> image (unclamped)."""

    config_class = StyleGAN1GeneratorConfig

    def __init__(self, config: StyleGAN1GeneratorConfig) -> None:
        super().__init__()
        config.validate()
        self.config = config
        self.z_dim = config.z_dim
        self.c_dim = config.c_dim
        self.w_dim = config.w_dim
        self.img_resolution = config.img_resolution
        self.img_channels = config.img_channels
        self.synthesis = SynthesisNetwork(config)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(config, self.num_ws)

    def set_lod(self, lod: float) -> None:
        self.synthesis.set_lod(lod)

    def current_resolution(self, lod: float | None = None) -> tuple[int, float]:
        return self.synthesis.current_resolution(lod)

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
        ws = self.mapping(
            z,
            c,
            truncation_psi=truncation_psi,
            truncation_cutoff=truncation_cutoff,
            update_emas=update_emas,
        )
        return self.synthesis(ws, noise_mode=noise_mode, lod=lod, full_resolution=full_resolution)
