"""stylegen.flops: the FLOPs the maths needs, checked against torch's own operation counter on
layers where the two must agree, a naive loop for the polyphase filter, and a real training
iteration for the 4 F_G + 8 F_D rule."""

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from stylegen.flops import count_forward_flops, training_iteration_flops
from stylegen.models import Discriminator, Generator
from stylegen.models.layers import Conv2dLayer, FullyConnectedLayer
from stylegen.models.stylegan2 import SynthesisLayer
from stylegen.training.stylegan_config import build_configs


def torch_count(fn) -> float:
    with FlopCounterMode(display=False) as counter:
        fn()
    return float(counter.get_total_flops())


def test_fully_connected_matches_the_matmul_count_plus_bias_and_activation():
    layer = FullyConnectedLayer(24, 40, activation="lrelu")
    x = torch.randn(5, 24)
    count = count_forward_flops(layer, x)
    assert count.by_kind["fully connected"] == torch_count(lambda: x @ layer.weight.t())
    assert count.by_kind["bias, activation"] == 2 * 5 * 40


def test_plain_convolution_matches_torchs_count():
    layer = Conv2dLayer(6, 10, kernel_size=3, activation="linear")
    x = torch.randn(2, 6, 8, 8)
    count = count_forward_flops(layer, x)
    reference = torch_count(lambda: F.conv2d(x, layer.weight, padding=1))
    assert count.by_kind["convolution"] == reference
    assert "FIR filters" not in count.by_kind


def test_upsampling_modulated_convolution_counts_a_transposed_convolution_on_its_input():
    layer = SynthesisLayer(6, 10, w_dim=8, resolution=16, up=2, use_noise=False)
    x, w = torch.randn(3, 6, 8, 8), torch.randn(3, 8)
    count = count_forward_flops(layer, x, w)
    weight = layer.weight.transpose(0, 1)  # [in, out, k, k] for conv_transpose2d
    reference = torch_count(lambda: F.conv_transpose2d(x, weight, stride=2))
    assert count.by_kind["convolution"] == reference
    # modulation (1) + demodulation (3) per weight and sample, + rsqrt per output channel
    assert count.by_kind["modulation, demodulation"] == 3 * (4 * 10 * 6 * 9 + 10)


def test_polyphase_filter_counts_only_taps_that_meet_real_samples():
    # A naive loop: insert zeros (up 2), slide a 4-tap filter, count products with a real sample.
    n, up, taps = 16, 2, 4
    upsampled = [i % up == 0 for i in range(n * up)]
    interior = range(taps, n * up - taps)  # away from the padded edges
    real_products = sum(sum(upsampled[o + t] for t in range(taps)) for o in interior)
    assert real_products / len(interior) == taps / up
    layer = SynthesisLayer(1, 1, w_dim=4, resolution=n * up, up=2, use_noise=False)
    count = count_forward_flops(layer, torch.randn(1, 1, n, n), torch.randn(1, 4))
    # two separable 1-D passes, 2 FLOPs per tap, at every output sample
    assert count.by_kind["FIR filters"] == 2 * 2 * (taps / up) * (n * up) ** 2


@pytest.fixture(scope="module")
def small_networks():
    g, d = build_configs("tiny", img_resolution=16, img_channels=3, c_dim=4)
    torch.manual_seed(0)
    return Generator(g), Discriminator(d), g


def test_every_parameter_of_g_and_d_is_in_a_counted_layer(small_networks):
    G, D, g = small_networks
    z, c = torch.randn(2, g.z_dim), torch.eye(4)[:2]
    assert count_forward_flops(G, z, c).uncounted == []
    assert count_forward_flops(D, torch.randn(2, 3, 16, 16), c).uncounted == []


def test_training_iteration_rule_matches_torchs_count_of_a_real_iteration(small_networks):
    G, D, g = small_networks
    z, c = torch.randn(4, g.z_dim), torch.eye(4)[torch.arange(4)]
    real = torch.randn(4, 3, 16, 16)

    def iteration():
        G.requires_grad_(True)
        D.requires_grad_(False)
        F.softplus(-D(G(z, c), c)).mean().backward()
        G.requires_grad_(False)
        D.requires_grad_(True)
        with torch.no_grad():
            fake = G(z, c)
        (F.softplus(D(fake, c)).mean() + F.softplus(-D(real, c)).mean()).backward()

    def g_forward():
        with torch.no_grad():
            G(z, c)

    def d_forward():
        with torch.no_grad():
            D(real, c)

    # torch counts what this implementation launches; applied to its own forward counts, the
    # rule must reproduce its count of the whole iteration (backward = twice the forward where
    # weights learn, once where only inputs need gradients).
    rule = training_iteration_flops(torch_count(g_forward), torch_count(d_forward))
    assert rule / torch_count(iteration) == pytest.approx(1.0, abs=0.04)


def test_non_finite_forward_counts_are_refused():
    with pytest.raises(ValueError, match="forward FLOPs must be finite"):
        training_iteration_flops(float("nan"), 1.0)
