"""Behaviour of the StyleGAN2 networks against independent, plainly written references."""

import math

import numpy as np
import pytest
import torch

from stylegen.errors import UserError
from stylegen.models import Discriminator, Generator
from stylegen.models.layers import FullyConnectedLayer, MinibatchStdLayer, normalize_2nd_moment
from stylegen.training.stylegan_config import PRESETS, build_configs


def test_minibatch_std_matches_naive_loop():
    x = torch.randn(8, 6, 3, 3, dtype=torch.float64)
    layer = MinibatchStdLayer(group_size=4, num_channels=2)
    y = layer(x)
    assert y.shape == (8, 8, 3, 3)
    groups = 8 // 4
    for n in range(8):
        members = [m for m in range(8) if m % groups == n % groups]
        for f in range(2):
            feats = x[members][:, f * 3 : (f + 1) * 3].numpy()
            std = np.sqrt(feats.var(axis=0) + 1e-8).mean()
            assert y[n, 6 + f].numpy() == pytest.approx(np.full((3, 3), std), rel=1e-10)


def test_minibatch_std_rejects_indivisible_batch():
    with pytest.raises(ValueError, match="not divisible"):
        MinibatchStdLayer(4)(torch.randn(6, 2, 2, 2))


def test_equalized_lr_dense_layer():
    layer = FullyConnectedLayer(4, 3, activation="linear", lr_multiplier=0.01, bias_init=1)
    x = torch.randn(2, 4)
    w = layer.weight.detach() * 0.01 / math.sqrt(4)
    b = layer.bias.detach() * 0.01
    torch.testing.assert_close(layer(x), x @ w.t() + b)
    # Stored weights are N(0,1)/lr_multiplier so that the effective weight is N(0, 1/fan_in).
    assert layer.weight.std().item() > 10


def test_normalize_2nd_moment():
    x = torch.randn(5, 7) * 3
    y = normalize_2nd_moment(x)
    torch.testing.assert_close(y.square().mean(dim=1), torch.ones(5), rtol=1e-5, atol=1e-5)


def _tiny(c_dim=0, arch="skip", res=16):
    g, d = build_configs("tiny", img_resolution=res, c_dim=c_dim)
    g.architecture = arch
    return Generator(g), Discriminator(d)


@pytest.mark.parametrize("arch", ["skip", "resnet", "orig"])
def test_generator_shapes_and_num_ws(arch):
    G, _ = _tiny(arch=arch, res=32)
    assert G.num_ws == 2 * int(math.log2(32)) - 2
    img = G(torch.randn(2, G.z_dim), noise_mode="const")
    assert img.shape == (2, 3, 32, 32) and torch.isfinite(img).all()


def test_truncation_psi_zero_gives_w_avg_and_cutoff():
    G, _ = _tiny()
    G.mapping.w_avg.normal_()
    z = torch.randn(3, G.z_dim)
    ws = G.mapping(z, None, truncation_psi=0)
    torch.testing.assert_close(ws, G.mapping.w_avg.expand_as(ws))
    ws_full = G.mapping(z, None)
    ws_cut = G.mapping(z, None, truncation_psi=0.5, truncation_cutoff=2)
    torch.testing.assert_close(ws_cut[:, 2:], ws_full[:, 2:])
    torch.testing.assert_close(ws_cut[:, :2], G.mapping.w_avg.lerp(ws_full[:, :2], 0.5))


def test_w_avg_tracks_mean_only_when_asked():
    G, _ = _tiny()
    z = torch.randn(4, G.z_dim)
    G.mapping(z, None)
    assert G.mapping.w_avg.abs().sum() == 0
    ws = G.mapping(z, None, update_emas=True)
    torch.testing.assert_close(G.mapping.w_avg, ws[:, 0].mean(0) * (1 - 0.995))


def test_noise_modes():
    G, _ = _tiny()
    for block in (G.synthesis.b8, G.synthesis.b16):
        block.conv1.noise_strength.data.fill_(0.5)
    z = torch.randn(2, G.z_dim)
    const = [G(z, noise_mode="const") for _ in range(2)]
    rand = [G(z, noise_mode="random") for _ in range(2)]
    torch.testing.assert_close(const[0], const[1])
    assert not torch.allclose(rand[0], rand[1])
    assert not torch.allclose(G(z, noise_mode="none"), const[0])
    with pytest.raises(ValueError, match="noise_mode"):
        G(z, noise_mode="loud")


def test_conditional_discriminator_is_projection():
    _, D = _tiny(c_dim=4)
    img = torch.randn(4, 3, 16, 16)
    c = torch.eye(4)
    logits = D(img, c)
    # By linearity of the projection, the logits of a label mix are the mix of the logits.
    x = None
    for res in D.block_resolutions:
        x, _ = getattr(D, f"b{res}")(x, img)
    ep = D.b4
    feat = ep.out(ep.fc(ep.conv(ep.mbstd(x)).flatten(1)))
    cmap = D.mapping(None, c)
    want = (feat * cmap).sum(1, keepdim=True) / math.sqrt(cmap.shape[1])
    torch.testing.assert_close(logits, want)


@pytest.mark.parametrize("arch", ["resnet", "skip", "orig"])
def test_discriminator_gradients_flow(arch):
    g, d = build_configs("tiny", img_resolution=16)
    d.architecture = arch
    D = Discriminator(d)
    img = torch.randn(4, 3, 16, 16, requires_grad=True)
    D(img).sum().backward()
    assert img.grad.abs().sum() > 0
    assert all(p.grad is not None for p in D.parameters())


def test_channel_counts_follow_paper_formula():
    g, d = build_configs("cifar", c_dim=10)
    assert g.channel_base == 32768 and g.mapping_layers == 2 and d.architecture == "orig"
    G = Generator(g)
    for res in G.synthesis.block_resolutions:
        assert getattr(G.synthesis, f"b{res}").conv1.weight.shape[0] == min(32768 // res, 512)


def test_bad_presets_and_resolutions():
    with pytest.raises(UserError, match="unknown preset 'huge'"):
        build_configs("huge")
    with pytest.raises(UserError, match="resolution 48 is not a power of two"):
        build_configs("tiny", img_resolution=48)
    with pytest.raises(UserError, match="resolution 2 is not a power of two"):
        build_configs("tiny", img_resolution=2)
    assert set(PRESETS) >= {"tiny", "cpu32", "cifar", "paper256", "paper512", "paper1024"}
