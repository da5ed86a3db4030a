"""upfirdn2d against a float64 loop reference, plus gradcheck."""

import numpy as np
import pytest
import torch

from stylegen.ops import downsample2d, setup_filter, upfirdn2d, upsample2d
from tests.ops.reference import upfirdn2d_ref

CASES = [
    dict(up=(1, 1), down=(1, 1), pad=(0, 0, 0, 0)),
    dict(up=(2, 2), down=(1, 1), pad=(2, 1, 2, 1)),
    dict(up=(1, 1), down=(2, 2), pad=(1, 1, 1, 1)),
    dict(up=(2, 1), down=(1, 2), pad=(3, 0, -1, 2)),
    dict(up=(3, 3), down=(2, 2), pad=(-1, -2, 1, 0)),
    # Up-sampling alone runs as one transposed convolution when the pads allow it: each side's
    # near pad up to k-1, the far side's extra zeros within output_padding's range ...
    dict(up=(2, 2), down=(1, 1), pad=(1, 1, 1, 1)),
    dict(up=(3, 2), down=(1, 1), pad=(0, 2, 3, 1)),
    # ... and not when a pad crops or exceeds the kernel (zero-insert and pad, then conv).
    dict(up=(2, 2), down=(1, 1), pad=(-1, 1, 4, 1)),
    dict(up=(2, 2), down=(1, 1), pad=(1, 3, 1, 3)),
    # Symmetric padding rides in the convolution call; asymmetric is padded first.
    dict(up=(1, 1), down=(1, 1), pad=(2, 2, 1, 1)),
    dict(up=(1, 1), down=(2, 2), pad=(2, 1, 0, 0)),
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("kind", ["separable", "dense", "1d"])
@pytest.mark.parametrize("flip_filter", [False, True])
def test_matches_loop_reference(case, kind, flip_filter):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 7, 6))
    if kind == "separable":
        f = setup_filter([1, 3, 3, 1]).double()
        f_ref = f.numpy()
    elif kind == "dense":
        f_ref = rng.standard_normal((3, 4))  # asymmetric, rank > 1
        f = torch.from_numpy(f_ref)
    else:
        taps = np.array([1.0, 2.0, -1.0, 0.5])
        f = torch.from_numpy(taps)
        f_ref = np.outer(taps, taps)
    got = upfirdn2d(
        torch.from_numpy(x),
        f,
        case["up"],
        case["down"],
        case["pad"],
        flip_filter=flip_filter,
        gain=1.7,
    )
    want = upfirdn2d_ref(x, f_ref, case["up"], case["down"], case["pad"], flip_filter, 1.7)
    assert got.shape == want.shape
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-10)


def test_upsample_and_downsample_sizes_and_dc_gain():
    f = setup_filter([1, 3, 3, 1])
    x = torch.ones(1, 2, 8, 8)
    up = upsample2d(x, f)
    down = downsample2d(x, f)
    assert up.shape == (1, 2, 16, 16) and down.shape == (1, 2, 4, 4)
    # A constant image stays constant away from the borders (filter normalised, gain up**2).
    torch.testing.assert_close(up[:, :, 2:-2, 2:-2], torch.ones(1, 2, 12, 12))
    torch.testing.assert_close(down[:, :, 1:-1, 1:-1], torch.ones(1, 2, 2, 2))


def test_setup_filter_matches_official_buffer_shape():
    f = setup_filter([1, 3, 3, 1])
    assert f.shape == (4, 4)
    assert f.sum().item() == pytest.approx(1.0)
    assert f[0, 0].item() == pytest.approx(1 / 64)


@pytest.mark.parametrize("dense", [False, True])
def test_gradcheck(dense):
    x = torch.randn(1, 2, 5, 4, dtype=torch.float64, requires_grad=True)
    f = torch.randn(3, 3, dtype=torch.float64) if dense else setup_filter([1, 3, 3, 1]).double()
    assert torch.autograd.gradcheck(
        lambda t: upfirdn2d(t, f, up=2, down=1, padding=(2, 1, 2, 1), gain=4), (x,)
    )
    assert torch.autograd.gradcheck(
        lambda t: upfirdn2d(t, f, up=1, down=2, padding=(1, 1, 1, 1)), (x,)
    )
