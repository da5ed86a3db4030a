"""Full-reference image quality: PSNR and SSIM per image pair.

SSIM follows Wang, Bovik, Sheikh & Simoncelli (2004), "Image Quality Assessment: From Error
Visibility to Structural Similarity": local means, variances and covariance under an 11x11
Gaussian window (sigma 1.5, normalised to sum 1), evaluated only where the window fits inside the
image ("valid", as the authors' MATLAB code), constants C1 = (K1 L)^2, C2 = (K2 L)^2 with
K1 = 0.01, K2 = 0.03 and L the data range; the SSIM map is averaged over positions and channels.
Images are float [N, C, H, W]; the default data range 2.0 matches our [-1, 1] convention. Both
functions compute in float64 and return a float64 tensor [N] (PSNR is +inf for identical images).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from stylegen.errors import UserError

__all__ = ["gaussian_window", "psnr", "ssim"]

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def _check_pair(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.shape != b.shape or a.ndim != 4:
        raise UserError(
            f"image quality needs two batches of the same shape [N, C, H, W]; got "
            f"{tuple(a.shape)} and {tuple(b.shape)}"
        )


def psnr(a: torch.Tensor, b: torch.Tensor, data_range: float = 2.0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image: 10 log10(data_range^2 / MSE)."""
    _check_pair(a, b)
    mse = (a.double() - b.double()).square().flatten(1).mean(1)
    return 10 * torch.log10(data_range**2 / mse)


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> torch.Tensor:
    """1-D Gaussian weights (float64, sum 1); the 2-D window is its outer product."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    w = torch.exp(-(x**2) / (2 * sigma**2))
    return w / w.sum()


def _filter_valid(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian filter of [N*C, 1, H, W], keeping only positions where it fits."""
    x = F.conv2d(x, w.view(1, 1, -1, 1))
    return F.conv2d(x, w.view(1, 1, 1, -1))


def ssim(a: torch.Tensor, b: torch.Tensor, data_range: float = 2.0) -> torch.Tensor:
    """Mean structural similarity per image (1 for identical images)."""
    _check_pair(a, b)
    n, c, h, w = a.shape
    if min(h, w) < SSIM_WINDOW:
        raise UserError(f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW}, got {w}x{h}")
    win = gaussian_window().to(a.device)
    x = a.double().reshape(n * c, 1, h, w)
    y = b.double().reshape(n * c, 1, h, w)
    mu_x, mu_y = _filter_valid(x, win), _filter_valid(y, win)
    var_x = _filter_valid(x * x, win) - mu_x**2
    var_y = _filter_valid(y * y, win) - mu_y**2
    cov = _filter_valid(x * y, win) - mu_x * mu_y
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / (
        (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    )
    return ssim_map.reshape(n, -1).mean(1)
