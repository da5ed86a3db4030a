"""Fréchet Inception Distance (Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule
Converge to a Local Nash Equilibrium"), computed in float64 without scipy.

FID between two Gaussians N(mu1, S1) and N(mu2, S2) fitted to detector features is

    |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2)).

scipy.linalg.sqrtm needs minutes for a 2048x2048 matrix on a small CPU, so the last term is computed
from eigenvalues instead: S1 S2 is similar to the symmetric PSD matrix S1^(1/2) S2 S1^(1/2), hence
tr((S1 S2)^(1/2)) is the sum of the square roots of that matrix's eigenvalues (two `eigh` calls).
When there are fewer samples than feature dimensions the covariances have low rank and the trace
equals the nuclear norm of A B^T, with A, B the centred features scaled by 1/sqrt(n-1); that is a
small singular-value problem (`fid_from_features`).

Covariances use the unbiased normalisation 1/(n-1), as pytorch-fid, torch-fidelity and torchmetrics
do (NVIDIA's stylegan2-ada-pytorch uses 1/n; the difference is O(1/n), negligible at n = 50k).
"""

from __future__ import annotations

import numpy as np

__all__ = ["feature_statistics", "frechet_distance", "fid_from_features", "trace_sqrt_product"]


def _as_float64_2d(features: np.ndarray, what: str) -> np.ndarray:
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"{what} must be a [N, D] array with N >= 2, got shape {x.shape}")
    return x


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean [D] and unbiased covariance [D, D] of features [N, D], both float64."""
    x = _as_float64_2d(features, "features")
    mu = x.mean(axis=0)
    xc = x - mu
    sigma = xc.T @ xc / (x.shape[0] - 1)
    return mu, sigma


def _clip_noise(evals: np.ndarray) -> np.ndarray:
    """Zero eigenvalues at rounding-noise level (|lambda| <= n eps max|lambda|), negatives included.

    Their square roots would otherwise add sqrt(noise) each: about 1e-6 per eigenvalue for a
    rank-deficient covariance, which dominates FID(x, x).
    """
    tol = evals.size * np.finfo(np.float64).eps * max(float(np.abs(evals).max(initial=0.0)), 1e-300)
    return np.where(evals > tol, evals, 0.0)


def _psd_sqrt(sym: np.ndarray) -> np.ndarray:
    """Square root of a symmetric PSD matrix, eigenvalues at noise level set to 0."""
    evals, evecs = np.linalg.eigh(sym)
    root = np.sqrt(_clip_noise(evals))
    return (evecs * root) @ evecs.T


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """tr((S1 S2)^(1/2)) for symmetric PSD S1, S2, via eigenvalues of S1^(1/2) S2 S1^(1/2)."""
    s1 = np.asarray(sigma1, dtype=np.float64)
    s2 = np.asarray(sigma2, dtype=np.float64)
    # Symmetrise first: accumulated covariances can be asymmetric in the last bits, and eigh
    # silently reads only one triangle.
    s1 = (s1 + s1.T) / 2
    s2 = (s2 + s2.T) / 2
    root1 = _psd_sqrt(s1)
    inner = root1 @ s2 @ root1
    evals = np.linalg.eigvalsh((inner + inner.T) / 2)
    return float(np.sqrt(_clip_noise(evals)).sum())


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray
) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), in float64."""
    mu1 = np.asarray(mu1, dtype=np.float64)
    mu2 = np.asarray(mu2, dtype=np.float64)
    sigma1 = np.asarray(sigma1, dtype=np.float64)
    sigma2 = np.asarray(sigma2, dtype=np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != mu1.shape * 2:
        raise ValueError(
            f"statistics shapes do not match: mu {mu1.shape} vs {mu2.shape}, "
            f"sigma {sigma1.shape} vs {sigma2.shape}"
        )
    mean_term = float(np.sum((mu1 - mu2) ** 2))
    cov_term = float(np.trace(sigma1) + np.trace(sigma2)) - 2.0 * trace_sqrt_product(sigma1, sigma2)
    # Rounding can push an exact zero (identical statistics) slightly below 0.
    return max(mean_term + cov_term, 0.0)


def fid_from_features(features1: np.ndarray, features2: np.ndarray) -> float:
    """FID between two feature sets [N1, D] and [N2, D].

    With fewer samples than dimensions (max(N1, N2) < D) the trace term is the sum of singular
    values of A B^T (A, B centred and scaled by 1/sqrt(n-1)), an [N1, N2] problem; otherwise the
    statistics are formed and `frechet_distance` is used.
    """
    x1 = _as_float64_2d(features1, "features1")
    x2 = _as_float64_2d(features2, "features2")
    if x1.shape[1] != x2.shape[1]:
        raise ValueError(f"feature dimensions differ: {x1.shape[1]} vs {x2.shape[1]}")
    if max(x1.shape[0], x2.shape[0]) >= x1.shape[1]:
        return frechet_distance(*feature_statistics(x1), *feature_statistics(x2))
    mu1, mu2 = x1.mean(axis=0), x2.mean(axis=0)
    a = (x1 - mu1) / np.sqrt(x1.shape[0] - 1)
    b = (x2 - mu2) / np.sqrt(x2.shape[0] - 1)
    # tr(S1) = |A|_F^2, and the eigenvalues of S1 S2 = A^T A B^T B are the squared singular values
    # of A B^T, so tr((S1 S2)^(1/2)) is its nuclear norm.
    trace_sqrt = float(np.linalg.svd(a @ b.T, compute_uv=False).sum())
    value = float(np.sum((mu1 - mu2) ** 2) + np.sum(a * a) + np.sum(b * b)) - 2.0 * trace_sqrt
    return max(value, 0.0)
