"""Bicubic resizing and the sub-pixel shuffle of super-resolution (SRCNN, Dong et al. 2014;
ESPCN, Shi et al. 2016, "Real-Time Single Image and Video Super-Resolution Using an Efficient
Sub-Pixel Convolutional Neural Network").

Low-resolution training inputs are made as in both papers: the high-resolution image
down-sampled by a bicubic kernel. We use torch's bicubic (a = -0.75) with anti-aliasing when
shrinking, which follows MATLAB's `imresize` (the papers' tool) closely; up-sampling is the same
bicubic kernel without anti-aliasing, and it is the "bicubic" baseline every SR table compares to.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["bicubic_down", "bicubic_up", "pixel_shuffle"]


def bicubic_down(img: torch.Tensor, scale: int) -> torch.Tensor:
    """[N, C, H, W] -> [N, C, H // scale, W // scale], bicubic with anti-aliasing. H and W should
    be multiples of `scale` (callers crop first), so every output pixel covers whole pixels."""
    h, w = img.shape[-2] // scale, img.shape[-1] // scale
    return F.interpolate(img, size=(h, w), mode="bicubic", align_corners=False, antialias=True)


def bicubic_up(img: torch.Tensor, scale: int) -> torch.Tensor:
    """[N, C, h, w] -> [N, C, h * scale, w * scale], bicubic (pixel centres aligned as MATLAB)."""
    h, w = img.shape[-2] * scale, img.shape[-1] * scale
    return F.interpolate(img, size=(h, w), mode="bicubic", align_corners=False)


def pixel_shuffle(x: torch.Tensor, scale: int) -> torch.Tensor:
    """ESPCN's periodic shuffling PS: [N, C * r^2, h, w] -> [N, C, h * r, w * r] with
    out[n, c, y * r + i, x * r + j] = in[n, c * r^2 + i * r + j, y, x] (the paper's eq. 4)."""
    n, cr2, h, w = x.shape
    c = cr2 // (scale * scale)
    x = x.reshape(n, c, scale, scale, h, w)  # [n, c, i, j, y, x]
    x = x.permute(0, 1, 4, 2, 5, 3)  # [n, c, y, i, x, j]
    return x.reshape(n, c, h * scale, w * scale)
