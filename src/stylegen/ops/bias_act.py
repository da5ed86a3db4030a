"""Fused bias + activation + gain + clamp (`bias_act`) in pure PyTorch.

StyleGAN2 (Karras et al. 2020) adds a bias, applies the activation, scales by a gain that keeps the
signal variance (sqrt(2) for (leaky) ReLU) and optionally clamps to `clamp` to keep fp16 safe.
Activation names, default slopes and gains follow the official `bias_act` table.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["ACTIVATIONS", "bias_act", "foldable_gain"]


@dataclass(frozen=True)
class Activation:
    func: Callable[[torch.Tensor, float], torch.Tensor]
    def_alpha: float
    def_gain: float


ACTIVATIONS: dict[str, Activation] = {
    "linear": Activation(lambda x, a: x, 0.0, 1.0),
    "relu": Activation(lambda x, a: F.relu(x), 0.0, math.sqrt(2)),
    "lrelu": Activation(lambda x, a: F.leaky_relu(x, a), 0.2, math.sqrt(2)),
    "tanh": Activation(lambda x, a: torch.tanh(x), 0.0, 1.0),
    "sigmoid": Activation(lambda x, a: torch.sigmoid(x), 0.0, 1.0),
    "elu": Activation(lambda x, a: F.elu(x), 0.0, 1.0),
    "selu": Activation(lambda x, a: F.selu(x), 0.0, 1.0),
    "softplus": Activation(lambda x, a: F.softplus(x), 0.0, 1.0),
    "swish": Activation(lambda x, a: torch.sigmoid(x) * x, 0.0, math.sqrt(2)),
}


def bias_act(
    x: torch.Tensor,
    b: torch.Tensor | None = None,
    dim: int = 1,
    act: str = "linear",
    alpha: float | None = None,
    gain: float | None = None,
    clamp: float | None = None,
) -> torch.Tensor:
    """Return clamp(act(x + b) * gain), with `b` broadcast along dimension `dim` of `x`."""
    spec = ACTIVATIONS[act]
    alpha = spec.def_alpha if alpha is None else float(alpha)
    gain = spec.def_gain if gain is None else float(gain)
    if b is not None:
        shape = [-1 if i == dim else 1 for i in range(x.ndim)]
        x = x + b.to(x.dtype).reshape(shape)
    if act != "linear":
        x = spec.func(x, alpha)
    if gain != 1:
        x = x * gain
    if clamp is not None and clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


# act(g * x) == g * act(x) for every g > 0 (positive homogeneity), so for these activations the
# output gain can move into whatever produced x: the weight and bias of the convolution before it
# (a few hundred numbers) instead of a multiply over every activation, forward and backward.
_HOMOGENEOUS = frozenset({"linear", "relu", "lrelu"})


def foldable_gain(act: str, gain: float | None = None) -> float | None:
    """The output gain of `act` (its default unless `gain` is given) if it may be folded into
    the layer before the activation, else None."""
    g = ACTIVATIONS[act].def_gain if gain is None else float(gain)
    return g if act in _HOMOGENEOUS and g > 0 else None
