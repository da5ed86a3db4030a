"""Improved precision and recall (Kynkäänniemi et al. 2019, "Improved Precision and Recall Metric
for Assessing Generative Models").

Each feature set approximates its manifold by the union of balls around its points, the radius of a
ball being the distance to the point's k-th nearest neighbour within the same set (k = 3 in the
paper). Precision is the fraction of generated samples inside the real manifold; recall is the
fraction of real samples inside the generated manifold.

Distances are squared Euclidean in float32, computed in row batches so that memory stays bounded
(at most about `max_batch_elements` floats per distance block).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["manifold_radii", "precision_recall", "within_manifold"]

_DEFAULT_BLOCK = 1 << 25  # floats per distance block: 128 MiB in float32


def _squared_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise squared Euclidean distances [Na, Nb]; the matmul form, clamped at 0."""
    d = (a * a).sum(1, keepdim=True) + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return d.clamp_(min=0.0)


def _row_batch(num_cols: int, max_batch_elements: int) -> int:
    return max(1, max_batch_elements // max(num_cols, 1))


def manifold_radii(
    features: torch.Tensor, k: int = 3, max_batch_elements: int = _DEFAULT_BLOCK
) -> torch.Tensor:
    """Squared distance of every point to its k-th nearest other point in the same set [N]."""
    n = features.shape[0]
    if not 1 <= k < n:
        raise ValueError(f"k must be in [1, {n - 1}] for {n} points, got {k}")
    step = _row_batch(n, max_batch_elements)
    radii = []
    for start in range(0, n, step):
        d = _squared_distances(features[start : start + step], features)
        # The point itself is among the candidates (distance ~0), so take the (k+1)-th smallest.
        radii.append(d.kthvalue(k + 1, dim=1).values)
    return torch.cat(radii)


def within_manifold(
    queries: torch.Tensor,
    manifold: torch.Tensor,
    radii: torch.Tensor,
    max_batch_elements: int = _DEFAULT_BLOCK,
) -> torch.Tensor:
    """Bool [Nq]: is each query within the radius of at least one manifold point?"""
    step = _row_batch(manifold.shape[0], max_batch_elements)
    inside = []
    for start in range(0, queries.shape[0], step):
        d = _squared_distances(queries[start : start + step], manifold)
        inside.append((d <= radii[None, :]).any(dim=1))
    return torch.cat(inside)


def precision_recall(
    real_features: np.ndarray | torch.Tensor,
    gen_features: np.ndarray | torch.Tensor,
    k: int = 3,
    max_batch_elements: int = _DEFAULT_BLOCK,
) -> tuple[float, float]:
    """(precision, recall) of generated features against real features, both [N, D]."""
    real = torch.as_tensor(np.asarray(real_features), dtype=torch.float32)
    gen = torch.as_tensor(np.asarray(gen_features), dtype=torch.float32)
    if real.ndim != 2 or gen.ndim != 2 or real.shape[1] != gen.shape[1]:
        raise ValueError(f"feature arrays must be [N, D] with equal D: {real.shape}, {gen.shape}")
    with torch.inference_mode():
        real_radii = manifold_radii(real, k, max_batch_elements)
        gen_radii = manifold_radii(gen, k, max_batch_elements)
        precision = within_manifold(gen, real, real_radii, max_batch_elements)
        recall = within_manifold(real, gen, gen_radii, max_batch_elements)
    return float(precision.float().mean()), float(recall.float().mean())
