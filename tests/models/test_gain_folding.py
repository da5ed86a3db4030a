"""Layers that fold their activation gain into weights and bias (ops/bias_act.foldable_gain) give
what the unfolded StyleGAN2 formula gives: bias_act(conv(x, w * weight_gain), b, act, gain)."""

import math

import pytest
import torch

from stylegen.models.layers import Conv2dLayer, FullyConnectedLayer
from stylegen.models.stylegan2 import SynthesisLayer, ToRGBLayer
from stylegen.ops import bias_act, conv2d_resample, modulated_conv2d


def _randomise(module: torch.nn.Module) -> None:
    torch.manual_seed(0)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p))  # non-zero biases, so a lost bias would show


@pytest.mark.parametrize("act", ["lrelu", "linear", "tanh"])
@pytest.mark.parametrize("up,down", [(1, 1), (2, 1), (1, 2)])
@pytest.mark.parametrize("clamp", [None, 0.7])
def test_conv2d_layer_matches_unfolded_formula(act, up, down, clamp):
    layer = Conv2dLayer(3, 5, 3, activation=act, up=up, down=down, conv_clamp=clamp).double()
    _randomise(layer)
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    gain = math.sqrt(0.5)
    got = layer(x, gain=gain)
    y = conv2d_resample(
        x,
        layer.weight * layer.weight_gain,
        f=layer.resample_filter,
        up=up,
        down=down,
        padding=1,
        flip_weight=(up == 1),
    )
    want = bias_act(
        y, layer.bias, act=act, gain=layer.act_gain * gain, clamp=clamp and clamp * gain
    )
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("act", ["lrelu", "linear", "sigmoid"])
def test_fully_connected_layer_matches_unfolded_formula(act):
    layer = FullyConnectedLayer(6, 4, activation=act, lr_multiplier=0.01).double()
    _randomise(layer)
    x = torch.randn(3, 6, dtype=torch.float64)
    y = x @ (layer.weight * layer.weight_gain).t()
    want = bias_act(y, layer.bias * layer.bias_gain, act=act)
    torch.testing.assert_close(layer(x), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("up", [1, 2])
def test_synthesis_layer_matches_unfolded_formula(fused, up):
    layer = SynthesisLayer(4, 5, w_dim=6, resolution=8 * up, up=up, conv_clamp=0.9).double()
    _randomise(layer)
    x = torch.randn(2, 4, 8, 8, dtype=torch.float64)
    w = torch.randn(2, 6, dtype=torch.float64)
    got = layer(x, w, noise_mode="const", fused_modconv=fused, gain=0.5)
    y = modulated_conv2d(
        x,
        layer.weight,
        layer.affine(w),
        noise=layer.noise_const * layer.noise_strength,
        up=up,
        padding=1,
        resample_filter=layer.resample_filter,
        flip_weight=(up == 1),
        fused_modconv=fused,
    )
    want = bias_act(y, layer.bias, act="lrelu", gain=math.sqrt(2) * 0.5, clamp=0.9 * 0.5)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fused", [True, False])
def test_torgb_layer_matches_unfolded_formula(fused):
    layer = ToRGBLayer(4, 3, w_dim=6).double()
    _randomise(layer)
    x = torch.randn(2, 4, 8, 8, dtype=torch.float64)
    w = torch.randn(2, 6, dtype=torch.float64)
    styles = layer.affine(w) * layer.weight_gain
    y = modulated_conv2d(x, layer.weight, styles, demodulate=False, fused_modconv=fused)
    want = y + layer.bias.reshape(1, -1, 1, 1)
    torch.testing.assert_close(layer(x, w, fused_modconv=fused), want, rtol=1e-12, atol=1e-12)
