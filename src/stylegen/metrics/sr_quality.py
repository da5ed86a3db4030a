"""Super-resolution scores as the SR literature reports them (SRCNN, Dong et al. 2014; ESPCN, Shi
et al. 2016): PSNR and SSIM (Wang et al. 2004) on the luminance channel only, after cropping a
border of `scale` pixels (the pixels a network cannot see past the image edge).

Luminance is ITU-R BT.601 as MATLAB's rgb2ycbcr computes it on 8-bit values:
Y = 16 + (65.481 R + 128.553 G + 24.966 B) with R, G, B in [0, 1], so Y lies in [16, 235]; a grey
image is its own luminance (0 .. 255). Both scores use a peak of 255 and compute in float64;
SSIM is metrics/image_quality.py's (11x11 Gaussian window, sigma 1.5, valid positions), which
equals skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=255).
"""

from __future__ import annotations

import torch

from stylegen.errors import UserError
from stylegen.metrics.image_quality import psnr, ssim

__all__ = ["BT601", "luminance", "sr_psnr", "sr_ssim"]

BT601 = (65.481, 128.553, 24.966)


def luminance(img: torch.Tensor) -> torch.Tensor:
    """Y [N, 1, H, W] float64 on the 0..255 scale of uint8 [N, C, H, W] images (or float ones
    in [-1, 1]); C = 1 (grey: itself) or 3 (RGB: BT.601)."""
    x = img.double() if img.dtype == torch.uint8 else (img.double() + 1) * 127.5
    if x.shape[1] == 1:
        return x
    if x.shape[1] != 3:
        raise UserError(f"luminance needs grey or RGB images, got {x.shape[1]} channels")
    w = torch.tensor(BT601, dtype=torch.float64, device=x.device).view(1, 3, 1, 1)
    return 16 + (x / 255 * w).sum(1, keepdim=True)


def _cropped(img: torch.Tensor, border: int) -> torch.Tensor:
    y = luminance(img)
    return y[..., border : y.shape[-2] - border, border : y.shape[-1] - border] if border else y


def sr_psnr(sr: torch.Tensor, hr: torch.Tensor, border: int) -> torch.Tensor:
    """PSNR in dB per image on Y, `border` pixels cropped from each side (use the scale)."""
    return psnr(_cropped(sr, border), _cropped(hr, border), data_range=255.0)


def sr_ssim(sr: torch.Tensor, hr: torch.Tensor, border: int) -> torch.Tensor:
    """SSIM per image on Y, `border` pixels cropped from each side (use the scale)."""
    return ssim(_cropped(sr, border), _cropped(hr, border), data_range=255.0)
