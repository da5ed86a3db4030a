"""Equalized-learning-rate building blocks shared by the networks.

Karras et al. (2018, "Progressive Growing of GANs") store weights drawn from N(0, 1) and scale them
at run time by He's constant, so Adam's per-parameter step sizes act uniformly ("equalized learning
rate"). `lr_multiplier` shrinks the effective learning rate of a layer (0.01 in the mapping network,
StyleGAN 2019).

Two conventions live here. `FullyConnectedLayer` / `Conv2dLayer` are StyleGAN2's: the activation
gain (sqrt 2 for leaky ReLU) multiplies the output after bias and activation; parameter and buffer
names match the official StyleGAN2 PyTorch modules so that official weights map 1:1.
`EqualizedLinear` / `EqualizedConv2d` are the TensorFlow-era code's (ProGAN 2018, StyleGAN 2019):
the gain is part of the weight's run-time scale, bias and activation (plain leaky ReLU 0.2) come
after; with them go nearest up-sampling, box down-sampling and the [1, 2, 1] blur of those papers.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from stylegen.ops import ACTIVATIONS, bias_act, conv2d_resample, foldable_gain, setup_filter

__all__ = [
    "Conv2dLayer",
    "EqualizedConv2d",
    "EqualizedLinear",
    "FullyConnectedLayer",
    "MinibatchStdLayer",
    "blur2d",
    "downscale2d",
    "lrelu",
    "normalize_2nd_moment",
    "upscale2d",
]

DEFAULT_RESAMPLE_FILTER = (1, 3, 3, 1)


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """Scale each vector to unit root-mean-square (pixel norm)."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


class FullyConnectedLayer(nn.Module):
    """Dense layer with equalized learning rate and fused bias + activation."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        activation: str = "linear",
        lr_multiplier: float = 1.0,
        bias_init: float = 0.0,
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.activation = activation
        self.weight = nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The activation's gain folds into the weight and bias scales when it may (bias_act.py).
        fold = foldable_gain(self.activation)
        folded = fold or 1.0
        w = self.weight.to(x.dtype) * (self.weight_gain * folded)
        b = self.bias
        if b is not None:
            b = b.to(x.dtype)
            if self.bias_gain * folded != 1:
                b = b * (self.bias_gain * folded)
        if fold is None:  # the activation's own gain, after it
            return bias_act(x.matmul(w.t()), b, act=self.activation)
        y = x.matmul(w.t()) if b is None else torch.addmm(b.unsqueeze(0), x, w.t())
        return bias_act(y, act=self.activation, gain=1)

    def extra_repr(self) -> str:
        return f"in={self.in_features}, out={self.out_features}, act={self.activation}"


class Conv2dLayer(nn.Module):
    """Convolution with equalized learning rate, optional FIR up/down-sampling and clamping."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        bias: bool = True,
        activation: str = "linear",
        up: int = 1,
        down: int = 1,
        resample_filter: tuple[int, ...] = DEFAULT_RESAMPLE_FILTER,
        conv_clamp: float | None = None,
        trainable: bool = True,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.activation = activation
        self.up = up
        self.down = down
        self.conv_clamp = conv_clamp
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.padding = kernel_size // 2
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size**2)
        self.act_gain = ACTIVATIONS[activation].def_gain
        weight = torch.randn([out_channels, in_channels, kernel_size, kernel_size])
        bias_value = torch.zeros([out_channels]) if bias else None
        if trainable:
            self.weight = nn.Parameter(weight)
            self.bias = nn.Parameter(bias_value) if bias else None
        else:
            self.register_buffer("weight", weight)
            self.register_buffer("bias", bias_value)

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        act_gain = self.act_gain * gain
        act_clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        # For (leaky) ReLU and linear the output gain moves into the weight and the bias (a few
        # hundred numbers) and the bias into the convolution call: two passes over every
        # activation fewer, forward and backward, for the same maths.
        fold = foldable_gain(self.activation, act_gain)
        w = self.weight * (self.weight_gain * (fold or 1.0))
        b = self.bias
        if b is not None and fold is not None:
            b = b * fold
        b = b.to(x.dtype) if b is not None else None
        x = conv2d_resample(
            x,
            w.to(x.dtype),
            f=self.resample_filter,
            up=self.up,
            down=self.down,
            padding=self.padding,
            flip_weight=(self.up == 1),
            bias=b if fold is not None else None,
        )
        if fold is not None:
            return bias_act(x, act=self.activation, gain=1, clamp=act_clamp)
        return bias_act(x, b, act=self.activation, gain=act_gain, clamp=act_clamp)

    def extra_repr(self) -> str:
        return (
            f"in={self.in_channels}, out={self.out_channels}, act={self.activation}, "
            f"up={self.up}, down={self.down}"
        )


class MinibatchStdLayer(nn.Module):
    """Append the std-dev of features across a group of samples as extra channels.

    Sample n belongs to group n % (N / G): the batch is viewed as [G, N/G, ...], as in the
    official code, so results match it exactly for any batch order.
    """

    def __init__(self, group_size: int, num_channels: int = 1) -> None:
        super().__init__()
        self.group_size = group_size
        self.num_channels = num_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        N, C, H, W = x.shape
        G = min(self.group_size, N) if self.group_size else N
        if N % G:
            raise ValueError(f"batch size {N} is not divisible by the minibatch-std group size {G}")
        F_ = self.num_channels
        c = C // F_
        y = x.reshape(G, -1, F_, c, H, W)
        y = y - y.mean(dim=0)
        y = y.square().mean(dim=0)
        y = (y + 1e-8).sqrt()
        y = y.mean(dim=[2, 3, 4])
        y = y.reshape(-1, F_, 1, 1)
        y = y.repeat(G, 1, H, W)
        return torch.cat([x, y], dim=1)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}, num_channels={self.num_channels}"


# ---------------------------------------------------------------------------------------------
# The TensorFlow-era layers of ProGAN (Karras et al. 2018) and StyleGAN (Karras et al. 2019)

SQRT2 = math.sqrt(2)


def lrelu(x: torch.Tensor) -> torch.Tensor:
    """Leaky ReLU with slope 0.2 and no gain (the gain lives in the next layer's weight scale)."""
    return F.leaky_relu(x, 0.2)


class EqualizedLinear(nn.Module):
    """`dense` + `apply_bias` of the official TF code: y = x (w * c)^T + b * lr_multiplier.

    The weight is stored N(0, 1) / lr_multiplier and scaled at run time by
    c = gain / sqrt(fan_in) * lr_multiplier (He's initialisation, equalised learning rate).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        gain: float = SQRT2,
        lr_multiplier: float = 1.0,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)
        self.bias = nn.Parameter(torch.zeros([out_features])) if bias else None
        self.weight_gain = gain / math.sqrt(in_features) * lr_multiplier
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight * self.weight_gain
        if self.bias is None:
            return x.matmul(w.t())
        b = self.bias * self.bias_gain if self.bias_gain != 1 else self.bias
        return torch.addmm(b.unsqueeze(0), x, w.t())

    def extra_repr(self) -> str:
        return f"in={self.in_features}, out={self.out_features}"


class EqualizedConv2d(nn.Module):
    """`conv2d` (+ `apply_bias`) of the official TF code: a 'same' convolution whose weight,
    stored N(0, 1), is scaled at run time by gain / sqrt(fan_in)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        gain: float = SQRT2,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(
            torch.randn([out_channels, in_channels, kernel_size, kernel_size])
        )
        self.bias = nn.Parameter(torch.zeros([out_channels])) if bias else None
        self.weight_gain = gain / math.sqrt(in_channels * kernel_size**2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.weight_gain, self.bias, padding=self.padding)

    def extra_repr(self) -> str:
        k = self.weight.shape[-1]
        return f"in={self.in_channels}, out={self.out_channels}, kernel={k}"


def upscale2d(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """Nearest-neighbour up-sampling: each pixel becomes a factor x factor square."""
    if factor == 1:
        return x
    return x.repeat_interleave(factor, dim=2).repeat_interleave(factor, dim=3)


def downscale2d(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """Box-filter down-sampling: the mean of each factor x factor square (the inverse of
    `upscale2d`)."""
    if factor == 1:
        return x
    return F.avg_pool2d(x, factor)


def blur2d(x: torch.Tensor) -> torch.Tensor:
    """StyleGAN's (2019) low-pass filter: the normalised [1, 2, 1] x [1, 2, 1] kernel applied per
    channel with zero padding (TF 'same')."""
    k = torch.tensor([1.0, 2.0, 1.0], dtype=x.dtype, device=x.device)
    k = (k[:, None] * k[None, :]) / 16
    channels = x.shape[1]
    return F.conv2d(x, k.expand(channels, 1, 3, 3), padding=1, groups=channels)
