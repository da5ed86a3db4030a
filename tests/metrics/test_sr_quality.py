"""PSNR / SSIM on luminance with a border crop: BT.601 by hand, SSIM against scikit-image (when
installed) and against a plain float64 reference written here."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from stylegen.metrics.sr_quality import luminance, sr_psnr, sr_ssim


def _pair(seed: int, shape=(2, 3, 24, 21)) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    a = torch.randint(0, 256, shape, generator=gen, dtype=torch.uint8)
    noise = torch.randint(-20, 21, shape, generator=gen)
    return a, (a.int() + noise).clamp(0, 255).to(torch.uint8)


def test_luminance_is_bt601_by_hand():
    img = torch.tensor([255, 0, 128], dtype=torch.uint8).view(1, 3, 1, 1)
    assert luminance(img).item() == pytest.approx(16 + 65.481 + 24.966 * 128 / 255)
    white, black = torch.full((1, 3, 1, 1), 255, dtype=torch.uint8), torch.zeros(1, 3, 1, 1)
    assert luminance(white).item() == pytest.approx(235.0)
    assert luminance(black.to(torch.uint8)).item() == pytest.approx(16.0)
    grey = torch.tensor([[[[7]]]], dtype=torch.uint8)
    assert luminance(grey).item() == 7.0
    assert luminance(torch.zeros(1, 1, 1, 1)).item() == 127.5  # float [-1, 1] input


def test_psnr_crops_the_border_by_hand():
    hr = torch.zeros(1, 1, 8, 8, dtype=torch.uint8)
    sr = hr.clone()
    sr[..., 0, :] = 255  # only the border differs
    assert math.isinf(sr_psnr(sr, hr, border=2).item())
    sr[..., 4, 4] = 10  # one interior pixel off by 10 of 16 kept
    assert sr_psnr(sr, hr, border=2).item() == pytest.approx(10 * math.log10(255**2 / (100 / 16)))


def _ssim_reference(x: np.ndarray, y: np.ndarray) -> float:
    """Wang et al. 2004 written out: Gaussian-weighted moments at every position where the
    11x11 window fits, population (co)variances, the SSIM formula, the mean."""
    r = np.arange(11) - 5.0
    g = np.exp(-(r**2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    values = []
    for i in range(x.shape[0] - 10):
        for j in range(x.shape[1] - 10):
            a, b = x[i : i + 11, j : j + 11], y[i : i + 11, j : j + 11]
            ma, mb = (w * a).sum(), (w * b).sum()
            va, vb = (w * (a - ma) ** 2).sum(), (w * (b - mb) ** 2).sum()
            cov = (w * (a - ma) * (b - mb)).sum()
            values.append(
                ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma**2 + mb**2 + c1) * (va + vb + c2))
            )
    return float(np.mean(values))


def test_ssim_against_a_float64_reference():
    sr, hr = _pair(0)
    got = sr_ssim(sr, hr, border=3)
    for n in range(2):
        y_sr = luminance(sr[n : n + 1])[0, 0, 3:-3, 3:-3].numpy()
        y_hr = luminance(hr[n : n + 1])[0, 0, 3:-3, 3:-3].numpy()
        assert got[n].item() == pytest.approx(_ssim_reference(y_sr, y_hr), abs=1e-10)


def test_ssim_and_psnr_against_scikit_image():
    metrics = pytest.importorskip("skimage.metrics")
    sr, hr = _pair(1, (3, 3, 40, 33))
    got_ssim, got_psnr = sr_ssim(sr, hr, border=4), sr_psnr(sr, hr, border=4)
    for n in range(3):
        a = luminance(sr[n : n + 1])[0, 0, 4:-4, 4:-4].numpy()
        b = luminance(hr[n : n + 1])[0, 0, 4:-4, 4:-4].numpy()
        ref = metrics.structural_similarity(
            a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255
        )
        assert got_ssim[n].item() == pytest.approx(ref, abs=1e-9)
        ref_psnr = metrics.peak_signal_noise_ratio(b, a, data_range=255)
        assert got_psnr[n].item() == pytest.approx(ref_psnr, abs=1e-9)
