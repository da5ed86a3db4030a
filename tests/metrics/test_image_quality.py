"""PSNR and SSIM against naive float64 references and hand-computed values."""

import math

import numpy as np
import pytest
import torch

from stylegen.errors import UserError
from stylegen.metrics.image_quality import gaussian_window, psnr, ssim


def _naive_psnr(a: np.ndarray, b: np.ndarray, data_range: float) -> float:
    mse = sum((float(x) - float(y)) ** 2 for x, y in zip(a.ravel(), b.ravel())) / a.size
    return 10 * math.log10(data_range**2 / mse)


def _naive_ssim(a: np.ndarray, b: np.ndarray, data_range: float) -> float:
    """Wang et al. 2004 with explicit loops over every valid 11x11 window position (float64)."""
    g = np.exp(-((np.arange(11) - 5.0) ** 2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    values = []
    for ch in range(a.shape[0]):
        for i in range(a.shape[1] - 10):
            for j in range(a.shape[2] - 10):
                x = a[ch, i : i + 11, j : j + 11].astype(np.float64)
                y = b[ch, i : i + 11, j : j + 11].astype(np.float64)
                mx, my = (w * x).sum(), (w * y).sum()
                vx = (w * (x - mx) ** 2).sum()
                vy = (w * (y - my) ** 2).sum()
                cxy = (w * (x - mx) * (y - my)).sum()
                num = (2 * mx * my + c1) * (2 * cxy + c2)
                values.append(num / ((mx**2 + my**2 + c1) * (vx + vy + c2)))
    return float(np.mean(values))


def _pair(n=2, c=3, h=14, w=13, seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(n, c, h, w, generator=g) * 2 - 1
    b = (a + 0.3 * torch.randn(n, c, h, w, generator=g)).clamp(-1, 1)
    return a, b


def test_psnr_matches_naive_reference():
    a, b = _pair()
    got = psnr(a, b)
    assert got.shape == (2,) and got.dtype == torch.float64
    for i in range(2):
        assert got[i].item() == pytest.approx(_naive_psnr(a[i].numpy(), b[i].numpy(), 2.0), 1e-9)


def test_psnr_hand_value_and_identity():
    a = torch.zeros(1, 1, 4, 4)
    b = torch.full((1, 1, 4, 4), 0.5)  # MSE 0.25 -> 10 log10(4 / 0.25) = 12.041 dB
    assert psnr(a, b).item() == pytest.approx(10 * math.log10(16), abs=1e-12)
    assert psnr(a, b, data_range=1.0).item() == pytest.approx(10 * math.log10(4), abs=1e-12)
    assert psnr(b, b).item() == math.inf


@pytest.mark.parametrize("data_range", [2.0, 1.0])
def test_ssim_matches_naive_loops(data_range):
    a, b = _pair()
    got = ssim(a, b, data_range=data_range)
    assert got.shape == (2,)
    for i in range(2):
        ref = _naive_ssim(a[i].numpy(), b[i].numpy(), data_range)
        assert got[i].item() == pytest.approx(ref, abs=1e-12)


def test_ssim_identity_and_constant_images():
    a, _ = _pair()
    assert torch.allclose(ssim(a, a), torch.ones(2, dtype=torch.float64), atol=1e-12)
    # Constant images: no variance, so SSIM = (2 mx my + C1) / (mx^2 + my^2 + C1).
    x = torch.full((1, 1, 11, 11), 0.5)
    y = torch.full((1, 1, 11, 11), -0.25)
    c1 = (0.01 * 2) ** 2
    want = (2 * 0.5 * -0.25 + c1) / (0.25 + 0.0625 + c1)
    assert ssim(x, y).item() == pytest.approx(want, abs=1e-7)
    assert gaussian_window().sum().item() == pytest.approx(1.0, abs=1e-15)


def test_bad_shapes():
    with pytest.raises(UserError, match="same shape"):
        psnr(torch.zeros(1, 1, 16, 16), torch.zeros(1, 1, 16, 8))
    with pytest.raises(UserError, match="at least 11x11"):
        ssim(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 8))
