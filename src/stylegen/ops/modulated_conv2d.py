"""Modulated convolution with weight demodulation (StyleGAN2, Karras et al. 2020, section 2.2).

Each sample's style scales the input channels of a shared weight (modulation); dividing by the
per-sample output-channel norm (demodulation) replaces AdaIN's instance normalisation without its
droplet artifacts. Two paths compute the same maths:

* fused: build per-sample weights and run one grouped convolution (groups = batch size);
* per-sample activation scaling: scale x by the styles, convolve with the shared weight, then scale
  the output by the demodulation coefficients. On CPU this is usually faster, because one large
  convolution with a shared weight beats many small grouped ones.
"""

from __future__ import annotations

import torch

from stylegen.ops.conv2d_resample import conv2d_resample

__all__ = ["modulated_conv2d"]


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    noise: torch.Tensor | None = None,
    up: int = 1,
    down: int = 1,
    padding: int = 0,
    resample_filter: torch.Tensor | None = None,
    demodulate: bool = True,
    flip_weight: bool = True,
    fused_modconv: bool = True,
    bias: torch.Tensor | None = None,
    gain: float = 1.0,
) -> torch.Tensor:
    """x [N,I,H,W], weight [O,I,kh,kw], styles [N,I], noise broadcastable to [N,O,H',W'].

    Returns (conv + noise + bias) * gain; `bias` [O] and `gain` let the caller hand over the
    bias and a positive activation gain, which the per-sample path folds into its demodulation
    multiply (or the convolution call) instead of extra passes over the output.
    """
    batch_size = x.shape[0]
    out_channels, in_channels, kh, kw = weight.shape
    assert styles.shape == (batch_size, in_channels), (styles.shape, (batch_size, in_channels))

    # Float16 inputs would overflow in w * styles; pre-normalise (does not change the result
    # after demodulation), exactly as the official code does.
    if x.dtype == torch.float16 and demodulate:
        weight = weight * (
            1
            / (in_channels * kh * kw) ** 0.5
            / weight.norm(float("inf"), dim=[1, 2, 3], keepdim=True)
        )
        styles = styles / styles.norm(float("inf"), dim=1, keepdim=True)

    w = None
    dcoefs = None
    if fused_modconv:
        w = weight.unsqueeze(0) * styles.reshape(batch_size, 1, -1, 1, 1)  # [N, O, I, kh, kw]
        if demodulate:
            dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()  # [N, O]
    elif demodulate:
        # sum_{i,k} (w[o,i,k] s[n,i])^2 = sum_i s[n,i]^2 sum_k w[o,i,k]^2: a small matmul instead
        # of materialising the [N, O, I, kh, kw] modulated weights.
        dcoefs = (styles.square() @ weight.square().sum(dim=[2, 3]).t() + 1e-8).rsqrt()

    if not fused_modconv:
        conv = dict(up=up, down=down, padding=padding, f=resample_filter, flip_weight=flip_weight)
        return _per_sample_path(x, weight, styles, dcoefs, noise, bias, gain, conv)

    if demodulate:
        w = w * dcoefs.reshape(batch_size, -1, 1, 1, 1)
    x = x.reshape(1, -1, *x.shape[2:])
    w = w.reshape(-1, in_channels, kh, kw)
    x = conv2d_resample(
        x,
        w.to(x.dtype),
        f=resample_filter,
        up=up,
        down=down,
        padding=padding,
        groups=batch_size,
        flip_weight=flip_weight,
    )
    x = x.reshape(batch_size, -1, *x.shape[2:])
    if noise is not None:
        x = x + noise.to(x.dtype)
    if bias is not None:
        x = x + bias.to(x.dtype).reshape(1, -1, 1, 1)
    return x * gain if gain != 1 else x


def _per_sample_path(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    dcoefs: torch.Tensor | None,
    noise: torch.Tensor | None,
    bias: torch.Tensor | None,
    gain: float,
    conv: dict,
) -> torch.Tensor:
    """Scale x by the styles, convolve with the shared weight, then demodulate, add noise and
    bias and apply the gain in as few passes over the output as the case allows."""
    batch_size, dtype = x.shape[0], x.dtype

    def gained(t: torch.Tensor) -> torch.Tensor:  # the small tensors carry the gain
        return (t * gain if gain != 1 else t).to(dtype)

    if dcoefs is None:
        # No demodulation: the gain rides on the styles and the bias on the convolution.
        x = x * gained(styles).reshape(batch_size, -1, 1, 1)
        conv_bias = None if bias is None else gained(bias)
        x = conv2d_resample(x, weight.to(dtype), bias=conv_bias, **conv)
        return x if noise is None else x + gained(noise)
    x = x * styles.to(dtype).reshape(batch_size, -1, 1, 1)
    x = conv2d_resample(x, weight.to(dtype), **conv)
    scale = gained(dcoefs).reshape(batch_size, -1, 1, 1)
    shift = None if noise is None else gained(noise)
    if bias is not None:
        b = gained(bias).reshape(1, -1, 1, 1)
        shift = b if shift is None else shift + b
    # (conv * d + noise + bias) * gain as one multiply-add over the output.
    return x * scale if shift is None else torch.addcmul(shift, x, scale)
