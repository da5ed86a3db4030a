"""StyleGAN2 synthesis network and generator (Karras et al. 2020, "Analyzing and Improving the
Image Quality of StyleGAN").

A learned 4x4 constant is refined by two modulated 3x3 convolutions per resolution (the first one
upsamples), each followed by per-pixel noise with a learned strength; ToRGB layers turn features
into images. Architectures: `skip` (ToRGB at every resolution, summed after upsampling; the paper's
generator), `resnet` (residual blocks) and `orig` (ToRGB only at the end). Module, parameter and
buffer names match the official PyTorch snapshots.
"""

from __future__ import annotations

import math
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
)
from stylegen.models.mapping import generator_mapping
from stylegen.models.precision import block_dtype, block_memory_format, fp16_resolution
from stylegen.models.registry import register_model
from stylegen.ops import (
    ACTIVATIONS,
    bias_act,
    foldable_gain,
    modulated_conv2d,
    setup_filter,
    upsample2d,
)

__all__ = ["SYNTHESIS_ARCHITECTURES", "Generator", "GeneratorConfig", "SynthesisNetwork"]

NOISE_MODES = ("random", "const", "none")
SYNTHESIS_ARCHITECTURES = ("orig", "skip", "resnet")

# Which modulated-convolution path to use when the caller does not say. Both compute the same
# maths; the activation-scaling path (False) is faster on CPU because it runs one convolution
# with a shared weight instead of a grouped one.
DEFAULT_FUSED_MODCONV = False


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
        check_resolution(self.img_resolution)
        check_network_sizes(self)
        check_choice("generator architecture", self.architecture, SYNTHESIS_ARCHITECTURES)
        if self.img_channels not in (1, 3, 4):
            raise UserError(f"img_channels {self.img_channels} must be 1, 3 or 4")
        for name in ("z_dim", "w_dim", "channel_base", "channel_max", "mapping_layers"):
            if getattr(self, name) < 1:
                raise UserError(f"{name} {getattr(self, name)} must be a positive integer")
        if self.c_dim < 0:
            raise UserError(f"c_dim {self.c_dim} must be >= 0")
        return self


class SynthesisLayer(nn.Module):
    """Modulated 3x3 convolution + noise + bias + leaky ReLU."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        kernel_size: int = 3,
        up: int = 1,
        use_noise: bool = True,
        activation: str = "lrelu",
        resample_filter: tuple[int, ...] = DEFAULT_RESAMPLE_FILTER,
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.resolution = resolution
        self.up = up
        self.use_noise = use_noise
        self.activation = activation
        self.conv_clamp = conv_clamp
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.padding = kernel_size // 2
        self.act_gain = ACTIVATIONS[activation].def_gain
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(
            torch.randn([out_channels, in_channels, kernel_size, kernel_size])
        )
        if use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))

    def forward(
        self,
        x: torch.Tensor,
        w: torch.Tensor,
        noise_mode: str = "random",
        fused_modconv: bool = DEFAULT_FUSED_MODCONV,
        gain: float = 1.0,
    ) -> torch.Tensor:
        styles = self.affine(w)
        noise = None
        if self.use_noise and noise_mode == "random":
            noise = (
                torch.randn(
                    [x.shape[0], 1, self.resolution, self.resolution],
                    device=x.device,
                )
                * self.noise_strength
            )
        elif self.use_noise and noise_mode == "const":
            noise = self.noise_const * self.noise_strength
        act_gain = self.act_gain * gain
        act_clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        # Bias and the (positive) activation gain go into the modulated convolution's own
        # demodulation multiply: lrelu(g * z) = g * lrelu(z), so two passes fewer per layer.
        fold = foldable_gain(self.activation, act_gain)
        x = modulated_conv2d(
            x,
            self.weight,
            styles,
            noise=noise,
            up=self.up,
            padding=self.padding,
            resample_filter=self.resample_filter,
            flip_weight=(self.up == 1),
            fused_modconv=fused_modconv,
            bias=self.bias if fold is not None else None,
            gain=fold or 1.0,
        )
        if fold is not None:
            return bias_act(x, act=self.activation, gain=1, clamp=act_clamp)
        return bias_act(x, self.bias, act=self.activation, gain=act_gain, clamp=act_clamp)


class ToRGBLayer(nn.Module):
    """Modulated 1x1 convolution to image channels, without demodulation."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        kernel_size: int = 1,
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(
            torch.randn([out_channels, in_channels, kernel_size, kernel_size])
        )
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size**2)

    def forward(
        self, x: torch.Tensor, w: torch.Tensor, fused_modconv: bool = DEFAULT_FUSED_MODCONV
    ) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(
            x, self.weight, styles, demodulate=False, fused_modconv=fused_modconv, bias=self.bias
        )
        return bias_act(x, clamp=self.conv_clamp)


class SynthesisBlock(nn.Module):
    """One resolution of the synthesis network: (upsampling conv, conv, ToRGB)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        img_channels: int,
        is_last: bool,
        architecture: str = "skip",
        resample_filter: tuple[int, ...] = DEFAULT_RESAMPLE_FILTER,
        conv_clamp: float | None = None,
        use_noise: bool = True,
        use_fp16: bool = False,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.resolution = resolution
        self.is_last = is_last
        self.architecture = architecture
        self.use_fp16 = use_fp16  # eligible for reduced precision (models/precision.py)
        self.reduced_precision = False
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.num_conv = 0
        self.num_torgb = 0
        layer_kwargs = dict(
            w_dim=w_dim,
            resolution=resolution,
            conv_clamp=conv_clamp,
            resample_filter=resample_filter,
            use_noise=use_noise,
        )
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, up=2, **layer_kwargs)
            self.num_conv += 1
        self.conv1 = SynthesisLayer(out_channels, out_channels, **layer_kwargs)
        self.num_conv += 1
        if is_last or architecture == "skip":
            self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
            self.num_torgb += 1
        if in_channels != 0 and architecture == "resnet":
            self.skip = Conv2dLayer(
                in_channels,
                out_channels,
                kernel_size=1,
                bias=False,
                up=2,
                resample_filter=resample_filter,
            )

    def forward(
        self,
        x: torch.Tensor | None,
        img: torch.Tensor | None,
        ws: torch.Tensor,
        noise_mode: str = "random",
        fused_modconv: bool = DEFAULT_FUSED_MODCONV,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        w_iter = iter(ws.unbind(dim=1))
        kw = dict(noise_mode=noise_mode, fused_modconv=fused_modconv)
        dtype, memory_format = block_dtype(self), block_memory_format(self)
        if self.in_channels == 0:
            x = self.const.to(dtype).unsqueeze(0).repeat([ws.shape[0], 1, 1, 1])
            x = self.conv1(x.to(memory_format=memory_format), next(w_iter), **kw)
        elif self.architecture == "resnet":
            x = x.to(dtype=dtype, memory_format=memory_format)
            y = self.skip(x, gain=np.sqrt(0.5))
            x = self.conv0(x, next(w_iter), **kw)
            x = self.conv1(x, next(w_iter), gain=np.sqrt(0.5), **kw)
            x = y + x
        else:
            x = x.to(dtype=dtype, memory_format=memory_format)
            x = self.conv0(x, next(w_iter), **kw)
            x = self.conv1(x, next(w_iter), **kw)

        if img is not None:
            img = upsample2d(img, self.resample_filter)
        if self.is_last or self.architecture == "skip":
            # The skip image accumulates in float32 whatever the block's precision.
            y = self.torgb(x, next(w_iter), fused_modconv=fused_modconv).to(torch.float32)
            img = y if img is None else img + y
        return x, img


class SynthesisNetwork(nn.Module):
    """ws [N, num_ws, w_dim] -> image [N, C, H, W]."""

    def __init__(
        self,
        w_dim: int,
        img_resolution: int,
        img_channels: int,
        channel_base: int = 32768,
        channel_max: int = 512,
        architecture: str = "skip",
        conv_clamp: float | None = None,
        use_noise: bool = True,
        num_fp16_res: int = 0,
    ) -> None:
        super().__init__()
        self.w_dim = w_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        log2 = int(np.log2(img_resolution))
        self.block_resolutions = [2**i for i in range(2, log2 + 1)]
        channels = {r: min(channel_base // r, channel_max) for r in self.block_resolutions}
        fp16_res = fp16_resolution(img_resolution, num_fp16_res)
        self.num_ws = 0
        for res in self.block_resolutions:
            in_channels = channels[res // 2] if res > 4 else 0
            is_last = res == img_resolution
            block = SynthesisBlock(
                in_channels,
                channels[res],
                w_dim=w_dim,
                resolution=res,
                img_channels=img_channels,
                is_last=is_last,
                architecture=architecture,
                conv_clamp=conv_clamp,
                use_noise=use_noise,
                use_fp16=num_fp16_res > 0 and res >= fp16_res,
            )
            self.num_ws += block.num_conv
            if is_last:
                self.num_ws += block.num_torgb
            setattr(self, f"b{res}", block)

    def forward(
        self,
        ws: torch.Tensor,
        noise_mode: str = "random",
        fused_modconv: bool = DEFAULT_FUSED_MODCONV,
        update_emas: bool = False,  # accepted for StyleGAN3 parity; StyleGAN2 has no such EMAs
    ) -> torch.Tensor:
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode {noise_mode!r} must be one of {NOISE_MODES}")
        assert ws.ndim == 3 and ws.shape[1:] == (self.num_ws, self.w_dim), ws.shape
        ws = ws.to(torch.float32)
        x = img = None
        w_idx = 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            # A block's ToRGB shares its w with the next block's first conv.
            block_ws = ws.narrow(1, w_idx, block.num_conv + block.num_torgb)
            w_idx += block.num_conv
            x, img = block(x, img, block_ws, noise_mode=noise_mode, fused_modconv=fused_modconv)
        return img


@register_model("stylegan2.Generator")
class Generator(ConfiguredModule):
    """StyleGAN2 generator: mapping (z, c) -> ws, synthesis ws -> image in [-1, 1] (unclamped)."""

    config_class = GeneratorConfig

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        config.validate()
        self.config = config
        self.z_dim = config.z_dim
        self.c_dim = config.c_dim
        self.w_dim = config.w_dim
        self.img_resolution = config.img_resolution
        self.img_channels = config.img_channels
        self.synthesis = SynthesisNetwork(
            w_dim=config.w_dim,
            img_resolution=config.img_resolution,
            img_channels=config.img_channels,
            channel_base=config.channel_base,
            channel_max=config.channel_max,
            architecture=config.architecture,
            conv_clamp=config.conv_clamp,
            use_noise=config.use_noise,
            num_fp16_res=config.num_fp16_res,
        )
        self.num_ws = self.synthesis.num_ws
        self.mapping = generator_mapping(config, self.num_ws)

    def forward(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        update_emas: bool = False,
        noise_mode: str = "random",
        fused_modconv: bool = DEFAULT_FUSED_MODCONV,
    ) -> torch.Tensor:
        ws = self.mapping(
            z,
            c,
            truncation_psi=truncation_psi,
            truncation_cutoff=truncation_cutoff,
            update_emas=update_emas,
        )
        return self.synthesis(ws, noise_mode=noise_mode, fused_modconv=fused_modconv)
