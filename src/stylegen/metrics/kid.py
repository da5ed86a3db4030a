"""Kernel Inception Distance (Bińkowski et al. 2018, "Demystifying MMD GANs"), as used in the
StyleGAN2-ADA paper (Karras et al. 2020): the unbiased estimate of the squared MMD with the cubic
polynomial kernel k(x, y) = (x.y / D + 1)^3, averaged over random subsets of both feature sets.

For subsets X, Y of size m the unbiased estimator is

    MMD^2_u = 1/(m(m-1)) sum_{i!=j} [k(x_i, x_j) + k(y_i, y_j)] - 2/m^2 sum_{i,j} k(x_i, y_j).

It can be slightly negative for matching distributions; that is expected of an unbiased estimate.
"""

from __future__ import annotations

import numpy as np

__all__ = ["kernel_inception_distance", "mmd2_unbiased", "polynomial_kernel"]


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """k(x, y) = (x.y / D + 1)^3 for all pairs of rows; float64 [Nx, Ny]."""
    dim = x.shape[1]
    return (x @ y.T / dim + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased squared MMD between equal-size samples x, y [m, D] with the cubic kernel."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    m = x.shape[0]
    if m < 2 or y.shape[0] != m:
        raise ValueError(f"need two samples of equal size >= 2, got {x.shape[0]} and {y.shape[0]}")
    kxx = polynomial_kernel(x, x)
    kyy = polynomial_kernel(y, y)
    kxy = polynomial_kernel(x, y)
    within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(within - 2.0 * kxy.sum() / (m * m))


def kernel_inception_distance(
    real_features: np.ndarray,
    gen_features: np.ndarray,
    num_subsets: int = 100,
    max_subset_size: int = 1000,
    seed: int = 0,
) -> float:
    """KID: mean of `mmd2_unbiased` over `num_subsets` random subsets drawn without replacement.

    The subset size is min(len(real), len(gen), max_subset_size), as in the ADA paper's metric.
    """
    real = np.asarray(real_features, dtype=np.float64)
    gen = np.asarray(gen_features, dtype=np.float64)
    if real.ndim != 2 or gen.ndim != 2 or real.shape[1] != gen.shape[1]:
        raise ValueError(f"feature arrays must be [N, D] with equal D: {real.shape}, {gen.shape}")
    m = min(real.shape[0], gen.shape[0], max_subset_size)
    rng = np.random.default_rng(seed)
    total = 0.0
    for _ in range(num_subsets):
        x = gen[rng.choice(gen.shape[0], m, replace=False)]
        y = real[rng.choice(real.shape[0], m, replace=False)]
        total += mmd2_unbiased(x, y)
    return total / num_subsets
