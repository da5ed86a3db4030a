"""Metric driver: feature extraction for datasets and generators, and named metrics.

Metric names follow NVIDIA's StyleGAN2-ADA vocabulary (Karras et al. 2020):

* `fid<N>k_full`  — FID (fid.py) between N thousand generated images and the whole dataset;
* `kid<N>k_full`  — KID (kid.py), same sets, 100 subsets of at most 1000;
* `pr<N>k<K>_full` — improved precision/recall (pr.py), K nearest neighbours (K = 3 in the paper).

All three use the FID Inception features (features.py). Note that NVIDIA's `pr50k3_full` uses VGG-16
features, as Kynkäänniemi et al. do, so our precision/recall numbers are not directly comparable to
theirs. Real images: all of the dataset for `_full` names (capped at 1M for KID and 200k for
precision/recall, like the reference); when fewer than all are used, a fixed random subset (seed 0).
Dataset statistics are cached on disk (stats_cache.py).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stylegen.errors import UserError
from stylegen.metrics.features import InceptionFeatures, load_detector
from stylegen.metrics.fid import frechet_distance
from stylegen.metrics.kid import kernel_inception_distance
from stylegen.metrics.pr import precision_recall
from stylegen.metrics.stats_cache import (
    FeatureStats,
    cache_path,
    dataset_fingerprint,
    default_cache_dir,
    load_cached_stats,
    save_cached_stats,
)

__all__ = [
    "MetricSpec",
    "Sampler",
    "calc_metric",
    "calc_metrics",
    "compute_features_for_dataset",
    "compute_features_for_generator",
    "parse_metric_name",
]

log = logging.getLogger(__name__)

# (batch_size, start_index) -> uint8 images [batch_size, C, H, W]
Sampler = Callable[[int, int], "torch.Tensor | np.ndarray"]

FID_UNBIASED_N = 10_000
_MAX_REAL = {"fid": None, "kid": 1_000_000, "pr": 200_000}
VALID_FORMS = (
    "fid<N>k_full, kid<N>k_full, pr<N>k<K>_full (e.g. fid50k_full, kid50k_full, pr50k3_full)"
)
_NAME_RE = re.compile(r"^(?:(?P<kind>fid|kid)(?P<n>\d+)k|pr(?P<pn>\d+)k(?P<k>\d+))_full$")


@dataclass(frozen=True)
class MetricSpec:
    """A parsed metric name: kind in {fid, kid, pr}, generated images, neighbourhood size."""

    name: str
    kind: str
    num_gen: int
    k: int | None = None


def parse_metric_name(name: str) -> MetricSpec:
    """'fid50k_full' → MetricSpec('fid50k_full', 'fid', 50000); UserError for anything else."""
    m = _NAME_RE.match(name.strip())
    if m is None:
        raise UserError(f"unknown metric {name!r}; valid forms: {VALID_FORMS}")
    if m["kind"]:
        kind, thousands, k = m["kind"], int(m["n"]), None
    else:
        kind, thousands, k = "pr", int(m["pn"]), int(m["k"])
        if k < 1:
            raise UserError(f"metric {name!r}: neighbourhood size must be >= 1, e.g. pr50k3_full")
    if thousands < 1:
        raise UserError(f"metric {name!r}: the image count must be >= 1k, e.g. {kind}10k_full")
    return MetricSpec(name=name.strip(), kind=kind, num_gen=thousands * 1000, k=k)


# --------------------------------------------------------------------------------------------
# Feature extraction


def _progress(total: int, desc: str, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="img")


def _select_items(num_available: int, max_items: int | None) -> np.ndarray:
    """All indices, or a fixed random subset (seed 0, sorted) of max_items of them."""
    if max_items is None or max_items >= num_available:
        return np.arange(num_available)
    return np.sort(np.random.default_rng(0).permutation(num_available)[:max_items])


def compute_features_for_dataset(
    dataset: Any,
    detector: InceptionFeatures,
    max_items: int | None = None,
    batch_size: int = 16,
    cache_dir: str | Path | None = None,
    *,
    capture_all: bool = False,
    use_cache: bool = True,
    progress: bool = False,
) -> FeatureStats:
    """Feature statistics of (a fixed subset of) a dataset, cached on disk.

    dataset: `len(ds)`, `ds[i] -> (uint8 [C, H, W], label)`, `ds.resolution`, `ds.num_channels`.
    The cache key is the dataset fingerprint, detector SHA-1, resolution, item count and
    capture_all; a cached capture_all=True file also serves a capture_all=False request.
    """
    indices = _select_items(len(dataset), max_items)
    if len(indices) < 2:
        raise UserError(f"the dataset has {len(dataset)} image(s); metrics need at least 2")
    resolution = getattr(dataset, "resolution", None)
    paths: list[Path] = []
    if use_cache:
        folder = default_cache_dir() if cache_dir is None else Path(cache_dir)
        fingerprint = dataset_fingerprint(dataset)
        keys = dict(
            fingerprint=fingerprint,
            detector_sha1=detector.sha1,
            resolution=resolution,
            num_items=len(indices),
        )
        paths = [cache_path(folder, capture_all=True, **keys)]
        if not capture_all:
            paths.insert(0, cache_path(folder, capture_all=False, **keys))
        for path in paths:
            stats = load_cached_stats(path)
            if stats is not None:
                log.info("dataset statistics loaded from cache %s", path)
                return stats

    stats = FeatureStats(capture_all=capture_all)
    bar = _progress(len(indices), "dataset features", progress)
    for start in range(0, len(indices), batch_size):
        batch = np.stack(
            [np.asarray(dataset[int(i)][0]) for i in indices[start : start + batch_size]]
        )
        stats.append(detector(batch))
        if bar is not None:
            bar.update(len(batch))
    if bar is not None:
        bar.close()
    if paths:
        save_cached_stats(paths[-1] if capture_all else paths[0], stats)
    return stats


def compute_features_for_generator(
    sampler: Sampler,
    num: int,
    batch_size: int,
    detector: InceptionFeatures,
    *,
    capture_all: bool = False,
    progress: bool = False,
) -> FeatureStats:
    """Feature statistics of `num` generated images.

    sampler(batch_size, start_index) returns uint8 images [batch_size, C, H, W] (torch or numpy);
    start_index lets it derive per-image seeds, so results do not depend on batch_size.
    """
    if num < 2:
        raise UserError(f"need at least 2 generated images for a metric, got num={num}")
    stats = FeatureStats(capture_all=capture_all)
    bar = _progress(num, "generated features", progress)
    for start in range(0, num, batch_size):
        count = min(batch_size, num - start)
        images = sampler(count, start)
        if images.shape[0] != count:
            raise ValueError(f"sampler returned {images.shape[0]} images, asked for {count}")
        stats.append(detector(images))
        if bar is not None:
            bar.update(count)
    if bar is not None:
        bar.close()
    return stats


# --------------------------------------------------------------------------------------------
# Named metrics


def _check_shapes(dataset: Any, sampler: Sampler) -> None:
    """Fail fast when generated images do not match the dataset's channels and resolution."""
    probe = sampler(1, 0)
    got = tuple(int(s) for s in probe.shape[1:])
    want = (getattr(dataset, "num_channels", got[0]),) + (
        getattr(dataset, "resolution", got[1]),
    ) * 2
    if got != want:
        raise UserError(
            f"the generator makes {got[0]}x{got[1]}x{got[2]} images but the dataset has "
            f"{want[0]}x{want[1]}x{want[2]}: use the dataset the network was trained on"
        )


def _metric_value(spec: MetricSpec, real: FeatureStats, gen: FeatureStats) -> dict[str, float]:
    if spec.kind == "fid":
        return {spec.name: frechet_distance(*gen.mean_cov(), *real.mean_cov())}
    if spec.kind == "kid":
        return {spec.name: kernel_inception_distance(real.all_features(), gen.all_features())}
    precision, recall = precision_recall(real.all_features(), gen.all_features(), k=spec.k or 3)
    return {f"{spec.name}_precision": precision, f"{spec.name}_recall": recall}


def calc_metrics(
    names: Sequence[str],
    *,
    dataset: Any,
    sampler: Sampler,
    detector: InceptionFeatures | None = None,
    num: int | None = None,
    batch_size: int = 16,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Compute several named metrics, sharing generated and real features between them.

    num overrides the generated-image count of every name (the CLI's --num); it may not exceed the
    dataset size. Each result: metric, kind, results {name: value}, value (single-valued metrics;
    None for precision/recall), num_gen, num_real, time_s (includes features computed first for
    this metric and reused by later ones), detector_sha1.
    """
    specs = [parse_metric_name(n) for n in names]
    if num is not None:
        if num > len(dataset):
            raise UserError(
                f"--num {num} is larger than the dataset ({len(dataset)} images); "
                f"use --num {len(dataset)} or less"
            )
        specs = [MetricSpec(s.name, s.kind, num, s.k) for s in specs]
    _check_shapes(dataset, sampler)
    if detector is None:
        detector = load_detector()

    def needs_all(kind: str) -> bool:
        return kind in ("kid", "pr")

    def num_real(kind: str) -> int:
        cap = _MAX_REAL[kind]
        return len(dataset) if cap is None else min(len(dataset), cap)

    gen_cache: dict[int, FeatureStats] = {}
    real_cache: dict[int, FeatureStats] = {}
    results = []
    for spec in specs:
        t0 = time.perf_counter()
        n_real = num_real(spec.kind)
        if n_real not in real_cache:
            any_all = any(needs_all(s.kind) and num_real(s.kind) == n_real for s in specs)
            real_cache[n_real] = compute_features_for_dataset(
                dataset,
                detector,
                max_items=n_real,
                batch_size=batch_size,
                cache_dir=cache_dir,
                capture_all=any_all,
                use_cache=use_cache,
                progress=progress,
            )
        if spec.num_gen not in gen_cache:
            any_all = any(needs_all(s.kind) and s.num_gen == spec.num_gen for s in specs)
            gen_cache[spec.num_gen] = compute_features_for_generator(
                sampler, spec.num_gen, batch_size, detector, capture_all=any_all, progress=progress
            )
        real, gen = real_cache[n_real], gen_cache[spec.num_gen]
        if spec.kind == "fid" and gen.num_items < FID_UNBIASED_N:
            log.warning(
                "%s uses only %d generated images: FID is biased upwards for N < %d, so compare "
                "only numbers computed with the same N",
                spec.name,
                gen.num_items,
                FID_UNBIASED_N,
            )
        values = _metric_value(spec, real, gen)
        results.append(
            {
                "metric": spec.name,
                "kind": spec.kind,
                "results": values,
                "value": next(iter(values.values())) if len(values) == 1 else None,
                "num_gen": gen.num_items,
                "num_real": real.num_items,
                "time_s": time.perf_counter() - t0,
                "detector_sha1": detector.sha1,
            }
        )
        log.info(
            "%s = %s (num_gen=%d, num_real=%d)", spec.name, values, gen.num_items, real.num_items
        )
    return results


def calc_metric(name: str, **kwargs: Any) -> dict[str, Any]:
    """One named metric; keyword arguments as for `calc_metrics`."""
    return calc_metrics([name], **kwargs)[0]
