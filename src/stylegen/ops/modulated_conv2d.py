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
) -> torch.Tensor:
    """x [N,I,H,W], weight [O,I,kh,kw], styles [N,I], noise broadcastable to [N,O,H',W']."""
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
        x = x * styles.to(x.dtype).reshape(batch_size, -1, 1, 1)
        x = conv2d_resample(
            x,
            weight.to(x.dtype),
            f=resample_filter,
            up=up,
            down=down,
            padding=padding,
            flip_weight=flip_weight,
        )
        if demodulate and noise is not None:
            return torch.addcmul(
                noise.to(x.dtype), x, dcoefs.to(x.dtype).reshape(batch_size, -1, 1, 1)
            )
        if demodulate:
            return x * dcoefs.to(x.dtype).reshape(batch_size, -1, 1, 1)
        if noise is not None:
            return x + noise.to(x.dtype)
        return x

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
    return x
