"""FLOPs that the maths of a StyleGAN2 generator or discriminator needs (Karras et al. 2020).

`torch.utils.flop_counter` counts the operations a particular implementation launches: zeros
inserted before a FIR filter, a filter written as a dense convolution, a modulated convolution
written as a grouped convolution over the batch. Its totals therefore differ between two
implementations of the same network and can exceed the machine's measured peak. This module
counts from each layer's shapes instead, so the count depends on the network only:

- a convolution or fully connected layer: 2 FLOPs per multiply-add (a stride-2 transposed
  convolution on its input grid, a stride-2 convolution on its output grid);
- weight modulation: 1 per weight and sample; demodulation: 3 per weight and sample (square,
  sum, scale) plus the reciprocal square root per output channel;
- a FIR up/down-sampling filter (the [1,3,3,1] filter is separable): 2 FLOPs per tap of each
  1-D pass per output sample, taps that meet inserted zeros not counted (polyphase);
- bias, activation, noise, skip additions, minibatch standard deviation: 1 FLOP per element for
  each elementwise step.

A training iteration (Gmain + Dmain as in `benchmarks/bench_networks.py`) costs, with F_G and F_D
the forward FLOPs of one batch, `4 F_G + 8 F_D`: Gmain is G forward + D forward + the backward
through D (inputs only: D is frozen) and G (inputs and weights, twice its forward); Dmain is G
forward without gradients + D forward on fakes and on reals + their backward (twice each
forward). The first layers' unneeded input gradients are not subtracted (under 1% here).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import torch
from torch import nn

from stylegen.models.discriminator import DiscriminatorBlock, DiscriminatorEpilogue
from stylegen.models.layers import Conv2dLayer, FullyConnectedLayer, MinibatchStdLayer
from stylegen.models.mapping import MappingNetwork
from stylegen.models.stylegan2 import SynthesisBlock, SynthesisLayer, ToRGBLayer

__all__ = ["FlopCount", "count_forward_flops", "training_iteration_flops"]

# The StyleGAN2 resampling filter: 4 taps per dimension.
_FIR_TAPS = 4


@dataclass
class FlopCount:
    """Forward FLOPs of one call, by kind of work, and the parameters no rule counted."""

    by_kind: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    uncounted: list[str] = field(default_factory=list)

    @property
    def total(self) -> float:
        return float(sum(self.by_kind.values()))


def _fir_up(channels_x_pixels_out: int, up: int) -> float:
    """A separable FIR filter after zero insertion: taps/up per dimension reach real samples."""
    return 2.0 * 2 * (_FIR_TAPS / up) * channels_x_pixels_out


def _fir(channels_x_pixels: int) -> float:
    """A separable FIR filter evaluated at every sample (both 1-D passes)."""
    return 2.0 * 2 * _FIR_TAPS * channels_x_pixels


def _fully_connected(m: FullyConnectedLayer, x: torch.Tensor, y: torch.Tensor, c: FlopCount):
    rows = x.numel() // m.in_features
    c.by_kind["fully connected"] += 2.0 * rows * m.in_features * m.out_features
    elementwise = int(m.bias is not None) + int(m.activation != "linear")
    c.by_kind["bias, activation"] += elementwise * y.numel()


def _synthesis_layer(m: SynthesisLayer, x: torch.Tensor, y: torch.Tensor, c: FlopCount):
    n, cin, h, w = x.shape
    _, cout, ho, wo = y.shape
    k2 = m.weight.shape[2] * m.weight.shape[3]
    weights = cout * cin * k2
    c.by_kind["modulation, demodulation"] += n * (4.0 * weights + cout)
    grid = h * w if m.up > 1 else ho * wo  # a transposed convolution works on its input grid
    c.by_kind["convolution"] += 2.0 * n * weights * grid
    if m.up > 1:
        c.by_kind["FIR filters"] += _fir_up(n * cout * ho * wo, m.up)
    c.by_kind["noise"] += 2.0 * y.numel() if m.use_noise else 0.0
    c.by_kind["bias, activation"] += 2.0 * y.numel()


def _to_rgb(m: ToRGBLayer, x: torch.Tensor, y: torch.Tensor, c: FlopCount):
    n, cin, h, w = x.shape
    cout = y.shape[1]
    weights = cout * cin * m.weight.shape[2] * m.weight.shape[3]
    c.by_kind["modulation, demodulation"] += n * float(weights)
    c.by_kind["convolution"] += 2.0 * n * weights * h * w
    c.by_kind["bias, activation"] += float(y.numel())


def _conv_layer(m: Conv2dLayer, x: torch.Tensor, y: torch.Tensor, c: FlopCount):
    n, cin, h, w = x.shape
    _, cout, ho, wo = y.shape
    k2 = m.weight.shape[2] * m.weight.shape[3]
    grid = h * w if m.up > 1 else ho * wo
    c.by_kind["convolution"] += 2.0 * n * cin * cout * k2 * grid
    if m.up > 1:
        c.by_kind["FIR filters"] += _fir_up(n * cout * ho * wo, m.up)
    if m.down > 1:
        # A 1x1 convolution needs the filtered samples at the kept positions only; a 3x3
        # stride-2 convolution reads every filtered input sample.
        kept = ho * wo if k2 == 1 else h * w
        c.by_kind["FIR filters"] += _fir(n * cin * kept)
    elementwise = int(m.bias is not None) + int(m.activation != "linear")
    c.by_kind["bias, activation"] += elementwise * y.numel()


def _synthesis_block(m: SynthesisBlock, args: tuple, y: tuple, c: FlopCount):
    img = args[1] if len(args) > 1 else None
    if img is not None:  # the skip image is up-sampled, then the block's RGB is added to it
        out_img = y[1]
        c.by_kind["FIR filters"] += _fir_up(out_img.numel(), 2)
        c.by_kind["skip additions"] += float(out_img.numel())
    if m.architecture == "resnet" and m.in_channels != 0:
        c.by_kind["skip additions"] += float(y[0].numel())


def _discriminator_block(m: DiscriminatorBlock, args: tuple, y: tuple, c: FlopCount):
    if m.architecture == "resnet":
        c.by_kind["skip additions"] += float(y[0].numel())


def _minibatch_std(m: MinibatchStdLayer, x: torch.Tensor, y: torch.Tensor, c: FlopCount):
    # Group mean, squared deviation, group mean, square root, mean over features.
    c.by_kind["minibatch std"] += 5.0 * x.numel()


def _epilogue(m: DiscriminatorEpilogue, args: tuple, y: torch.Tensor, c: FlopCount):
    if m.cmap_dim:  # the projection of the output onto the class embedding
        c.by_kind["fully connected"] += 2.0 * y.shape[0] * m.cmap_dim


def _mapping(m: MappingNetwork, args: tuple, y: torch.Tensor, c: FlopCount):
    z = args[0] if args else None
    if z is not None:  # normalisation of z to unit second moment
        c.by_kind["bias, activation"] += 3.0 * z.numel()


_TENSOR_RULES = {
    FullyConnectedLayer: _fully_connected,
    SynthesisLayer: _synthesis_layer,
    ToRGBLayer: _to_rgb,
    Conv2dLayer: _conv_layer,
    MinibatchStdLayer: _minibatch_std,
}
_MODULE_RULES = {
    SynthesisBlock: _synthesis_block,
    DiscriminatorBlock: _discriminator_block,
    DiscriminatorEpilogue: _epilogue,
    MappingNetwork: _mapping,
}


def _owned_parameters(module: nn.Module) -> set[int]:
    return {id(p) for p in module.parameters()}


def count_forward_flops(module: nn.Module, *args, **kwargs) -> FlopCount:
    """Run `module(*args, **kwargs)` once without gradients and count the FLOPs its maths needs.

    `uncounted` names the parameters that belong to no layer this module has a rule for, so a
    network with such layers is seen to be under-counted rather than silently reported.
    """
    count = FlopCount()
    counted: set[int] = set()
    handles = []
    for sub in module.modules():
        rule = _TENSOR_RULES.get(type(sub))
        if rule is not None:
            counted |= _owned_parameters(sub)
            handles.append(
                sub.register_forward_hook(
                    lambda m, a, y, rule=rule: (
                        rule(m, a[0], y, count) if isinstance(y, torch.Tensor) else None
                    )
                )
            )
        rule = _MODULE_RULES.get(type(sub))
        if rule is not None:
            handles.append(sub.register_forward_hook(lambda m, a, y, r=rule: r(m, a, y, count)))
    # Constant inputs, noise strengths and class embeddings that are looked up, not computed.
    free = (SynthesisBlock, SynthesisLayer, MappingNetwork)
    for sub in module.modules():
        if isinstance(sub, free):
            counted |= {id(p) for p in sub.parameters(recurse=False)}
    try:
        with torch.no_grad():
            module(*args, **kwargs)
    finally:
        for h in handles:
            h.remove()
    count.uncounted = [n for n, p in module.named_parameters() if id(p) not in counted]
    count.by_kind = dict(count.by_kind)
    return count


def training_iteration_flops(g_forward: float, d_forward: float) -> float:
    """FLOPs of one Gmain + Dmain iteration from the forward FLOPs of one batch (see above)."""
    if not (math.isfinite(g_forward) and math.isfinite(d_forward)):
        raise ValueError("forward FLOPs must be finite")
    return 4.0 * g_forward + 8.0 * d_forward
