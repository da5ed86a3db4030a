"""2D convolution with optional FIR up/down-sampling (`conv2d_resample`), pure PyTorch.

StyleGAN2 (Karras et al. 2020) upsamples with a stride-2 transposed convolution followed by a
[1,3,3,1] FIR filter, and downsamples with the filter followed by a stride-2 convolution, so that
the up/down-sampling is anti-aliased and the filter and the convolution are done in one pass each.
Padding arithmetic and the weight-flip convention match the official code exactly, so official
weights produce the same images.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from stylegen.ops.upfirdn2d import _pad4, filter_size, upfirdn2d

__all__ = ["conv2d_resample"]


def _conv(
    x: torch.Tensor,
    w: torch.Tensor,
    stride: int = 1,
    padding: int | list[int] = 0,
    groups: int = 1,
    transpose: bool = False,
    flip_weight: bool = True,
    bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """conv2d / conv_transpose2d; `flip_weight=False` flips the kernel (true convolution)."""
    if not flip_weight and (w.shape[2] > 1 or w.shape[3] > 1):
        w = w.flip([2, 3])
    if transpose:
        return F.conv_transpose2d(x, w, bias, stride=stride, padding=padding, groups=groups)
    return F.conv2d(x, w, bias, stride=stride, padding=padding, groups=groups)


def _add_bias(x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return x if bias is None else x + bias.reshape(1, -1, 1, 1)


def conv2d_resample(
    x: torch.Tensor,
    w: torch.Tensor,
    f: torch.Tensor | None = None,
    up: int = 1,
    down: int = 1,
    padding: int | tuple = 0,
    groups: int = 1,
    flip_weight: bool = True,
    flip_filter: bool = False,
    bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """Convolve x [N, C*groups, H, W] with w [O, C, kh, kw], upsampling or downsampling with f.

    `bias` [O] is added to the output; where the last operation is a convolution it goes into
    that call (one pass over the output instead of two).
    """
    assert x.ndim == 4 and w.ndim == 4 and up >= 1 and down >= 1
    out_channels, _, kh, kw = w.shape
    fw, fh = filter_size(f)
    px0, px1, py0, py1 = _pad4(padding)
    if up > 1:
        px0 += (fw + up - 1) // 2
        px1 += (fw - up) // 2
        py0 += (fh + up - 1) // 2
        py1 += (fh - up) // 2
    if down > 1:
        px0 += (fw - down + 1) // 2
        px1 += (fw - down) // 2
        py0 += (fh - down + 1) // 2
        py1 += (fh - down) // 2

    if kw == 1 and kh == 1 and down > 1 and up == 1:
        x = upfirdn2d(x, f, down=down, padding=[px0, px1, py0, py1], flip_filter=flip_filter)
        return _conv(x, w, groups=groups, flip_weight=flip_weight, bias=bias)
    if kw == 1 and kh == 1 and up > 1 and down == 1:
        x = _conv(x, w, groups=groups, flip_weight=flip_weight)
        x = upfirdn2d(
            x, f, up=up, padding=[px0, px1, py0, py1], gain=up**2, flip_filter=flip_filter
        )
        return _add_bias(x, bias)
    if down > 1 and up == 1:
        x = upfirdn2d(x, f, padding=[px0, px1, py0, py1], flip_filter=flip_filter)
        return _conv(x, w, stride=down, groups=groups, flip_weight=flip_weight, bias=bias)
    if up > 1:
        # Transposed convolution does the zero-insertion and the conv in one op; the FIR filter
        # then smooths the result. Grouped weights need in/out swapped within each group.
        if groups == 1:
            w = w.transpose(0, 1)
        else:
            w = w.reshape(groups, out_channels // groups, -1, kh, kw).transpose(1, 2)
            w = w.reshape(-1, out_channels // groups, kh, kw)
        px0 -= kw - 1
        px1 -= kw - up
        py0 -= kh - 1
        py1 -= kh - up
        pxt = max(min(-px0, -px1), 0)
        pyt = max(min(-py0, -py1), 0)
        x = _conv(
            x,
            w,
            stride=up,
            padding=[pyt, pxt],
            groups=groups,
            transpose=True,
            flip_weight=not flip_weight,
        )
        x = upfirdn2d(
            x,
            f,
            padding=[px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt],
            gain=up**2,
            flip_filter=flip_filter,
        )
        if down > 1:
            x = upfirdn2d(x, f, down=down, flip_filter=flip_filter)
        return _add_bias(x, bias)
    if px0 == px1 and py0 == py1 and px0 >= 0 and py0 >= 0:
        return _conv(x, w, padding=[py0, px0], groups=groups, flip_weight=flip_weight, bias=bias)
    # General fallback: pad (and upsample), convolve, then downsample.
    x = upfirdn2d(
        x,
        f if up > 1 else None,
        up=up,
        padding=[px0, px1, py0, py1],
        gain=up**2,
        flip_filter=flip_filter,
    )
    if down > 1:
        x = _conv(x, w, groups=groups, flip_weight=flip_weight)
        return _add_bias(upfirdn2d(x, f, down=down, flip_filter=flip_filter), bias)
    return _conv(x, w, groups=groups, flip_weight=flip_weight, bias=bias)
