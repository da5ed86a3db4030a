"""bias_act against plain per-element maths, plus gradcheck."""

import math

import pytest
import torch

from stylegen.ops import ACTIVATIONS, bias_act, foldable_gain


def _naive(v: float, b: float, act: str, gain: float, clamp: float | None) -> float:
    y = v + b
    y = {
        "linear": y,
        "relu": max(y, 0.0),
        "lrelu": y if y >= 0 else 0.2 * y,
        "tanh": math.tanh(y),
        "sigmoid": 1 / (1 + math.exp(-y)),
    }[act]
    y *= gain
    if clamp is not None:
        y = min(max(y, -clamp), clamp)
    return y


@pytest.mark.parametrize("act", ["linear", "relu", "lrelu", "tanh", "sigmoid"])
@pytest.mark.parametrize("clamp", [None, 0.5])
def test_matches_elementwise(act, clamp):
    x = torch.randn(3, 4, 2, dtype=torch.float64)
    b = torch.randn(4, dtype=torch.float64)
    got = bias_act(x, b, dim=1, act=act, clamp=clamp)
    gain = ACTIVATIONS[act].def_gain
    for idx in torch.cartesian_prod(torch.arange(3), torch.arange(4), torch.arange(2)):
        i, j, k = (int(t) for t in idx)
        want = _naive(float(x[i, j, k]), float(b[j]), act, gain, clamp)
        assert float(got[i, j, k]) == pytest.approx(want, abs=1e-12)


def test_default_gains_follow_official_table():
    assert ACTIVATIONS["lrelu"].def_gain == pytest.approx(math.sqrt(2))
    assert ACTIVATIONS["lrelu"].def_alpha == pytest.approx(0.2)
    assert ACTIVATIONS["linear"].def_gain == 1.0


def test_gradcheck():
    x = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, c: bias_act(a, c, act="lrelu", gain=1.3), (x, b))


@pytest.mark.parametrize("act", ["linear", "relu", "lrelu"])
def test_foldable_gain_is_exact_for_homogeneous_activations(act):
    # act(g * x) == g * act(x) for g > 0: what lets layers move the gain into their weights.
    x = torch.randn(64, dtype=torch.float64)
    g = foldable_gain(act, 1.3)
    assert g == 1.3
    torch.testing.assert_close(bias_act(x * g, act=act, gain=1), bias_act(x, act=act, gain=g))


def test_foldable_gain_refuses_what_it_cannot_fold():
    assert foldable_gain("lrelu") == pytest.approx(2**0.5)  # the activation's default gain
    assert foldable_gain("tanh", 2.0) is None  # not homogeneous
    assert foldable_gain("sigmoid") is None
    assert foldable_gain("lrelu", -1.0) is None  # a negative gain flips the activation
    assert foldable_gain("relu", 0.0) is None
