"""Tests for stylegen.training.augment: the ADA pipe, the ADA controller, DiffAugment, factory."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from stylegen.errors import UserError
from stylegen.training import augment
from stylegen.training.augment import (
    AUGPIPE_PRESETS,
    AdaController,
    AugmentPipe,
    _reflect_index,
    _resample,
    diff_augment,
    make_augment,
)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def pipe_with(p: float = 1.0, **kwargs) -> AugmentPipe:
    pipe = AugmentPipe(**kwargs)
    pipe.set_p(p)
    return pipe


def images(n: int = 8, c: int = 3, h: int = 16, w: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, c, h, w, generator=gen(seed)) * 2 - 1


def ramps(n: int, size: int) -> torch.Tensor:
    """Two channels: the centred x and y pixel coordinates (a linear test pattern)."""
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    x = r.view(1, size).expand(size, size)
    y = r.view(size, 1).expand(size, size)
    return torch.stack([x, y]).expand(n, 2, size, size).clone()


def jacobian_interior(out: torch.Tensor, half: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Finite-difference Jacobian of the two ramp channels over the central (2*half)^2 pixels.

    Returns J [n, 2, 2] (rows: channels, columns: d/dx, d/dy) and the max deviation from it.
    """
    size = out.shape[-1]
    c0, c1 = size // 2 - half, size // 2 + half
    core = out[:, :, c0:c1, c0:c1]
    dx = core[:, :, :, 1:] - core[:, :, :, :-1]
    dy = core[:, :, 1:, :] - core[:, :, :-1, :]
    J = torch.stack([dx.mean(dim=(2, 3)), dy.mean(dim=(2, 3))], dim=-1)
    dev = max(
        (dx - J[..., 0, None, None]).abs().max().item(),
        (dy - J[..., 1, None, None]).abs().max().item(),
    )
    return J, torch.tensor(dev)


# ------------------------------------------------------------------------------------------------
# AugmentPipe: identity, presets, errors


def test_p_zero_is_identity_and_skips_work() -> None:
    x = images()
    pipe = AugmentPipe.from_preset("bgc")  # p defaults to 0
    assert float(pipe.p) == 0
    out = pipe(x)
    assert out is x


def test_presets_match_the_paper_groups() -> None:
    bgc = AUGPIPE_PRESETS["bgc"]
    assert set(bgc) == {
        "xflip",
        "rotate90",
        "xint",
        "scale",
        "rotate",
        "aniso",
        "xfrac",
        "brightness",
        "contrast",
        "lumaflip",
        "hue",
        "saturation",
    }
    assert all(v == 1 for v in bgc.values())
    assert set(AUGPIPE_PRESETS["b"]) == {"xflip", "rotate90", "xint"}
    assert set(AUGPIPE_PRESETS["g"]) == {"scale", "rotate", "aniso", "xfrac"}
    assert set(AUGPIPE_PRESETS["c"]) == {"brightness", "contrast", "lumaflip", "hue", "saturation"}
    assert set(AUGPIPE_PRESETS["bg"]) == set(AUGPIPE_PRESETS["b"]) | set(AUGPIPE_PRESETS["g"])
    pipe = AugmentPipe.from_preset("bg")
    assert pipe.xflip == 1 and pipe.scale == 1 and pipe.brightness == 0
    assert pipe.xint_max == 0.125 and pipe.contrast_std == 0.5


def test_pipe_errors() -> None:
    with pytest.raises(UserError, match="unknown augment preset 'xyz'.*bgc"):
        AugmentPipe.from_preset("xyz")
    with pytest.raises(UserError, match="scale=-1"):
        AugmentPipe(scale=-1)
    with pytest.raises(UserError, match="supersample=0"):
        AugmentPipe(supersample=0)
    with pytest.raises(UserError, match=r"p=1.5 is outside \[0, 1\]"):
        AugmentPipe().set_p(1.5)
    with pytest.raises(UserError, match="got 2"):
        pipe_with(brightness=1)(images(c=2))


@pytest.mark.parametrize("c", [1, 3])
def test_bgc_output_finite_same_shape(c: int) -> None:
    x = images(n=6, c=c)
    out = AugmentPipe.from_preset("bgc")
    out.set_p(1.0)
    y = out(x, generator=gen())
    assert y.shape == x.shape and y.dtype == x.dtype
    assert torch.isfinite(y).all()
    assert not torch.equal(y, x)


def test_rgba_colour_leaves_alpha() -> None:
    x = images(n=4, c=4)
    y = pipe_with(brightness=1, contrast=1, hue=1)(x, generator=gen())
    assert torch.equal(y[:, 3], x[:, 3])
    assert not torch.equal(y[:, :3], x[:, :3])


def test_untouched_images_pass_bit_exactly() -> None:
    # With a small p most images draw no transform at all; those must come back unchanged.
    x = images(n=64, h=8, w=8)
    y = AugmentPipe.from_preset("bgc")
    y.set_p(0.05)
    out = y(x, generator=gen(1))
    same = (out == x).flatten(1).all(dim=1)
    assert 10 < int(same.sum()) < 64


@pytest.mark.parametrize("c", [1, 3])
def test_whole_batch_path_equals_the_subset_path(monkeypatch, c: int) -> None:
    # On a GPU every image is transformed and the mask picks (no host read of the mask); the
    # CPU transforms only the selected ones. Same draws, same images, same gradients.
    x = images(n=64, c=c, h=8, w=8).requires_grad_(True)
    pipe = AugmentPipe.from_preset("bgc")
    pipe.set_p(0.05)
    subset = pipe(x, generator=gen(5))
    (grad_subset,) = torch.autograd.grad(subset.square().sum(), x)
    monkeypatch.setattr(augment, "SUBSET_DEVICES", ())
    whole = pipe(x, generator=gen(5))
    (grad_whole,) = torch.autograd.grad(whole.square().sum(), x)
    same = (subset == x).flatten(1).all(dim=1)
    assert 0 < int(same.sum()) < 64  # some images transformed, some not
    torch.testing.assert_close(whole, subset, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(grad_whole, grad_subset, rtol=1e-6, atol=1e-6)


def test_seeded_generator_and_global_seed_are_deterministic() -> None:
    x = images()
    pipe = AugmentPipe.from_preset("bgc")
    pipe.set_p(0.7)
    assert torch.equal(pipe(x, generator=gen(3)), pipe(x, generator=gen(3)))
    assert not torch.equal(pipe(x, generator=gen(3)), pipe(x, generator=gen(4)))
    torch.manual_seed(11)
    a = pipe(x)
    torch.manual_seed(11)
    b = pipe(x)
    assert torch.equal(a, b)


# ------------------------------------------------------------------------------------------------
# Pixel blitting: exact


def test_reflect_index_matches_numpy_reflect_pad() -> None:
    for size in (1, 2, 5, 8):
        pad = 3 * size + 2
        expected = np.pad(np.arange(size), pad, mode="reflect")
        got = _reflect_index(torch.arange(-pad, size + pad), size)
        np.testing.assert_array_equal(got.numpy(), expected)


def test_xflip_gives_original_or_mirror_per_image() -> None:
    x = images(n=32)
    y = pipe_with(xflip=1)(x, generator=gen())
    flipped = 0
    for xi, yi in zip(x, y):
        is_flip = torch.equal(yi, xi.flip(-1))
        assert is_flip or torch.equal(yi, xi)
        flipped += is_flip
    assert 4 < flipped < 28


def test_rotate90_gives_one_of_four_rotations_exactly() -> None:
    x = images(n=32, h=8, w=8)
    y = pipe_with(rotate90=1)(x, generator=gen())
    seen = set()
    for xi, yi in zip(x, y):
        ks = [k for k in range(4) if torch.equal(yi, torch.rot90(xi, k, dims=(1, 2)))]
        assert len(ks) == 1
        seen.add(ks[0])
    assert seen == {0, 1, 2, 3}


def test_xflip_and_rotate90_give_the_eight_dihedral_images() -> None:
    x = images(n=64, h=6, w=6)
    y = pipe_with(xflip=1, rotate90=1)(x, generator=gen(2))
    seen = set()
    for xi, yi in zip(x, y):
        for f in (0, 1):
            for k in range(4):
                ref = torch.rot90(xi.flip(-1) if f else xi, k, dims=(1, 2))
                if torch.equal(yi, ref):
                    seen.add((f, k))
                    break
            else:
                continue
            break
        else:
            raise AssertionError("output is not a dihedral transform of its input")
    assert len(seen) == 8


@pytest.mark.parametrize("xint_max", [0.25, 1.5])
def test_integer_translation_matches_reflect_padded_roll(xint_max: float) -> None:
    # Non-square pattern; 1.5 x size shifts need several reflections (numpy pad handles those).
    h, w = 12, 16
    x = images(n=8, c=1, h=h, w=w)
    y = pipe_with(xint=1, xint_max=xint_max)(x, generator=gen())
    rx, ry = math.ceil(xint_max * w), math.ceil(xint_max * h)
    moved = 0
    for xi, yi in zip(x.numpy(), y.numpy()):
        padded = np.pad(xi[0], ((ry, ry), (rx, rx)), mode="reflect")
        matches = [
            (dx, dy)
            for dy in range(-ry, ry + 1)
            for dx in range(-rx, rx + 1)
            if np.array_equal(yi[0], padded[ry - dy : ry - dy + h, rx - dx : rx - dx + w])
        ]
        assert matches, "output is not a whole-pixel reflect-padded shift of the input"
        moved += matches[0] != (0, 0)
    assert moved >= 6


def test_blit_folded_into_general_matrix_agrees_with_exact_blit() -> None:
    # Same seed: the blit draws come first, so both pipes draw the same flips/rotations/shifts.
    # A negligible fractional translation forces the bilinear path; without supersampling it
    # samples exactly at pixel centres, so it must reproduce the exact gather.
    x = images(n=16, h=10, w=10)
    blit = pipe_with(xflip=1, rotate90=1, xint=1, xint_max=0.3)
    both = pipe_with(xflip=1, rotate90=1, xint=1, xint_max=0.3, xfrac=1, xfrac_std=1e-9)
    both.supersample = 1
    a = blit(x, generator=gen(5))
    b = both(x, generator=gen(5))
    assert not torch.equal(a, x)
    torch.testing.assert_close(b, a, atol=1e-4, rtol=0)


def test_resample_positions_and_supersampling_filter() -> None:
    # Identity matrix: without supersampling the pixels are read back; with 2x supersampling
    # each output is the mean of 4 bilinear samples at +-1/4 pixel, i.e. the separable filter
    # [1/8, 3/4, 1/8] with reflection about the edge pixel centres (scipy's "mirror").
    x = torch.rand(2, 3, 7, 9, dtype=torch.float64, generator=gen())
    eye = torch.eye(3, dtype=torch.float64).expand(2, 3, 3)
    torch.testing.assert_close(_resample(x, eye, 1), x, atol=1e-12, rtol=0)
    ref = ndimage.correlate1d(x.numpy(), [0.125, 0.75, 0.125], axis=2, mode="mirror")
    ref = ndimage.correlate1d(ref, [0.125, 0.75, 0.125], axis=3, mode="mirror")
    torch.testing.assert_close(_resample(x, eye, 2), torch.from_numpy(ref), atol=1e-12, rtol=0)


# ------------------------------------------------------------------------------------------------
# General geometric transforms on a linear test pattern (bilinear sampling and box averaging
# reproduce linear functions exactly, so the interior reveals the sampled matrix).


def test_rotation_is_a_rotation() -> None:
    x = ramps(16, 32)
    y = pipe_with(rotate=1)(x, generator=gen())
    J, dev = jacobian_interior(y, half=5)
    assert dev < 1e-6
    eye = torch.eye(2, dtype=J.dtype).expand_as(J)
    torch.testing.assert_close(J @ J.transpose(1, 2), eye, atol=1e-6, rtol=0)
    torch.testing.assert_close(torch.linalg.det(J), torch.ones(16, dtype=J.dtype))
    angles = torch.atan2(J[:, 1, 0], J[:, 0, 0]).abs()
    assert (angles > 0.1).sum() >= 8  # rotation happened with P(pre or post) = 1


def test_rotation_probability_counts_pre_or_post_once() -> None:
    # Rotation is drawn before and after the anisotropic scaling, each with probability
    # 1 - sqrt(1 - p), so that an image is rotated at all with probability p.
    x = images(n=2000, c=1, h=4, w=4)
    y = pipe_with(0.5, rotate=1)(x, generator=gen())
    rotated = (y != x).flatten(1).any(dim=1).float().mean().item()
    assert 0.46 < rotated < 0.54


def test_scale_is_isotropic_with_log2_normal_factor() -> None:
    x = ramps(64, 32)
    y = pipe_with(scale=1, scale_std=0.2)(x, generator=gen())
    J, dev = jacobian_interior(y, half=3)
    assert dev < 1e-6
    torch.testing.assert_close(J[:, 0, 1], torch.zeros(64, dtype=J.dtype), atol=1e-9, rtol=0)
    torch.testing.assert_close(J[:, 0, 0], J[:, 1, 1])
    log2s = -torch.log2(J[:, 0, 0])  # sampling uses 1/s
    assert 0.15 < log2s.std().item() < 0.25
    assert abs(log2s.mean().item()) < 0.08


def test_aniso_preserves_area_and_xfrac_is_pure_translation() -> None:
    x = ramps(16, 32)
    J, dev = jacobian_interior(pipe_with(aniso=1)(x, generator=gen()), half=4)
    assert dev < 1e-6
    torch.testing.assert_close(torch.linalg.det(J), torch.ones(16, dtype=J.dtype))
    assert (J[:, 0, 0] - 1).abs().max() > 0.05

    y = pipe_with(xfrac=1)(x, generator=gen())
    J, dev = jacobian_interior(y, half=4)
    assert dev < 1e-6
    torch.testing.assert_close(J, torch.eye(2, dtype=J.dtype).expand_as(J), atol=1e-6, rtol=0)
    offset = (y - x)[:, :, 14:18, 14:18].mean(dim=(2, 3))  # [n, 2] translation in pixels
    assert (offset - offset.round()).abs().max() > 0.05  # fractional, not whole pixels


def test_geometric_gradients_flow() -> None:
    x = images(n=4).requires_grad_()
    pipe = AugmentPipe.from_preset("bg")
    pipe.set_p(1.0)
    pipe(x, generator=gen()).square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert (x.grad.flatten(1).abs().sum(dim=1) > 0).all()


def test_geometric_gradcheck_float64() -> None:
    x = torch.rand(2, 1, 5, 5, dtype=torch.float64).requires_grad_()
    pipe = AugmentPipe.from_preset("bg")
    pipe.set_p(1.0)
    assert torch.autograd.gradcheck(lambda t: pipe(t, generator=gen(1)), (x,))


# ------------------------------------------------------------------------------------------------
# Colour transforms


def test_brightness_adds_a_per_image_constant() -> None:
    x = images(n=2000, h=2, w=2)
    y = pipe_with(brightness=1, brightness_std=0.2)(x, generator=gen())
    diff = y - x
    b = diff[:, 0, 0, 0]
    torch.testing.assert_close(diff, b.view(-1, 1, 1, 1).expand_as(diff), atol=1e-6, rtol=0)
    assert 0.19 < b.std().item() < 0.21 and abs(b.mean().item()) < 0.02

    # With p = 0.5 about half of the images get an offset.
    y = pipe_with(0.5, brightness=1)(x, generator=gen())
    moved = ((y - x).abs().flatten(1).amax(dim=1) > 0).float().mean().item()
    assert 0.45 < moved < 0.55


def test_contrast_multiplies_by_log2_normal_factor() -> None:
    x = images(n=2000, c=1, h=2, w=2)
    y = pipe_with(contrast=1)(x, generator=gen())
    ratio = y / x
    c = ratio[:, 0, 0, 0]
    torch.testing.assert_close(ratio, c.view(-1, 1, 1, 1).expand_as(ratio))
    assert 0.47 < torch.log2(c).std().item() < 0.53


def test_lumaflip_reflects_about_the_luma_plane() -> None:
    x = images(n=64, h=4, w=4)
    y = pipe_with(lumaflip=1)(x, generator=gen())
    reflected = x - 2 * x.mean(dim=1, keepdim=True)  # x - 2 v v^T x, v = (1,1,1)/sqrt(3)
    flips = 0
    for xi, yi, ri in zip(x, y, reflected):
        is_flip = torch.allclose(yi, ri, atol=1e-6)
        assert is_flip or torch.equal(yi, xi)
        flips += is_flip
    assert 16 < flips < 48
    g = images(n=64, c=1, h=4, w=4)
    yg = pipe_with(lumaflip=1)(g, generator=gen())
    for xi, yi in zip(g, yg):
        assert torch.equal(yi, xi) or torch.equal(yi, -xi)


def test_hue_keeps_luma_and_chroma_length_saturation_scales_chroma() -> None:
    x = images(n=32, h=4, w=4)
    luma = x.mean(dim=1, keepdim=True)
    y = pipe_with(hue=1)(x, generator=gen())
    torch.testing.assert_close(y.mean(dim=1, keepdim=True), luma, atol=1e-6, rtol=0)
    torch.testing.assert_close((y - luma).norm(dim=1), (x - luma).norm(dim=1), atol=1e-5, rtol=0)
    assert (y - x).abs().amax() > 0.1

    y = pipe_with(saturation=1)(x, generator=gen())
    torch.testing.assert_close(y.mean(dim=1, keepdim=True), luma, atol=1e-6, rtol=0)
    ratio = (y - luma) / (x - luma)
    s = ratio.flatten(1).median(dim=1).values
    torch.testing.assert_close(ratio, s.view(-1, 1, 1, 1).expand_as(ratio), atol=1e-3, rtol=1e-3)
    assert (s - 1).abs().max() > 0.1


def test_grayscale_is_luma_only_and_matches_rgb_on_gray_images() -> None:
    g = images(n=16, c=1, h=4, w=4)
    # hue and saturation are no-ops on one channel
    assert torch.equal(pipe_with(hue=1, saturation=1)(g, generator=gen()), g)
    # the scalar 1-channel path equals the 4x4 matrix path on a gray RGB image (same draws:
    # hue and saturation are drawn last)
    pipe = AugmentPipe.from_preset("c")
    pipe.set_p(1.0)
    one = pipe(g, generator=gen(7))
    rgb = pipe(g.expand(-1, 3, -1, -1), generator=gen(7))
    torch.testing.assert_close(rgb, one.expand(-1, 3, -1, -1), atol=1e-5, rtol=0)
    assert not torch.equal(one, g)


def test_colour_gradcheck_float64() -> None:
    x = torch.rand(3, 3, 2, 2, dtype=torch.float64).requires_grad_()
    pipe = AugmentPipe.from_preset("c")
    pipe.set_p(1.0)
    assert not torch.equal(pipe(x, generator=gen(1)), x)
    assert torch.autograd.gradcheck(lambda t: pipe(t, generator=gen(1)), (x,))


# ------------------------------------------------------------------------------------------------
# AdaController


def test_ada_positive_logits_raise_p_by_one_step() -> None:
    ctl = AdaController(target=0.6, interval=4, kimg=500, batch_size=32)
    step = 32 * 4 / (500 * 1000)
    assert ctl.step == step
    for _ in range(3):
        ctl.accumulate(torch.full((32, 1), 2.5))
    assert ctl.p == 0 and ctl.rt is None  # not yet an interval
    ctl.accumulate(torch.full((32, 1), 2.5))
    assert ctl.rt == 1.0 and ctl.p == step
    for _ in range(4):
        ctl.accumulate(torch.ones(32))
    assert ctl.p == 2 * step


def test_ada_rt_hand_computed_and_decrease() -> None:
    ctl = AdaController(target=0.6, interval=2, kimg=1, batch_size=10, p=0.5)
    ctl.accumulate(torch.tensor([3.0, -1.0]))  # signs 1, -1
    ctl.accumulate(torch.tensor([1.0, 1.0, 0.0, 4.0]))  # signs 1, 1, 0, 1
    assert ctl.rt == pytest.approx(3 / 6)
    assert ctl.p == pytest.approx(0.5 - 10 * 2 / 1000)
    # r_t exactly at the target leaves p alone
    ctl.accumulate(torch.tensor([1.0, 1.0, 1.0]))
    ctl.accumulate(torch.tensor([1.0, -1.0]))
    assert ctl.rt == 0.6 and ctl.p == pytest.approx(0.48)


def test_ada_clamps_to_unit_interval_and_drives_pipe() -> None:
    pipe = AugmentPipe.from_preset("bgc")
    low = AdaController(interval=1, kimg=0.001, batch_size=64, pipe=pipe)
    for _ in range(3):
        low.accumulate(-torch.ones(8))
    assert low.p == 0.0 and low.rt == -1.0 and float(pipe.p) == 0.0
    high = AdaController(interval=1, kimg=0.1, batch_size=64, p=0.99, pipe=pipe)
    high.accumulate(torch.ones(8))
    assert high.p == 1.0 and float(pipe.p) == 1.0


def test_ada_state_dict_round_trip_mid_interval() -> None:
    a = AdaController(interval=3, kimg=2, batch_size=8, p=0.25)
    for logits in ([1.0, 1.0], [-1.0, 1.0], [1.0, 1.0], [2.0, -3.0]):
        a.accumulate(torch.tensor(logits))
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    b = AdaController(interval=3, kimg=2, batch_size=8)
    b.load_state_dict(state)
    assert b.p == a.p and b.rt == a.rt
    for ctl in (a, b):
        ctl.accumulate(torch.tensor([1.0, 1.0]))
        ctl.accumulate(torch.tensor([1.0, 1.0]))
    assert a.state_dict() == b.state_dict()
    assert b.rt == pytest.approx(4 / 6)


def test_ada_reduce_fn_sees_sum_and_count() -> None:
    seen = []

    def other_rank_all_negative(stats: torch.Tensor) -> torch.Tensor:
        seen.append(stats.clone())
        return stats + torch.tensor([-4.0, 4.0], dtype=torch.float64)

    ctl = AdaController(interval=1, batch_size=4, reduce_fn=other_rank_all_negative)
    ctl.accumulate(torch.ones(4))
    assert seen[0].tolist() == [4.0, 4.0]
    assert ctl.rt == 0.0 and ctl.p == 0.0


def test_ada_errors() -> None:
    with pytest.raises(UserError, match="target=1.5"):
        AdaController(target=1.5)
    with pytest.raises(UserError, match="interval=0"):
        AdaController(interval=0)
    with pytest.raises(UserError, match="kimg=0"):
        AdaController(kimg=0)
    with pytest.raises(UserError, match="batch_size=0"):
        AdaController(batch_size=0)


# ------------------------------------------------------------------------------------------------
# DiffAugment


def test_diff_augment_shapes_determinism_and_grad() -> None:
    x = images(n=6, h=16, w=16).requires_grad_()
    a = diff_augment(x, generator=gen(1))
    b = diff_augment(x, generator=gen(1))
    c = diff_augment(x, generator=gen(2))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, c)
    a.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    with pytest.raises(UserError, match="unknown DiffAugment op 'blur'.*translation"):
        diff_augment(x, "color,blur")


def test_diff_augment_translation_is_zero_padded_shift() -> None:
    h = w = 16
    x = torch.rand(12, 2, h, w, generator=gen()) + 0.5  # no zeros in the image
    y = diff_augment(x, "translation", generator=gen()).numpy()
    r = 2  # int(16 / 8 + 0.5)
    shifts = set()
    for xi, yi in zip(x.numpy(), y):
        padded = np.pad(xi, ((0, 0), (r, r), (r, r)))
        found = [
            (dx, dy)
            for dy in range(-r, r + 1)
            for dx in range(-r, r + 1)
            if np.array_equal(yi, padded[:, r - dy : r - dy + h, r - dx : r - dx + w])
        ]
        assert len(found) == 1
        shifts.add(found[0])
    assert len(shifts) > 3


def test_diff_augment_cutout_zeroes_a_half_size_square() -> None:
    h = w = 16
    x = torch.rand(32, 3, h, w, generator=gen()) + 0.5
    y = diff_augment(x, "cutout", generator=gen())
    full = 0
    for xi, yi in zip(x, y):
        hole = (yi == 0).all(dim=0)
        assert torch.equal(yi[:, ~hole], xi[:, ~hole])
        rows, cols = hole.any(dim=1).nonzero()[:, 0], hole.any(dim=0).nonzero()[:, 0]
        r0, r1, c0, c1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
        assert hole[r0:r1, c0:c1].all() and int(hole.sum()) == (r1 - r0) * (c1 - c0)
        assert r1 - r0 <= 8 and c1 - c0 <= 8
        # a clipped side must touch the border
        assert r1 - r0 == 8 or r0 == 0 or r1 == h
        assert c1 - c0 == 8 or c0 == 0 or c1 == w
        full += (r1 - r0 == 8) and (c1 - c0 == 8)
    assert full > 4


def test_diff_augment_color_on_gray_images() -> None:
    # Saturation leaves gray images alone, so out = (x + b - m) * c + m with m = mean(x + b).
    x = images(n=64, c=1, h=4, w=4).expand(-1, 3, -1, -1)
    y = diff_augment(x, "color", generator=gen())
    assert torch.allclose(y, y[:, :1].expand_as(y), atol=1e-6)
    b = (y.mean(dim=(1, 2, 3)) - x.mean(dim=(1, 2, 3))).view(-1, 1, 1, 1)
    c = (y - y.mean(dim=(1, 2, 3), keepdim=True)) / (x - x.mean(dim=(1, 2, 3), keepdim=True))
    c0 = c.flatten(1).median(dim=1).values
    assert ((b > -0.5) & (b < 0.5)).all() and b.std() > 0.2
    assert ((c0 > 0.5) & (c0 < 1.5)).all()
    torch.testing.assert_close(c, c0.view(-1, 1, 1, 1).expand_as(c), atol=1e-3, rtol=1e-3)


# ------------------------------------------------------------------------------------------------
# make_augment


def test_make_augment_modes() -> None:
    x = images(n=4)
    none = make_augment("none")
    assert none(x) is x and none.p == 0.0
    none.update(torch.ones(4))

    fixed = make_augment("fixed", 0.5, generator=gen())
    assert fixed.p == 0.5
    fixed.update(torch.ones(4))
    assert fixed.p == 0.5 and not torch.equal(fixed(x), x)

    diff = make_augment("diffaug", generator=gen())
    assert diff.p == 1.0 and diff(x).shape == x.shape and not torch.equal(diff(x), x)

    ada = make_augment("ada", batch_size=16, interval=1)
    assert ada.p == 0.0 and ada(x) is x
    ada.update(torch.ones(16))
    assert ada.p == pytest.approx(16 / 500_000) and ada.rt == 1.0
    assert float(ada.pipe.p) == pytest.approx(ada.p)
    torch.manual_seed(0)
    first = ada(x)
    torch.manual_seed(0)
    assert torch.equal(ada(x), first)


def test_make_augment_state_round_trip() -> None:
    a = make_augment("ada", 0.2, batch_size=8, interval=2)
    a.update(torch.ones(8))
    a.update(torch.ones(8))
    a.update(-torch.ones(8))
    b = make_augment("ada", batch_size=8, interval=2)
    b.load_state_dict(a.state_dict())
    assert b.p == a.p and b.state_dict() == a.state_dict()
    with pytest.raises(UserError, match="trained with --aug ada, not fixed"):
        make_augment("fixed").load_state_dict(a.state_dict())


def test_make_augment_errors() -> None:
    with pytest.raises(UserError, match="unknown augment mode 'adaa'; choose one of: ada, fixed"):
        make_augment("adaa")
    for bad in (1.5, -0.1, float("nan")):
        with pytest.raises(UserError, match=r"outside \[0, 1\]"):
            make_augment("fixed", bad)
    with pytest.raises(UserError, match="needs batch_size"):
        make_augment("ada")
    with pytest.raises(UserError, match="unknown DiffAugment op"):
        make_augment("diffaug", policy="colour")
