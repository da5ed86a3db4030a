"""ProGAN and StyleGAN (2019) networks against plainly written formulas: pixel norm, AdaIN, the
equalised layers, the fade-in of a new resolution in G and D, mid-growth checkpoints, and the
StyleGAN2-style interface of the StyleGAN (2019) generator."""

import math

import numpy as np
import pytest
import torch

import stylegen
from stylegen.errors import UserError
from stylegen.generate import generate_images
from stylegen.models import progan, stylegan1
from stylegen.models.layers import (
    EqualizedConv2d,
    EqualizedLinear,
    blur2d,
    downscale2d,
    normalize_2nd_moment,
    upscale2d,
)

TINY = dict(channel_base=128, channel_max=8)


def _progan(res=32, c_dim=0, channels=1):
    cfg = progan.ProGANGeneratorConfig(
        z_dim=8, c_dim=c_dim, img_resolution=res, img_channels=channels, **TINY
    )
    return progan.Generator(cfg)


def _sg1(res=32, c_dim=0, **kw):
    cfg = stylegan1.StyleGAN1GeneratorConfig(
        z_dim=8, w_dim=8, mapping_layers=2, c_dim=c_dim, img_resolution=res, img_channels=1, **TINY
    )
    for k, v in kw.items():
        setattr(cfg, k, v)
    return stylegan1.Generator(cfg)


def _disc(res=32, blur=False, c_dim=0):
    cfg = progan.ProGANDiscriminatorConfig(
        img_resolution=res, img_channels=1, blur=blur, c_dim=c_dim, **TINY
    )
    return progan.Discriminator(cfg)


# ---------------------------------------------------------------------------------------------
# Formulas


def test_pixel_norm_is_the_plain_formula():
    x = torch.randn(2, 5, 3, 3, dtype=torch.float64) * 4
    want = x.numpy().copy()
    for n in range(2):
        for i in range(3):
            for j in range(3):
                v = want[n, :, i, j]
                want[n, :, i, j] = v / math.sqrt((v**2).mean() + 1e-8)
    np.testing.assert_allclose(normalize_2nd_moment(x).numpy(), want, rtol=1e-12)


def test_adain_is_instance_norm_then_scale_plus_one_and_bias():
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64) * 2 + 1
    style = torch.randn(2, 6, dtype=torch.float64)
    got = stylegan1.adain(x, style).numpy()
    for n in range(2):
        for ch in range(3):
            v = x[n, ch].numpy()
            normed = (v - v.mean()) / math.sqrt(v.var() + 1e-8)
            want = normed * (style[n, ch].item() + 1) + style[n, 3 + ch].item()
            np.testing.assert_allclose(got[n, ch], want, rtol=1e-10, atol=1e-12)
    assert got.shape == x.shape


def test_style_layer_is_conv_blur_noise_bias_lrelu_adain():
    torch.manual_seed(1)
    layer = stylegan1.SynthesisLayer(3, 4, w_dim=5, resolution=8, up=True).double()
    with torch.no_grad():
        layer.noise_strength.normal_()
        layer.bias.normal_()
    x, w = torch.randn(2, 3, 4, 4, dtype=torch.float64), torch.randn(2, 5, dtype=torch.float64)
    got = layer(x, w, noise_mode="const")
    # By hand: nearest 2x, 3x3 conv with the He-scaled weight, [1,2,1] blur, constant noise
    # times the per-channel strength, bias, leaky ReLU 0.2, AdaIN with the affine of w.
    wconv = layer.conv.weight * math.sqrt(2) / math.sqrt(3 * 9)
    y = torch.nn.functional.conv2d(
        x.repeat_interleave(2, 2).repeat_interleave(2, 3), wconv, padding=1
    )
    k = torch.tensor([[1, 2, 1], [2, 4, 2], [1, 2, 1]], dtype=torch.float64) / 16
    y = torch.nn.functional.conv2d(y, k.expand(4, 1, 3, 3), padding=1, groups=4)
    y = y + layer.noise_const * layer.noise_strength.view(1, -1, 1, 1)
    y = y + layer.bias.view(1, -1, 1, 1)
    y = torch.where(y >= 0, y, 0.2 * y)
    style = w @ (layer.affine.weight / math.sqrt(5)).t() + layer.affine.bias
    mean, var = y.mean((2, 3), keepdim=True), y.var((2, 3), unbiased=False, keepdim=True)
    want = (y - mean) / (var + 1e-8).sqrt() * (style[:, :4, None, None] + 1) + style[
        :, 4:, None, None
    ]
    torch.testing.assert_close(got, want)
    # A fresh layer's style scale starts at 1 (bias 0, plus one) and its noise strength at 0.
    fresh = stylegan1.SynthesisLayer(0, 4, w_dim=5, resolution=4)
    assert fresh.noise_strength.abs().sum() == 0 and fresh.affine.bias.abs().sum() == 0


def test_equalised_layers_scale_weights_at_run_time():
    fc = EqualizedLinear(6, 3, gain=2.0, lr_multiplier=0.01)
    with torch.no_grad():
        fc.bias.normal_()
    x = torch.randn(4, 6)
    torch.testing.assert_close(
        fc(x), x @ (fc.weight * 2 / math.sqrt(6) * 0.01).t() + fc.bias * 0.01
    )
    assert fc.weight.std() > 10  # stored N(0, 1) / lr_multiplier
    conv = EqualizedConv2d(3, 2, 3, gain=1.0)
    x = torch.randn(1, 3, 5, 5)
    want = torch.nn.functional.conv2d(x, conv.weight / math.sqrt(27), conv.bias, padding=1)
    torch.testing.assert_close(conv(x), want)


def test_resampling_and_blur():
    x = torch.arange(4.0).view(1, 1, 2, 2)
    assert upscale2d(x).tolist() == [[[[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]]]]
    assert torch.equal(downscale2d(upscale2d(x, 4), 4), x)
    flat = torch.ones(1, 2, 5, 5)
    assert torch.allclose(blur2d(flat)[..., 1:-1, 1:-1], flat[..., 1:-1, 1:-1])  # normalised


def test_lod_resolution():
    assert progan.lod_resolution(0, 32) == (32, 1.0)
    assert progan.lod_resolution(3, 32) == (4, 1.0)
    assert progan.lod_resolution(9, 32) == (4, 1.0)  # clipped
    res, alpha = progan.lod_resolution(1.25, 32)
    assert res == 16 and alpha == pytest.approx(0.75)


# ---------------------------------------------------------------------------------------------
# Fade-in


def _render(G, z, res, alpha, full=True):
    if isinstance(G, progan.Generator):
        return G.render(z, None, res, alpha, full)
    ws = G.mapping(z, None)
    return G.synthesis.render(ws, res, alpha, "const", full)


@pytest.mark.parametrize("make", [_progan, _sg1], ids=["progan", "stylegan1"])
def test_generator_fade_in_ends(make):
    G = make()
    z = torch.randn(3, G.z_dim)
    with torch.no_grad():
        low = _render(G, z, 8, 1.0, full=False)
        # alpha 0: the lower resolution's image, up-sampled (nearest), at any output size.
        torch.testing.assert_close(_render(G, z, 16, 0.0, full=False), upscale2d(low))
        torch.testing.assert_close(_render(G, z, 16, 0.0), upscale2d(low, 4))
        # alpha 1: the new block alone (the 8x8 toRGB plays no part) = the integer lod.
        new = _render(G, z, 16, 1.0, full=False)
        blocks = G if isinstance(G, progan.Generator) else G.synthesis
        blocks.b8.to_rgb.weight.add_(1.0)
        torch.testing.assert_close(_render(G, z, 16, 1.0, full=False), new)
        # In between: the linear blend, and the forward at a fractional lod is that blend.
        low = _render(G, z, 8, 1.0, full=False)
        mid = _render(G, z, 16, 0.25, full=False)
        torch.testing.assert_close(mid, torch.lerp(upscale2d(low), new, 0.25))
        G.set_lod(1.75)  # 32 / 2 = 16 px, alpha 0.25
        torch.testing.assert_close(G(z, noise_mode="const"), upscale2d(mid))


@pytest.mark.parametrize("blur", [False, True], ids=["progan", "stylegan1"])
def test_discriminator_fade_in_ends(blur):
    D = _disc(blur=blur)
    img = torch.randn(4, 1, 16, 16)
    with torch.no_grad():
        # alpha 0: D of the half-resolution image; alpha 1 does not use the 8x8 fromRGB.
        torch.testing.assert_close(
            D.score(img, None, 16, 0.0), D.score(downscale2d(img), None, 8, 1)
        )
        new = D.score(img, None, 16, 1.0)
        D.b8.from_rgb.weight.add_(1.0)
        torch.testing.assert_close(D.score(img, None, 16, 1.0), new)
        # Full-resolution input is box-filtered down to the current resolution first.
        torch.testing.assert_close(D(upscale2d(img), lod=1.0), new)
        assert D(torch.randn(4, 1, 32, 32), lod=0).shape == (4, 1)


def test_conditional_discriminator_picks_the_label_score():
    D = _disc(c_dim=3)
    img = torch.randn(4, 1, 32, 32)
    c = torch.eye(3)[[0, 2, 1, 2]]
    with torch.no_grad():
        all_scores = D.score(img, torch.ones(4, 3), 32, 1.0)  # sums of the three
        picked = D(img, c)
        per_class = [D(img, torch.eye(3)[[k] * 4]) for k in range(3)]
    torch.testing.assert_close(sum(per_class), all_scores)
    for n, k in enumerate([0, 2, 1, 2]):
        torch.testing.assert_close(picked[n], per_class[k][n])


# ---------------------------------------------------------------------------------------------
# Interface, checkpoints, generation


def test_stylegan1_mapping_synthesis_interface_and_truncation():
    G = _sg1(res=64)
    assert G.num_ws == 10 and G.synthesis.num_ws == 10 and G.w_dim == 8 and G.z_dim == 8
    z = torch.randn(3, 8)
    with torch.no_grad():
        G.mapping.w_avg.normal_()
        ws = G.mapping(z, None)
        assert ws.shape == (3, 10, 8)
        # Default cutoff: the first 8 ws move towards w_avg, the last two keep their w.
        trunc = G.mapping(z, None, truncation_psi=0.7)
        torch.testing.assert_close(trunc[:, :8], G.mapping.w_avg.lerp(ws[:, :8], 0.7))
        torch.testing.assert_close(trunc[:, 8:], ws[:, 8:])
        torch.testing.assert_close(
            G.mapping(z, None, truncation_psi=0)[:, :3], G.mapping.w_avg.expand(3, 3, 8)
        )
        all_trunc = G.mapping(z, None, truncation_psi=0.5, truncation_cutoff=10)
        torch.testing.assert_close(all_trunc, G.mapping.w_avg.lerp(ws, 0.5))
        img = G.synthesis(ws, noise_mode="const")
        assert img.shape == (3, 1, 64, 64)
        torch.testing.assert_close(G(z, noise_mode="const"), img)
        # Per-layer style mixing through ws: different ws per layer are honoured.
        mixed = torch.cat([ws[:, :4], ws.flip(0)[:, 4:]], dim=1)
        assert not torch.allclose(G.synthesis(mixed, noise_mode="const"), img)
        # w_avg moves only when asked.
        before = G.mapping.w_avg.clone()
        G.mapping(z, None)
        assert torch.equal(G.mapping.w_avg, before)
        G.mapping(z, None, update_emas=True)
        torch.testing.assert_close(G.mapping.w_avg, ws[:, 0].mean(0).lerp(before, 0.995))
    noise = [n for n, _ in G.synthesis.named_buffers() if n.endswith("noise_const")]
    assert noise[:3] == ["b4.conv0.noise_const", "b4.conv1.noise_const", "b8.conv0.noise_const"]
    assert len(noise) == G.num_ws


def test_progan_generator_has_no_truncation():
    G = _progan()
    with pytest.raises(UserError, match="no W space"):
        G(torch.randn(1, 8), truncation_psi=0.7)


@pytest.mark.parametrize("make", [_progan, _sg1], ids=["progan", "stylegan1"])
def test_mid_growth_checkpoint_loads_and_generates_its_current_resolution(make, tmp_path):
    G = make(c_dim=3).eval()
    G.set_lod(1.5)  # fading in 16x16 on a 32x32 network
    G.save(tmp_path / "ckpt", {"kimg": 1.0})
    loaded = stylegen.load(tmp_path / "ckpt")
    assert type(loaded) is type(G) and loaded.current_resolution() == (16, 0.5)
    imgs = generate_images(loaded, [0, 1], class_idx=2)
    assert imgs.shape == (2, 1, 32, 32)
    # Blocky: the 16x16 image up-sampled; the same pixels as the saved network.
    assert torch.equal(imgs, upscale2d(imgs[..., ::2, ::2]))
    assert torch.equal(imgs, generate_images(G, [0, 1], class_idx=2))
    loaded.set_lod(0)
    full = generate_images(loaded, [0, 1], class_idx=2)
    assert not torch.equal(full, upscale2d(full[..., ::2, ::2]))


def test_configs_validate():
    with pytest.raises(UserError, match="power of two"):
        progan.ProGANGeneratorConfig(img_resolution=48).validate()
    with pytest.raises(UserError, match="truncation_cutoff"):
        stylegan1.StyleGAN1GeneratorConfig(truncation_cutoff=-1).validate()
    with pytest.raises(UserError, match="mbstd"):
        progan.ProGANDiscriminatorConfig(mbstd_group_size=-1).validate()
