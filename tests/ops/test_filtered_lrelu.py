"""filtered_lrelu against a plain float64 loop reference (written from the op's definition), the
fast banded-matrix path against the depthwise-convolution path, and gradcheck."""

import importlib

import numpy as np
import pytest
import torch

from stylegen.ops import filtered_lrelu
from tests.ops.reference import upfirdn2d_ref

# The package re-exports the function under the module's name; fetch the module itself.
flr_module = importlib.import_module("stylegen.ops.filtered_lrelu")


def filtered_lrelu_ref(x, fu, fd, b, up, down, pad, gain, slope, clamp, flip_filter):
    """Definition: bias, zero-insert + pad + fu (gain up^2), lrelu * gain, clamp, fd, decimate."""
    x = np.asarray(x, dtype=np.float64)
    if b is not None:
        x = x + np.asarray(b, dtype=np.float64)[None, :, None, None]
    y = upfirdn2d_ref(x, fu, (up, up), (1, 1), pad, flip_filter, up * up)
    y = np.where(y >= 0, y, y * slope) * gain
    if clamp is not None:
        y = np.clip(y, -clamp, clamp)
    return upfirdn2d_ref(y, fd, (1, 1), (down, down), (0, 0, 0, 0), flip_filter, 1.0)


CASES = [
    dict(up=1, down=1, pad=(0, 0, 0, 0), fu=None, fd=None),
    dict(up=2, down=2, pad=(5, 4, 5, 4), fu="1d", fd="1d"),
    dict(up=2, down=1, pad=(3, 1, -1, 2), fu="1d", fd=None),
    dict(up=1, down=2, pad=(1, 0, 0, 1), fu=None, fd="1d"),
    dict(up=4, down=2, pad=(6, 5, 7, 4), fu="1d", fd="2d"),
    dict(up=2, down=2, pad=(4, 4, 4, 4), fu="2d", fd="2d"),
]


def _filter(kind, rng, taps):
    if kind is None:
        return None, None
    if kind == "1d":
        f = rng.standard_normal(taps)
        return torch.from_numpy(f), np.outer(f, f)
    f = rng.standard_normal((taps, taps - 1))  # asymmetric, not separable
    return torch.from_numpy(f), f


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("flip_filter", [False, True])
@pytest.mark.parametrize("matmul", [True, False])
def test_matches_loop_reference(case, flip_filter, matmul, monkeypatch):
    monkeypatch.setattr(flr_module, "MATMUL_MAX_SIZE", 256 if matmul else 0)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 6, 7))
    b = rng.standard_normal(3)
    fu, fu_ref = _filter(case["fu"], rng, 4)
    fd, fd_ref = _filter(case["fd"], rng, 5)
    kw = dict(up=case["up"], down=case["down"], gain=1.3, slope=0.2, clamp=1.5)
    got = filtered_lrelu(
        torch.from_numpy(x),
        fu,
        fd,
        torch.from_numpy(b),
        padding=case["pad"],
        flip_filter=flip_filter,
        **kw,
    )
    want = filtered_lrelu_ref(x, fu_ref, fd_ref, b, pad=case["pad"], flip_filter=flip_filter, **kw)
    assert got.shape == want.shape
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-10)


def test_output_size_formula_and_clamp_inactive():
    x = torch.randn(1, 2, 9, 8)
    fu, fd = torch.ones(6) / 6, torch.ones(6) / 6
    y = filtered_lrelu(x, fu, fd, up=2, down=2, padding=(3, 2, 1, 0), clamp=None)
    out_w = (8 * 2 + 5 - 5 - 5 + 1) // 2
    out_h = (9 * 2 + 1 - 5 - 5 + 1) // 2
    assert y.shape == (1, 2, out_h, out_w)


def test_fast_path_equals_conv_path_float32(monkeypatch):
    x = torch.randn(2, 4, 20, 20)
    b = torch.randn(4)
    fu, fd = torch.randn(12), torch.randn(12)
    kw = dict(up=2, down=2, padding=(11, 10, 11, 10), clamp=2.0)
    x0 = x.clone()
    fast = filtered_lrelu(x, fu, fd, b, **kw)
    monkeypatch.setattr(flr_module, "MATMUL_MAX_SIZE", 0)
    with torch.no_grad():  # the in-place path must not touch the input either
        slow = filtered_lrelu(x, fu, fd, b, **kw)
        identity = filtered_lrelu(x, None, None, None, slope=1.0, gain=1.0, clamp=0.5)
    assert torch.equal(x, x0)
    torch.testing.assert_close(identity, x.clamp(-0.5, 0.5))
    assert fast.shape == (2, 4, 20, 20)
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("matmul", [True, False])
def test_gradcheck(matmul, monkeypatch):
    monkeypatch.setattr(flr_module, "MATMUL_MAX_SIZE", 256 if matmul else 0)
    x = torch.randn(1, 2, 4, 5, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, dtype=torch.float64, requires_grad=True)
    fu = torch.randn(4, dtype=torch.float64)
    fd = torch.randn(3, 3, dtype=torch.float64)

    def fn(x, b):
        return filtered_lrelu(x, fu, fd, b, up=2, down=2, padding=(2, 1, 2, 1), clamp=2.0)

    assert torch.autograd.gradcheck(fn, (x, b))
    assert torch.autograd.gradgradcheck(fn, (x, b))


def test_filter_matrices_are_cached_per_buffer_without_reading_it(monkeypatch):
    # A CUDA filter read on the host (tolist, item) would stall the GPU at every call.
    def no_read(*args):
        raise AssertionError("a filter value was read on the host")

    x = torch.randn(2, 3, 8, 8)
    fu, fd = torch.randn(6), torch.randn(6)
    kw = dict(up=2, down=2, padding=(5, 5, 5, 5), clamp=None)
    first = filtered_lrelu(x, fu, fd, **kw)
    monkeypatch.setattr(torch.Tensor, "tolist", no_read)
    monkeypatch.setattr(torch.Tensor, "item", no_read)
    args = (torch.float32, x.device, 8, 2, 1, 5, 5, False, 1.0)
    assert flr_module._fir_matrix_for(fu, *args) is flr_module._fir_matrix_for(fu, *args)
    assert torch.equal(filtered_lrelu(x, fu, fd, **kw), first)


def test_cached_filter_matrices_follow_in_place_changes():
    # G_ema's filter buffers are copied from G's every minibatch; a reloaded filter may differ.
    x = torch.randn(1, 2, 8, 8)
    fu, fd = torch.randn(6), torch.randn(6)
    kw = dict(up=2, down=2, padding=(5, 5, 5, 5), clamp=None)
    filtered_lrelu(x, fu, fd, **kw)
    fu.copy_(torch.randn(6))
    fd.mul_(-0.5)
    fresh = filtered_lrelu(x, fu.clone(), fd.clone(), **kw)  # new tensors: nothing cached
    torch.testing.assert_close(filtered_lrelu(x, fu, fd, **kw), fresh, rtol=0, atol=0)


def test_inference_mode_leaves_no_matrix_a_training_call_cannot_use():
    x = torch.randn(1, 2, 8, 8)
    fu, fd = torch.randn(6), torch.randn(6)
    kw = dict(up=2, down=2, padding=(5, 5, 5, 5), clamp=None)
    with torch.inference_mode():
        filtered_lrelu(x, fu, fd, **kw)
    x.requires_grad_(True)
    filtered_lrelu(x, fu, fd, **kw).square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
