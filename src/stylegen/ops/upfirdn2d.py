"""Upsample, FIR-filter and downsample 2D images in pure PyTorch (`upfirdn2d`).

This is the resampling primitive of StyleGAN2 (Karras et al. 2020, "Analyzing and Improving the
Image Quality of StyleGAN"): insert zeros to upsample, pad or crop, convolve with a FIR filter,
then keep every `down`-th pixel. The semantics (padding order, filter flip, gain) follow the
official `upfirdn2d` so that official weights and filters give identical images.

2D filters (StyleGAN2's 4x4 outer product of [1,3,3,1]) run as one depthwise convolution; long
1D separable filters run as two 1D passes of shifted multiply-adds.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["setup_filter", "upfirdn2d", "upsample2d", "downsample2d", "filter2d"]


def _pair(v: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    if isinstance(v, int):
        return v, v
    assert len(v) == 2
    return int(v[0]), int(v[1])


def _pad4(p: int | tuple | list) -> tuple[int, int, int, int]:
    """Padding as (x0, x1, y0, y1); an int pads all sides, a pair is (x, y)."""
    if isinstance(p, int):
        return p, p, p, p
    if len(p) == 2:
        return int(p[0]), int(p[0]), int(p[1]), int(p[1])
    assert len(p) == 4
    return int(p[0]), int(p[1]), int(p[2]), int(p[3])


def setup_filter(
    f: list | torch.Tensor | None,
    normalize: bool = True,
    flip_filter: bool = False,
    gain: float = 1.0,
    separable: bool | None = None,
) -> torch.Tensor:
    """Turn a list of taps into the filter tensor used by `upfirdn2d`.

    A short 1D list (fewer than 8 taps) becomes its 2D outer product, as in the official code, so
    buffers have the same shape as official snapshots; longer 1D filters stay separable.
    """
    if f is None:
        f = 1
    f = torch.as_tensor(f, dtype=torch.float32)
    assert f.ndim in (0, 1, 2)
    if f.ndim == 0:
        f = f[None]
    if separable is None:
        separable = f.ndim == 1 and f.numel() >= 8
    if f.ndim == 1 and not separable:
        f = torch.outer(f, f)
    if normalize:
        f = f / f.sum()
    if flip_filter:
        f = f.flip(list(range(f.ndim)))
    return f * (gain ** (f.ndim / 2))


def filter_size(f: torch.Tensor | None) -> tuple[int, int]:
    """Width and height of a filter (1D filters are square)."""
    if f is None:
        return 1, 1
    return int(f.shape[-1]), int(f.shape[0])


def _pad_or_crop(x: torch.Tensor, dim: int, p0: int, p1: int) -> torch.Tensor:
    if p0 > 0 or p1 > 0:
        pad = [0, 0] * (x.ndim - 1 - dim) + [max(p0, 0), max(p1, 0)]
        x = F.pad(x, pad)
    if p0 < 0 or p1 < 0:
        x = x.narrow(dim, max(-p0, 0), x.shape[dim] - max(-p0, 0) - max(-p1, 0))
    return x


def _zero_insert(x: torch.Tensor, dim: int, up: int) -> torch.Tensor:
    """Upsample along `dim` by following each sample with `up - 1` zeros."""
    if up == 1:
        return x
    shape = list(x.shape)
    trailing = x.ndim - 1 - dim  # dims after `dim`; the new axis sits right after `dim`
    x = F.pad(x.unsqueeze(dim + 1), [0, 0] * trailing + [0, up - 1])
    shape[dim] *= up
    return x.reshape(shape)


def _fir_1d(
    x: torch.Tensor, taps: torch.Tensor, dim: int, up: int, down: int, p0: int, p1: int
) -> torch.Tensor:
    """One separable pass: zero-insert, pad/crop, correlate with `taps`, decimate, along `dim`."""
    x = _zero_insert(x, dim, up)
    x = _pad_or_crop(x, dim, p0, p1)
    k = taps.numel()
    out_len = (x.shape[dim] - k) // down + 1
    assert out_len > 0, "upfirdn2d: output would be empty; check padding"
    span = (out_len - 1) * down + 1
    taps = taps.to(x.dtype)
    out = None
    for j in range(k):
        tap = x.narrow(dim, j, span)
        if down > 1:
            index = [slice(None)] * x.ndim
            index[dim] = slice(None, None, down)
            tap = tap[tuple(index)]
        out = tap * taps[j] if out is None else out.add(tap * taps[j])
    return out


def _depthwise_fir(
    x: torch.Tensor, f: torch.Tensor, up: tuple, down: tuple, pad: tuple
) -> torch.Tensor:
    """Zero-insert, pad, then one depthwise conv2d with stride `down`.

    A single depthwise convolution beats separate multiply-add passes several times over on CPU,
    and decimating through the stride computes only the kept pixels.
    """
    channels = x.shape[1]
    weight = f.to(x.dtype)[None, None].expand(channels, 1, *f.shape)
    fh, fw = f.shape
    if up != (1, 1) and down == (1, 1):
        # A transposed convolution inserts the zeros itself and pads both sides by
        # k - 1 - padding, plus output_padding on the far side; zero-insertion here also appends
        # up - 1 zeros after the last sample, hence the up - 1 in the far side's total.
        near = (fw - 1 - pad[0], fh - 1 - pad[2])
        extra = (pad[1] + up[0] - 1 - pad[0], pad[3] + up[1] - 1 - pad[2])
        if all(n >= 0 for n in near) and all(0 <= e < u for e, u in zip(extra, up)):
            return F.conv_transpose2d(
                x,
                weight.flip([2, 3]),
                stride=(up[1], up[0]),
                padding=(near[1], near[0]),
                output_padding=(extra[1], extra[0]),
                groups=channels,
            )
    x = _zero_insert(_zero_insert(x, 3, up[0]), 2, up[1])
    if pad[0] == pad[1] >= 0 and pad[2] == pad[3] >= 0:
        # Symmetric padding goes into the convolution call: one op fewer each way.
        conv_padding = (pad[2], pad[0])
    else:
        x = _pad_or_crop(_pad_or_crop(x, 3, pad[0], pad[1]), 2, pad[2], pad[3])
        conv_padding = (0, 0)
    return F.conv2d(x, weight, stride=(down[1], down[0]), padding=conv_padding, groups=channels)


def upfirdn2d(
    x: torch.Tensor,
    f: torch.Tensor | None,
    up: int | tuple[int, int] = 1,
    down: int | tuple[int, int] = 1,
    padding: int | tuple = 0,
    flip_filter: bool = False,
    gain: float = 1.0,
) -> torch.Tensor:
    """Pad, upsample, filter and downsample a batch of images [N, C, H, W].

    `f` is a 2D filter [fh, fw], a 1D separable filter [fw] applied on both axes, or None for no
    filtering. `padding` is (x0, x1, y0, y1) in upsampled pixels (negative crops). Like
    convolution in the signal-processing sense the filter is flipped unless `flip_filter`.
    """
    assert isinstance(x, torch.Tensor) and x.ndim == 4
    up, down, pad = _pair(up), _pair(down), _pad4(padding)
    if f is None:
        f = torch.ones([1, 1], dtype=x.dtype, device=x.device)
    assert f.ndim in (1, 2)
    if not flip_filter:
        f = f.flip(list(range(f.ndim)))
    if f.ndim == 2:
        return _depthwise_fir(x, f * gain, up, down, pad)
    # Long separable filters (StyleGAN3) stay separable: two 1D passes.
    x = _fir_1d(x, f * gain**0.5, 3, up[0], down[0], pad[0], pad[1])
    return _fir_1d(x, f * gain**0.5, 2, up[1], down[1], pad[2], pad[3])


def filter2d(
    x: torch.Tensor,
    f: torch.Tensor,
    padding: int | tuple = 0,
    flip_filter: bool = False,
    gain: float = 1.0,
) -> torch.Tensor:
    """Filter with `f`, padding so that the output keeps the input size (plus `padding`)."""
    fw, fh = filter_size(f)
    px0, px1, py0, py1 = _pad4(padding)
    p = [px0 + fw // 2, px1 + (fw - 1) // 2, py0 + fh // 2, py1 + (fh - 1) // 2]
    return upfirdn2d(x, f, padding=p, flip_filter=flip_filter, gain=gain)


def upsample2d(
    x: torch.Tensor,
    f: torch.Tensor,
    up: int = 2,
    padding: int | tuple = 0,
    flip_filter: bool = False,
    gain: float = 1.0,
) -> torch.Tensor:
    """Upsample by `up` with FIR filter `f`; output is `up` times the input size (plus padding)."""
    upx, upy = _pair(up)
    fw, fh = filter_size(f)
    px0, px1, py0, py1 = _pad4(padding)
    p = [
        px0 + (fw + upx - 1) // 2,
        px1 + (fw - upx) // 2,
        py0 + (fh + upy - 1) // 2,
        py1 + (fh - upy) // 2,
    ]
    return upfirdn2d(x, f, up=(upx, upy), padding=p, flip_filter=flip_filter, gain=gain * upx * upy)


def downsample2d(
    x: torch.Tensor,
    f: torch.Tensor,
    down: int = 2,
    padding: int | tuple = 0,
    flip_filter: bool = False,
    gain: float = 1.0,
) -> torch.Tensor:
    """Downsample by `down` with FIR filter `f`; output is 1/`down` of the input size."""
    downx, downy = _pair(down)
    fw, fh = filter_size(f)
    px0, px1, py0, py1 = _pad4(padding)
    p = [
        px0 + (fw - downx + 1) // 2,
        px1 + (fw - downx) // 2,
        py0 + (fh - downy + 1) // 2,
        py1 + (fh - downy) // 2,
    ]
    return upfirdn2d(x, f, down=(downx, downy), padding=p, flip_filter=flip_filter, gain=gain)
