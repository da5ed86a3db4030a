"""Improved precision/recall against a naive float64 loop on tiny point clouds."""

import numpy as np
import pytest
import torch

from stylegen.metrics.pr import manifold_radii, precision_recall


def naive_precision_recall(real, gen, k):
    def radii(points):
        out = []
        for i, p in enumerate(points):
            d = sorted(np.linalg.norm(p - q) for j, q in enumerate(points) if j != i)
            out.append(d[k - 1])
        return out

    def coverage(queries, manifold):
        r = radii(manifold)
        inside = [
            any(np.linalg.norm(q - m) <= r[j] for j, m in enumerate(manifold)) for q in queries
        ]
        return sum(inside) / len(queries)

    return coverage(gen, real), coverage(real, gen)


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("block", [1 << 25, 7])
def test_matches_naive_loop(k, block):
    rng = np.random.default_rng(k)
    real = rng.normal(size=(30, 3))
    gen = rng.normal(size=(25, 3)) * 1.3 + 0.4
    expected = naive_precision_recall(real, gen, k)
    assert 0.0 < expected[0] < 1.0 and 0.0 < expected[1] < 1.0
    assert precision_recall(real, gen, k=k, max_batch_elements=block) == pytest.approx(expected)


def test_identical_and_disjoint_sets():
    rng = np.random.default_rng(5)
    real = rng.normal(size=(40, 5))
    assert precision_recall(real, real.copy(), k=3) == (1.0, 1.0)
    assert precision_recall(real, real + 100.0, k=3) == (0.0, 0.0)


def test_radii_are_squared_kth_neighbour_distances():
    points = torch.tensor([[0.0], [1.0], [3.0], [7.0]])
    # 2nd nearest other point: 0 → 3 (dist 3), 1 → 3 (dist 2), 3 → 0 (dist 3), 7 → 1 (dist 6).
    expected = torch.tensor([9.0, 4.0, 9.0, 36.0])
    torch.testing.assert_close(manifold_radii(points, k=2), expected)


def test_k_out_of_range_raises():
    with pytest.raises(ValueError, match="k must be"):
        manifold_radii(torch.zeros(3, 2), k=3)
