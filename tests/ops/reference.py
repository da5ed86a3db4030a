"""Plain float64 numpy references for the ops, written as loops straight from the definitions.

They are slow and obvious on purpose: the library's fast paths are checked against them.
"""

from __future__ import annotations

import numpy as np


def upfirdn2d_ref(x, f, up=(1, 1), down=(1, 1), pad=(0, 0, 0, 0), flip_filter=False, gain=1.0):
    """x [N,C,H,W]; f 2D [fh,fw] or None; pad (x0,x1,y0,y1), negative crops."""
    x = np.asarray(x, dtype=np.float64)
    f = np.ones((1, 1)) if f is None else np.asarray(f, dtype=np.float64)
    if f.ndim == 1:
        f = np.outer(f, f)
    upx, upy = up
    downx, downy = down
    px0, px1, py0, py1 = pad
    n, c, h, w = x.shape
    u = np.zeros((n, c, h * upy, w * upx))
    u[:, :, ::upy, ::upx] = x
    hp, wp = u.shape[2] + py0 + py1, u.shape[3] + px0 + px1
    p = np.zeros((n, c, hp, wp))
    for yy in range(hp):
        for xx in range(wp):
            sy, sx = yy - py0, xx - px0
            if 0 <= sy < u.shape[2] and 0 <= sx < u.shape[3]:
                p[:, :, yy, xx] = u[:, :, sy, sx]
    k = f if flip_filter else f[::-1, ::-1]
    fh, fw = k.shape
    oh = (hp - fh) // downy + 1
    ow = (wp - fw) // downx + 1
    out = np.zeros((n, c, oh, ow))
    for oy in range(oh):
        for ox in range(ow):
            win = p[:, :, oy * downy : oy * downy + fh, ox * downx : ox * downx + fw]
            out[:, :, oy, ox] = (win * k).sum(axis=(2, 3)) * gain
    return out


def conv2d_ref(x, w, padding=0, groups=1, flip_weight=True):
    """Cross-correlation (PyTorch conv2d semantics) by loops; flip_weight=False flips the kernel."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    if not flip_weight:
        w = w[:, :, ::-1, ::-1]
    n, c, h, wd = x.shape
    o, ci, kh, kw = w.shape
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    oh, ow = x.shape[2] - kh + 1, x.shape[3] - kw + 1
    out = np.zeros((n, o, oh, ow))
    opg = o // groups
    for oc in range(o):
        g = oc // opg
        xs = x[:, g * ci : (g + 1) * ci]
        for oy in range(oh):
            for ox in range(ow):
                out[:, oc, oy, ox] = (xs[:, :, oy : oy + kh, ox : ox + kw] * w[oc]).sum(
                    axis=(1, 2, 3)
                )
    return out


def conv2d_resample_ref(x, w, f, up=1, down=1, padding=0, groups=1, flip_weight=True):
    """Definition of conv2d_resample: FIR upsample with padding, convolve, FIR downsample."""
    kh, kw = w.shape[2:]
    fh, fw = (1, 1) if f is None else np.asarray(f).shape
    px0 = px1 = py0 = py1 = padding
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
    y = upfirdn2d_ref(x, f if up > 1 else None, up=(up, up), pad=(px0, px1, py0, py1), gain=up**2)
    y = conv2d_ref(y, w, groups=groups, flip_weight=flip_weight)
    if down > 1:
        y = upfirdn2d_ref(y, f, down=(down, down))
    return y


def modulated_conv2d_ref(
    x,
    weight,
    styles,
    noise=None,
    up=1,
    down=1,
    padding=0,
    f=None,
    demodulate=True,
    flip_weight=True,
):
    """One sample at a time: modulate, demodulate, convolve."""
    x = np.asarray(x, dtype=np.float64)
    weight = np.asarray(weight, dtype=np.float64)
    styles = np.asarray(styles, dtype=np.float64)
    outs = []
    for i in range(x.shape[0]):
        wi = weight * styles[i][None, :, None, None]
        if demodulate:
            wi = wi / np.sqrt((wi**2).sum(axis=(1, 2, 3), keepdims=True) + 1e-8)
        outs.append(
            conv2d_resample_ref(
                x[i : i + 1], wi, f, up=up, down=down, padding=padding, flip_weight=flip_weight
            )
        )
    y = np.concatenate(outs)
    if noise is not None:
        y = y + np.asarray(noise, dtype=np.float64)
    return y
