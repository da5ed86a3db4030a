"""FID maths against scipy.linalg.sqrtm, hand-computed values and the singular-value fast path."""

import numpy as np
import pytest
import scipy.linalg

from stylegen.metrics.fid import (
    feature_statistics,
    fid_from_features,
    frechet_distance,
    trace_sqrt_product,
)


def gaussian_features(n, dim, seed, shift=0.0):
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(dim, dim)) / np.sqrt(dim)
    return rng.normal(size=(n, dim)) @ mix + shift


def scipy_fid(x1, x2):
    """Independent reference: np.cov and scipy's matrix square root."""
    mu1, mu2 = x1.mean(0), x2.mean(0)
    s1, s2 = np.cov(x1, rowvar=False), np.cov(x2, rowvar=False)
    root = scipy.linalg.sqrtm(s1 @ s2).real
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * root))


def test_matches_scipy_sqrtm_on_gaussian_features():
    x1 = gaussian_features(500, 64, seed=1)
    x2 = gaussian_features(400, 64, seed=2, shift=0.3)
    ours = frechet_distance(*feature_statistics(x1), *feature_statistics(x2))
    assert ours > 1.0
    assert ours == pytest.approx(scipy_fid(x1, x2), rel=1e-8)


def test_feature_statistics_match_numpy():
    x = gaussian_features(50, 8, seed=3)
    mu, sigma = feature_statistics(x)
    assert mu.dtype == np.float64 and sigma.dtype == np.float64
    np.testing.assert_allclose(mu, x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(sigma, np.cov(x, rowvar=False), rtol=1e-10, atol=1e-14)


def test_identical_sets_give_zero():
    x = gaussian_features(300, 64, seed=4)
    stats = feature_statistics(x)
    assert frechet_distance(*stats, *stats) == pytest.approx(0.0, abs=1e-9)
    assert fid_from_features(x, x) == pytest.approx(0.0, abs=1e-9)


def test_hand_computed_values():
    # 1-D: N(0, 1) vs N(1, 4): 1 + 1 + 4 - 2 * sqrt(4) = 2.
    assert frechet_distance(
        np.array([0.0]), np.array([[1.0]]), np.array([1.0]), np.array([[4.0]])
    ) == pytest.approx(2.0, abs=1e-12)
    # Diagonal covariances: sum of (sqrt a - sqrt b)^2.
    a, b = np.array([1.0, 9.0, 0.25]), np.array([4.0, 1.0, 0.0])
    expected = float(np.sum((np.sqrt(a) - np.sqrt(b)) ** 2))
    zero = np.zeros(3)
    assert frechet_distance(zero, np.diag(a), zero, np.diag(b)) == pytest.approx(
        expected, abs=1e-12
    )


def test_trace_sqrt_product_clips_rounding_negatives():
    # A rank-1 PSD matrix has zero eigenvalues that rounding makes slightly negative or positive;
    # without clipping, sqrt of the negative ones is nan and of the positive ones ~1e-6 each.
    v = np.arange(1.0, 6.0)[:, None]
    s = v @ v.T
    assert trace_sqrt_product(s, s) == pytest.approx(55.0, rel=1e-10)


def test_singular_value_path_agrees_with_eigen_path():
    # max(N) < D selects the fast path; the eigen path sees the same low-rank covariances.
    x1 = gaussian_features(30, 64, seed=5)
    x2 = gaussian_features(40, 64, seed=6, shift=0.2)
    fast = fid_from_features(x1, x2)
    eigen = frechet_distance(*feature_statistics(x1), *feature_statistics(x2))
    assert fast > 1.0
    assert fast == pytest.approx(eigen, rel=1e-7)


def test_large_n_uses_statistics_and_matches_scipy():
    x1 = gaussian_features(200, 16, seed=7)
    x2 = gaussian_features(300, 16, seed=8, shift=-0.1)
    assert fid_from_features(x1, x2) == pytest.approx(scipy_fid(x1, x2), rel=1e-8)


def test_shape_mismatch_is_rejected():
    with pytest.raises(ValueError, match="shapes do not match"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(ValueError, match="feature dimensions differ"):
        fid_from_features(np.zeros((5, 3)), np.zeros((5, 4)))
