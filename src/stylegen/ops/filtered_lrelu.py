"""Filtered leaky ReLU (`filtered_lrelu`) of StyleGAN3 in pure PyTorch.

Karras et al. 2021 ("Alias-Free Generative Adversarial Networks", section 3.2) apply a pointwise
nonlinearity only at a temporarily higher sampling rate: upsample with a low-pass FIR filter `fu`,
apply bias + leaky ReLU (+ gain and clamp), then low-pass filter with `fd` and decimate. The order
of operations and the padding convention follow the official op, so official filters and padding
give identical images:

1. add the per-channel bias `b`;
2. upsample by inserting `up - 1` zeros after every pixel;
3. pad with (x0, x1, y0, y1) zeros (negative values crop);
4. convolve with `fu` (valid), times `up**2`;
5. leaky ReLU with negative slope `slope`, times `gain`, clamped to [-clamp, clamp];
6. convolve with `fd` (valid) and keep every `down`-th pixel.

Fast path: a 1-D (separable) filter pass "zero-insert, pad, filter, decimate" along one axis is a
small linear map, so on images up to `MATMUL_MAX_SIZE` pixels wide it runs as one matrix product
with a banded matrix built from the taps. That multiplies no inserted zeros, computes no
discarded pixels and runs through BLAS. Larger images and 2-D (radially symmetric) filters fall
back to `upfirdn2d`'s depthwise convolutions. Everything is differentiable by autograd.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.utils.weak import WeakIdKeyDictionary

from stylegen.ops.upfirdn2d import upfirdn2d

__all__ = ["filtered_lrelu", "fir_matrix"]

# Above this input length a dense banded matrix wastes too many multiplications on zeros and
# the depthwise-convolution path of upfirdn2d is used instead.
MATMUL_MAX_SIZE = 256


def _pad4(padding: int | tuple | list) -> tuple[int, int, int, int]:
    if isinstance(padding, int):
        return padding, padding, padding, padding
    padding = [int(p) for p in padding]
    if len(padding) == 2:
        return padding[0], padding[0], padding[1], padding[1]
    assert len(padding) == 4, "padding must be an int, [x, y] or [x0, x1, y0, y1]"
    return padding[0], padding[1], padding[2], padding[3]


def _filter_size(f: torch.Tensor | None) -> tuple[int, int]:
    if f is None:
        return 1, 1
    return int(f.shape[-1]), int(f.shape[0])


def fir_matrix(
    taps: torch.Tensor,
    in_size: int,
    up: int = 1,
    down: int = 1,
    pad0: int = 0,
    pad1: int = 0,
    flip_filter: bool = False,
    gain: float = 1.0,
) -> torch.Tensor:
    """The matrix A [out_size, in_size] of one 1-D pass: zero-insert, pad, filter, decimate.

    Output m collects input i through tap g[i * up + pad0 - m * down], where g is the filter as
    used for correlation (the flipped taps unless `flip_filter`).
    """
    k = taps.numel()
    out_size = (in_size * up + pad0 + pad1 - k) // down + 1
    if out_size < 1:
        raise ValueError(f"filtered_lrelu: padding leaves no output along an axis of {in_size}")
    g = taps if flip_filter else taps.flip(0)
    m = torch.arange(out_size, device=taps.device).unsqueeze(1)
    i = torch.arange(in_size, device=taps.device).unsqueeze(0)
    idx = i * up + pad0 - m * down
    valid = (idx >= 0) & (idx < k)
    return torch.where(valid, g[idx.clamp(0, k - 1)], torch.zeros((), dtype=g.dtype)) * gain


# Banded matrices of fixed filter buffers, per taps tensor (weakly held: an entry goes with its
# filter), kept for the tensor's current in-place version only: G_ema's filters are copied from
# G's every minibatch, and a reloaded filter may hold other values. Keyed by identity, not by
# tap values: reading a CUDA tensor's values would make the host wait for the GPU every call.
_FIR_MATRICES: WeakIdKeyDictionary = WeakIdKeyDictionary()


def _fir_matrix_for(
    taps: torch.Tensor, dtype: torch.dtype, device: torch.device, in_size: int, *args
) -> torch.Tensor:
    """fir_matrix of `taps` as `dtype` on `device`, cached for the usual fixed filter buffers."""
    # Trained taps change between calls; under inference mode a cached matrix would be an
    # inference tensor, which a later training call could not save for its backward.
    if taps.requires_grad or torch.is_inference_mode_enabled():
        return fir_matrix(taps.to(device=device, dtype=dtype), in_size, *args)
    version, matrices = _FIR_MATRICES.get(taps, (None, {}))
    if version != taps._version:
        version, matrices = taps._version, {}
        _FIR_MATRICES[taps] = (version, matrices)
    key = (dtype, device, in_size, *args)
    if key not in matrices:
        matrices[key] = fir_matrix(taps.to(device=device, dtype=dtype), in_size, *args)
    return matrices[key]


def _separable_pass(
    x: torch.Tensor,
    taps: torch.Tensor,
    up: int,
    down: int,
    pad: tuple[int, int, int, int],
    flip_filter: bool,
    gain: float,
) -> torch.Tensor:
    """A separable up/down FIR pass on both axes as two matrix products: A_h @ x @ A_w^T."""
    h, w = x.shape[2], x.shape[3]
    root = math.sqrt(gain)
    kind = (x.dtype, x.device)
    a_w = _fir_matrix_for(taps, *kind, w, up, down, pad[0], pad[1], flip_filter, root)
    a_h = _fir_matrix_for(taps, *kind, h, up, down, pad[2], pad[3], flip_filter, root)
    # Filter the narrower axis last: the height pass runs on the (already resampled) width.
    return torch.matmul(a_h, torch.matmul(x, a_w.t()))


def _resample(
    x: torch.Tensor,
    f: torch.Tensor | None,
    up: int,
    down: int,
    pad: tuple[int, int, int, int],
    flip_filter: bool,
    gain: float,
) -> torch.Tensor:
    """upfirdn2d with the banded-matrix fast path for 1-D filters on small images."""
    if f is None:
        f = torch.ones([1], dtype=torch.float32, device=x.device)
    if f.ndim == 1 and max(x.shape[2], x.shape[3]) <= MATMUL_MAX_SIZE:
        return _separable_pass(x, f, up, down, pad, flip_filter, gain)
    f = f.to(device=x.device, dtype=x.dtype)
    return upfirdn2d(x, f, up=up, down=down, padding=pad, flip_filter=flip_filter, gain=gain)


def filtered_lrelu(
    x: torch.Tensor,
    fu: torch.Tensor | None = None,
    fd: torch.Tensor | None = None,
    b: torch.Tensor | None = None,
    up: int = 1,
    down: int = 1,
    padding: int | tuple | list = 0,
    gain: float = math.sqrt(2),
    slope: float = 0.2,
    clamp: float | None = None,
    flip_filter: bool = False,
) -> torch.Tensor:
    """Bias, upsample with `fu`, leaky ReLU with gain and clamp, downsample with `fd`.

    x: [N, C, H, W]; fu/fd: 1-D taps (separable), a 2-D filter, or None (identity); b: [C].
    `padding` (x0, x1, y0, y1) is in upsampled pixels. Output width is
    (W * up + x0 + x1 - (fu_w - 1) - (fd_w - 1) + down - 1) // down, likewise for the height.
    """
    assert isinstance(x, torch.Tensor) and x.ndim == 4, "x must be [N, C, H, W]"
    assert int(up) == up and up >= 1 and int(down) == down and down >= 1
    assert gain > 0 and slope >= 0 and (clamp is None or clamp >= 0)
    pad = _pad4(padding)
    if b is not None:
        assert b.shape == (x.shape[1],), "bias must have one value per channel"
        x = x + b.to(x.dtype).reshape(1, -1, 1, 1)
    x = _resample(x, fu, up, 1, pad, flip_filter, float(up * up))
    # clamp(gain * lrelu(x), c) = gain * clamp(lrelu(x), c / gain) for gain > 0: the gain rides
    # along with the (linear) downsampling filter, saving a pass over the largest tensor.
    limit = None if clamp is None else clamp / gain
    inplace = not (torch.is_grad_enabled() and x.requires_grad)
    if slope != 1:
        x = F.leaky_relu(x, slope, inplace=inplace)
    if limit is not None:
        x = x.clamp_(-limit, limit) if inplace else x.clamp(-limit, limit)
    return _resample(x, fd, 1, down, (0, 0, 0, 0), flip_filter, float(gain))
