"""Feature statistics and their on-disk cache.

`FeatureStats` accumulates detector features batch by batch: the running mean and scatter matrix
in float64 (merged with the pairwise update of Chan, Golub & LeVeque 1979, which avoids the
cancellation of the raw-moment formula) and, when asked, every feature row (needed by KID and
precision/recall).

Dataset statistics are cached as `.npz` files (no pickle) keyed by the dataset's content
fingerprint, the detector's SHA-1, the image resolution, the number of items and whether all
features were kept. The fingerprint hashes the raw bytes of up to 256 evenly spaced images plus the
dataset length and shape, so editing an image that is not sampled goes unnoticed: delete the
cache folder (`default_cache_dir()`) after editing a dataset in place.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stylegen.errors import UserError
from stylegen.fileio import atomic_file

__all__ = [
    "FeatureStats",
    "cache_path",
    "dataset_fingerprint",
    "default_cache_dir",
    "load_cached_stats",
    "save_cached_stats",
]

log = logging.getLogger(__name__)

_CACHE_FORMAT = 1
FINGERPRINT_SAMPLES = 256


class FeatureStats:
    """Running mean/covariance of feature rows, optionally keeping all rows (float32)."""

    def __init__(self, capture_all: bool = False) -> None:
        self.capture_all = capture_all
        self.num_items = 0
        self._mean: np.ndarray | None = None
        self._scatter: np.ndarray | None = None
        self._rows: list[np.ndarray] = []

    def append(self, features: np.ndarray | torch.Tensor) -> None:
        """Add a batch of features [B, D]."""
        if isinstance(features, torch.Tensor):
            features = features.detach().cpu().numpy()
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] == 0:
            raise ValueError(f"features must be a non-empty [B, D] array, got shape {x.shape}")
        if self.capture_all:
            self._rows.append(x.astype(np.float32))
        n_b = x.shape[0]
        mean_b = x.mean(axis=0)
        xc = x - mean_b
        scatter_b = xc.T @ xc
        if self._mean is None:
            self._mean, self._scatter, self.num_items = mean_b, scatter_b, n_b
            return
        if mean_b.shape != self._mean.shape:
            raise ValueError(f"feature dimension changed: {self._mean.shape} → {mean_b.shape}")
        n_a = self.num_items
        n = n_a + n_b
        delta = mean_b - self._mean
        self._mean = self._mean + delta * (n_b / n)
        self._scatter = self._scatter + scatter_b + np.outer(delta, delta) * (n_a * n_b / n)
        self.num_items = n

    def mean_cov(self) -> tuple[np.ndarray, np.ndarray]:
        """(mu [D], sigma [D, D]) in float64; sigma uses 1/(n-1)."""
        if self._mean is None or self.num_items < 2:
            raise ValueError(
                f"need at least 2 feature rows for a covariance, have {self.num_items}"
            )
        return self._mean.copy(), self._scatter / (self.num_items - 1)

    def all_features(self) -> np.ndarray:
        """All feature rows [N, D] float32 (only with capture_all=True)."""
        if not self.capture_all:
            raise ValueError("all_features() needs FeatureStats(capture_all=True)")
        if len(self._rows) > 1:
            self._rows = [np.concatenate(self._rows)]
        return self._rows[0]

    # Serialisation keeps the scatter matrix, so loaded stats can keep accumulating.
    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = {
            "num_items": np.asarray(self.num_items),
            "mean": self._mean,
            "scatter": self._scatter,
            "capture_all": np.asarray(self.capture_all),
        }
        if self.capture_all:
            arrays["features"] = self.all_features()
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Any) -> FeatureStats:
        stats = cls(capture_all=bool(arrays["capture_all"]))
        stats.num_items = int(arrays["num_items"])
        stats._mean = np.asarray(arrays["mean"], dtype=np.float64)
        stats._scatter = np.asarray(arrays["scatter"], dtype=np.float64)
        if stats.capture_all:
            stats._rows = [np.asarray(arrays["features"], dtype=np.float32)]
        return stats


def default_cache_dir() -> Path:
    """$STYLEGEN_CACHE/metrics, else ~/.cache/stylegen/metrics."""
    root = os.environ.get("STYLEGEN_CACHE")
    base = Path(root) if root else Path.home() / ".cache" / "stylegen"
    return base / "metrics"


def dataset_fingerprint(dataset: Any, num_samples: int = FINGERPRINT_SAMPLES) -> str:
    """SHA-1 of the dataset's length, shape and the raw bytes of evenly spaced sample images."""
    n = len(dataset)
    if n == 0:
        raise UserError("the dataset is empty: point --data at a folder or zip with images")
    h = hashlib.sha1()
    header = {
        "len": n,
        "resolution": getattr(dataset, "resolution", None),
        "num_channels": getattr(dataset, "num_channels", None),
    }
    h.update(json.dumps(header, sort_keys=True).encode())
    for i in np.unique(np.linspace(0, n - 1, min(n, num_samples)).round().astype(np.int64)):
        image = np.ascontiguousarray(dataset[int(i)][0])
        h.update(f"{i}:{image.dtype}:{image.shape}".encode())
        h.update(image.tobytes())
    return h.hexdigest()


def cache_path(
    cache_dir: str | Path,
    *,
    fingerprint: str,
    detector_sha1: str,
    resolution: int | None,
    num_items: int,
    capture_all: bool,
) -> Path:
    """File name of the cached statistics for these keys."""
    key = json.dumps(
        {
            "format": _CACHE_FORMAT,
            "dataset": fingerprint,
            "detector": detector_sha1,
            "resolution": resolution,
            "num_items": num_items,
            "capture_all": capture_all,
        },
        sort_keys=True,
    )
    digest = hashlib.sha1(key.encode()).hexdigest()[:20]
    kind = "all" if capture_all else "meancov"
    return Path(cache_dir) / f"stats-{resolution}px-n{num_items}-{kind}-{digest}.npz"


def load_cached_stats(path: Path) -> FeatureStats | None:
    """The cached stats at path, or None when absent or unreadable (then it is recomputed)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as arrays:
            return FeatureStats.from_arrays(arrays)
    except (OSError, ValueError, KeyError) as exc:
        log.warning("ignoring unreadable statistics cache %s: %s", path, exc)
        return None


def save_cached_stats(path: Path, stats: FeatureStats) -> None:
    """Write stats atomically (temporary file, then rename) so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **stats.to_arrays())
