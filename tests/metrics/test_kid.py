"""Unbiased KID against a naive float64 double loop, and its behaviour on equal/shifted sets."""

import numpy as np
import pytest

from stylegen.metrics.kid import kernel_inception_distance, mmd2_unbiased


def naive_mmd2(x, y):
    """Unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3, written as explicit loops."""
    m, d = x.shape

    def k(a, b):
        return (sum(float(a[t]) * float(b[t]) for t in range(d)) / d + 1.0) ** 3

    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m))
    return xx / (m * (m - 1)) + yy / (m * (m - 1)) - 2.0 * xy / (m * m)


def test_mmd2_matches_naive_loop():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(7, 4))
    y = rng.normal(size=(7, 4)) + 0.5
    assert mmd2_unbiased(x, y) == pytest.approx(naive_mmd2(x, y), rel=1e-12)


def test_full_size_subsets_equal_the_single_estimate():
    # With subset size = set size every subset is a permutation, and MMD^2 ignores order.
    rng = np.random.default_rng(1)
    real = rng.normal(size=(6, 3))
    gen = rng.normal(size=(6, 3)) * 1.5
    kid = kernel_inception_distance(real, gen, num_subsets=4, max_subset_size=1000)
    assert kid == pytest.approx(naive_mmd2(gen, real), rel=1e-12)


def test_near_zero_for_a_shuffled_split_and_positive_for_shifted_sets():
    rng = np.random.default_rng(2)
    feats = rng.normal(size=(2000, 16))
    shuffled = feats[rng.permutation(len(feats))]
    a, b = shuffled[:1000], shuffled[1000:]
    same = kernel_inception_distance(a, b, num_subsets=20, max_subset_size=500)
    shifted = kernel_inception_distance(a, b + 0.5, num_subsets=20, max_subset_size=500)
    assert abs(same) < 0.01
    assert shifted > 0.1
    assert shifted > 20 * abs(same)


def test_subset_size_is_capped_and_seeded():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(50, 4)), rng.normal(size=(40, 4)) + 0.2
    first = kernel_inception_distance(a, b, num_subsets=5, max_subset_size=10, seed=7)
    again = kernel_inception_distance(a, b, num_subsets=5, max_subset_size=10, seed=7)
    other = kernel_inception_distance(a, b, num_subsets=5, max_subset_size=10, seed=8)
    assert first == again
    assert first != other


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="equal D"):
        kernel_inception_distance(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="equal size"):
        mmd2_unbiased(np.zeros((5, 3)), np.zeros((4, 3)))
