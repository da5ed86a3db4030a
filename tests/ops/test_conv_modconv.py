"""conv2d_resample and modulated_conv2d against float64 loop references, plus gradcheck."""

import numpy as np
import pytest
import torch

from stylegen.ops import conv2d_resample, modulated_conv2d, setup_filter
from tests.ops.reference import conv2d_resample_ref, modulated_conv2d_ref

F4 = setup_filter([1, 3, 3, 1]).double()


@pytest.mark.parametrize(
    "k,up,down,flip_weight",
    [
        (3, 1, 1, True),
        (3, 2, 1, False),
        (3, 1, 2, True),
        (1, 2, 1, True),
        (1, 1, 2, True),
        (3, 2, 1, True),
        (3, 2, 2, True),
    ],
)
@pytest.mark.parametrize("groups", [1, 2])
def test_conv2d_resample_matches_reference(k, up, down, flip_weight, groups):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 4, 6, 6))
    w = rng.standard_normal((6, 4 // groups, k, k))
    pad = k // 2
    got = conv2d_resample(
        torch.from_numpy(x),
        torch.from_numpy(w),
        F4,
        up=up,
        down=down,
        padding=pad,
        groups=groups,
        flip_weight=flip_weight,
    )
    want = conv2d_resample_ref(
        x, w, F4.numpy(), up=up, down=down, padding=pad, groups=groups, flip_weight=flip_weight
    )
    assert got.shape == want.shape
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("up,demodulate", [(1, True), (2, True), (1, False)])
def test_modulated_conv2d_matches_reference(fused, up, demodulate):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 4, 5, 5))
    w = rng.standard_normal((5, 4, 3, 3))
    s = rng.standard_normal((3, 4)) + 1
    noise = rng.standard_normal((3, 1, 5 * up, 5 * up))
    got = modulated_conv2d(
        torch.from_numpy(x),
        torch.from_numpy(w),
        torch.from_numpy(s),
        noise=torch.from_numpy(noise),
        up=up,
        padding=1,
        resample_filter=F4,
        demodulate=demodulate,
        flip_weight=(up == 1),
        fused_modconv=fused,
    )
    want = modulated_conv2d_ref(
        x, w, s, noise, up=up, padding=1, f=F4.numpy(), demodulate=demodulate, flip_weight=(up == 1)
    )
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("k,up,down", [(3, 1, 1), (3, 2, 1), (3, 1, 2), (1, 2, 1), (1, 1, 2)])
def test_conv2d_resample_bias_is_added_to_the_output(k, up, down):
    # The bias goes into the last convolution call where there is one, after the filter otherwise.
    rng = np.random.default_rng(5)
    x = torch.from_numpy(rng.standard_normal((2, 4, 6, 6)))
    w = torch.from_numpy(rng.standard_normal((3, 4, k, k)))
    b = torch.from_numpy(rng.standard_normal(3))
    kw = dict(f=F4, up=up, down=down, padding=k // 2)
    got = conv2d_resample(x, w, bias=b, **kw)
    want = conv2d_resample(x, w, **kw) + b.reshape(1, -1, 1, 1)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("demodulate", [True, False])
@pytest.mark.parametrize("with_noise", [True, False])
def test_modulated_conv2d_bias_and_gain(fused, demodulate, with_noise):
    # (conv + noise + bias) * gain, however the path folds them into its own passes.
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 4, 5, 5))
    w = rng.standard_normal((5, 4, 3, 3))
    s = rng.standard_normal((3, 4)) + 1
    b = rng.standard_normal(5)
    noise = rng.standard_normal((3, 1, 10, 10)) if with_noise else None
    got = modulated_conv2d(
        torch.from_numpy(x),
        torch.from_numpy(w),
        torch.from_numpy(s),
        noise=None if noise is None else torch.from_numpy(noise),
        up=2,
        padding=1,
        resample_filter=F4,
        demodulate=demodulate,
        flip_weight=False,
        fused_modconv=fused,
        bias=torch.from_numpy(b),
        gain=1.7,
    )
    want = modulated_conv2d_ref(
        x, w, s, noise, up=2, padding=1, f=F4.numpy(), demodulate=demodulate, flip_weight=False
    )
    want = (want + b[None, :, None, None]) * 1.7
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-9, atol=1e-9)


def test_demodulated_output_has_unit_variance_for_unit_input():
    # The point of demodulation: unit-variance input gives unit-variance output, whatever style.
    x = torch.randn(4, 64, 16, 16, dtype=torch.float64)
    w = torch.randn(64, 64, 3, 3, dtype=torch.float64)
    s = torch.rand(4, 64, dtype=torch.float64) * 10
    y = modulated_conv2d(x, w, s, padding=1, fused_modconv=False)
    assert y[:, :, 1:-1, 1:-1].std().item() == pytest.approx(1.0, rel=0.05)


@pytest.mark.parametrize("fused", [True, False])
def test_modulated_conv2d_gradcheck(fused):
    x = torch.randn(2, 2, 4, 4, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    s = (torch.rand(2, 2, dtype=torch.float64) + 0.5).requires_grad_()

    def fn(a, b, c):
        return modulated_conv2d(
            a, b, c, up=2, padding=1, resample_filter=F4, flip_weight=False, fused_modconv=fused
        )

    assert torch.autograd.gradcheck(fn, (x, w, s))
