"""Metric driver: feature extraction for datasets and generators, the shared metric context, and
the Inception-feature metrics.

Metric names follow NVIDIA's StyleGAN2-ADA vocabulary (Karras et al. 2020); registry.py maps names
to functions. Registered here:

* `fid<N>k_full`  — FID (fid.py) between N thousand generated images and the whole dataset;
* `kid<N>k_full`  — KID (kid.py), same sets, 100 subsets of at most 1000;
* `pr<N>k<K>_full` — improved precision/recall (pr.py), K nearest neighbours (K = 3 in the paper).

All three use the FID Inception features (features.py). Note that NVIDIA's `pr50k3_full` uses VGG-16
features, as Kynkäänniemi et al. do, so our precision/recall numbers are not directly comparable to
theirs. Real images: all of the dataset for `_full` names (capped at 1M for KID and 200k for
precision/recall, like the reference); when fewer than all are used, a fixed random subset (seed 0).
Dataset statistics are cached on disk (stats_cache.py).

Generated images (`generator_sampler`): image i uses z from seed i (generate.py's per-seed z), the
label of a fixed random permutation of the dataset for conditional networks, and per-pixel noise
drawn from a torch RNG seeded by the batch's first index inside `torch.random.fork_rng`, so the
caller's RNG state (e.g. the training loop's) is left untouched.

Small N: FID is biased upwards when fewer than `FID_UNBIASED_N` = 10 000 images are used on either
side (below 2048, the feature dimension, the covariance is even rank-deficient); a warning is
logged and every result carries num_gen / num_real so numbers are compared at equal N only.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stylegen.errors import UserError
from stylegen.metrics.features import InceptionFeatures, load_detector
from stylegen.metrics.fid import frechet_distance
from stylegen.metrics.kid import kernel_inception_distance
from stylegen.metrics.pr import precision_recall
from stylegen.metrics.registry import (
    MetricSpec,
    MetricValue,
    get_metric,
    parse_metric_name,
    parse_metric_names,
    register_metric,
)
from stylegen.metrics.stats_cache import (
    FeatureStats,
    cache_path,
    dataset_fingerprint,
    default_cache_dir,
    load_cached_stats,
    save_cached_stats,
)

__all__ = [
    "MetricContext",
    "MetricSpec",
    "Sampler",
    "calc_metric",
    "calc_metrics",
    "check_compatible",
    "compute_features_for_dataset",
    "compute_features_for_generator",
    "generator_sampler",
    "parse_metric_name",
]

log = logging.getLogger(__name__)

# (batch_size, start_index) -> uint8 images [batch_size, C, H, W]
Sampler = Callable[[int, int], "torch.Tensor | np.ndarray"]

FID_UNBIASED_N = 10_000
_MAX_REAL = {"fid": None, "kid": 1_000_000, "pr": 200_000}


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

    # Say the count: a `_full` metric on a large dataset (70,000 Fashion-MNIST images) spends
    # CPU-hours here once, which looks like a hang without it.
    log.info(
        "computing detector features of %d dataset image(s) (once; cached afterwards)",
        len(indices),
    )
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
# Generated images


@contextlib.contextmanager
def seeded_rng(seed: int, device: str | torch.device = "cpu") -> Iterator[None]:
    """Seed torch's RNG for a block and restore the caller's state afterwards."""
    device = torch.device(device)
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def dataset_labels(dataset: Any, c_dim: int) -> Callable[[int, int], torch.Tensor | None]:
    """labels(count, start) for a generator with c_dim classes: those of a fixed permutation."""
    if not c_dim:
        return lambda count, start: None
    order = np.random.default_rng(0).permutation(len(dataset))

    def labels(count: int, start: int) -> torch.Tensor:
        idx = order[np.arange(start, start + count) % len(order)]
        return torch.from_numpy(np.stack([dataset.get_label(int(i)) for i in idx])).float()

    return labels


def generator_sampler(
    G: torch.nn.Module,
    dataset: Any | None = None,
    *,
    device: str | torch.device = "cpu",
    truncation_psi: float = 1.0,
    noise_mode: str = "random",
) -> Sampler:
    """A Sampler drawing uint8 images from G (see the module docstring for seeds and labels)."""
    from stylegen.generate import z_from_seeds
    from stylegen.images import float_to_uint8

    c_dim = int(getattr(G, "c_dim", 0))
    if c_dim and dataset is None:
        raise UserError(f"the network is conditional ({c_dim} classes): pass --data for labels")
    labels = dataset_labels(dataset, c_dim)

    def sample(count: int, start: int) -> torch.Tensor:
        z = z_from_seeds(list(range(start, start + count)), G.z_dim).to(device)
        c = labels(count, start)
        c = c.to(device) if c is not None else None
        with torch.no_grad(), seeded_rng(start, device):
            img = G(z, c, truncation_psi=truncation_psi, noise_mode=noise_mode)
        return float_to_uint8(img).cpu()

    return sample


def check_compatible(G: torch.nn.Module, dataset: Any) -> None:
    """UserError when the dataset is not the kind of data G makes (resolution, labels)."""
    res, ds_res = int(G.img_resolution), getattr(dataset, "resolution", None)
    if ds_res is not None and ds_res != res:
        raise UserError(
            f"the dataset has {ds_res}x{ds_res} images but the network makes {res}x{res}: "
            f"use the dataset the network was trained on (or resize it with "
            f"`stylegen dataset --resolution {res}`)"
        )
    channels, ds_channels = int(G.img_channels), getattr(dataset, "num_channels", None)
    if ds_channels is not None and ds_channels != channels:
        raise UserError(
            f"the dataset has {ds_channels}-channel images but the network makes {channels}: "
            "use the dataset the network was trained on"
        )
    c_dim = int(getattr(G, "c_dim", 0))
    label_dim = int(getattr(dataset, "label_dim", 0))
    if c_dim and label_dim == 0:
        raise UserError(
            f"the network is conditional ({c_dim} classes) but the dataset has no labels: pass "
            "the labelled dataset it was trained on (with dataset.json, or --labels folders)"
        )
    if c_dim and label_dim != c_dim:
        raise UserError(
            f"the network has {c_dim} classes but the dataset's labels have {label_dim}: "
            "use the dataset the network was trained on"
        )


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


# --------------------------------------------------------------------------------------------
# The context shared by the metrics of one evaluation


class MetricContext:
    """Everything a metric function may need, built once per `calc_metrics` call.

    Feature statistics are computed on first request and shared: all metrics asking for the
    generated features of the same count get one pass (keeping every row when any registered
    family of this evaluation declared gen_features="all").
    """

    def __init__(
        self,
        specs: Sequence[MetricSpec],
        *,
        G: torch.nn.Module | None = None,
        dataset: Any | None = None,
        sampler: Sampler | None = None,
        detector: InceptionFeatures | None = None,
        detector_path: str | Path | None = None,
        detector_sha1: str | None = None,
        batch_size: int = 16,
        cache_dir: str | Path | None = None,
        use_cache: bool = True,
        progress: bool = False,
        device: str | torch.device = "cpu",
        lpips_path: str | Path | None = None,
        max_real: int | None = None,
    ) -> None:
        self.specs = list(specs)
        self.max_real = max_real  # at most this many dataset images (None: each metric's own)
        self.G = G
        self.dataset = dataset
        self.device = torch.device(device)
        if sampler is None and G is not None:
            sampler = generator_sampler(G, dataset, device=self.device)
        self.sampler = sampler
        self._detector = detector
        self.detector_path = detector_path
        self.detector_sha1 = detector_sha1
        self.batch_size = batch_size
        self.cache_dir = cache_dir
        self.use_cache = use_cache
        self.progress = progress
        self.lpips_path = lpips_path
        self._gen: dict[int, FeatureStats] = {}
        self._real: dict[int, FeatureStats] = {}
        # Free for metric families: weights and other things to load once per evaluation.
        self.cache: dict[str, Any] = {}

    @property
    def detector(self) -> InceptionFeatures:
        if self._detector is None:
            self._detector = load_detector(
                self.detector_path, device=self.device, trusted_sha1=self.detector_sha1
            )
        return self._detector

    @property
    def detector_loaded(self) -> bool:
        return self._detector is not None

    def require_generator(self, spec: MetricSpec) -> torch.nn.Module:
        if self.G is None:
            raise UserError(f"metric {spec.name} needs the generator network itself (--network)")
        return self.G

    def require_dataset(self, spec: MetricSpec) -> Any:
        if self.dataset is None:
            raise UserError(f"metric {spec.name} needs real images: pass --data DATASET")
        return self.dataset

    def generator_features(self, num: int) -> FeatureStats:
        """Inception statistics of `num` generated images (shared between metrics)."""
        if num not in self._gen:
            if self.sampler is None:
                raise UserError("metrics on generated images need a network (--network)")
            capture_all = any(
                get_metric(s.kind).gen_features == "all" and s.num_gen == num for s in self.specs
            )
            self._gen[num] = compute_features_for_generator(
                self.sampler,
                num,
                self.batch_size,
                self.detector,
                capture_all=capture_all,
                progress=self.progress,
            )
        return self._gen[num]

    def dataset_features(self, max_items: int | None, capture_all: bool) -> FeatureStats:
        """Inception statistics of (a fixed subset of) the dataset, cached on disk."""
        dataset = self.dataset
        if dataset is None:
            raise UserError("metrics on real images need --data DATASET")
        n = len(dataset) if max_items is None else min(len(dataset), max_items)
        cached = self._real.get(n)
        if cached is None or (capture_all and not cached.capture_all):
            self._real[n] = compute_features_for_dataset(
                dataset,
                self.detector,
                max_items=n,
                batch_size=self.batch_size,
                cache_dir=self.cache_dir,
                capture_all=capture_all,
                use_cache=self.use_cache,
                progress=self.progress,
            )
        return self._real[n]


def warn_if_small(name: str, num_gen: int, num_real: int | None = None) -> None:
    """Log that FID-like numbers from fewer than FID_UNBIASED_N images are biased."""
    n = min(num_gen, num_real if num_real is not None else num_gen)
    if n >= FID_UNBIASED_N:
        return
    extra = " (below 2048, the covariance is rank-deficient)" if n < 2048 else ""
    log.warning(
        "%s uses only %d generated / %s real images: FID is biased upwards for N < %d%s, so "
        "compare only numbers computed with the same N",
        name,
        num_gen,
        "-" if num_real is None else num_real,
        FID_UNBIASED_N,
        extra,
    )


# --------------------------------------------------------------------------------------------
# FID, KID, precision/recall


def _real_for(ctx: MetricContext, spec: MetricSpec, capture_all: bool) -> FeatureStats:
    cap = _MAX_REAL[spec.kind]
    if ctx.max_real is not None:
        cap = ctx.max_real if cap is None else min(cap, ctx.max_real)
    # Keep every row when another metric of this evaluation will need them for the same set.
    capture_all = capture_all or any(s.kind in ("kid", "pr") for s in ctx.specs)
    return ctx.dataset_features(cap, capture_all)


def _fid(ctx: MetricContext, spec: MetricSpec) -> MetricValue:
    real = _real_for(ctx, spec, capture_all=False)
    gen = ctx.generator_features(spec.num_gen)
    warn_if_small(spec.name, gen.num_items, real.num_items)
    value = frechet_distance(*gen.mean_cov(), *real.mean_cov())
    return MetricValue({spec.name: value}, gen.num_items, real.num_items)


def _kid(ctx: MetricContext, spec: MetricSpec) -> MetricValue:
    real = _real_for(ctx, spec, capture_all=True)
    gen = ctx.generator_features(spec.num_gen)
    value = kernel_inception_distance(real.all_features(), gen.all_features())
    return MetricValue({spec.name: value}, gen.num_items, real.num_items)


def _pr(ctx: MetricContext, spec: MetricSpec) -> MetricValue:
    real = _real_for(ctx, spec, capture_all=True)
    gen = ctx.generator_features(spec.num_gen)
    precision, recall = precision_recall(real.all_features(), gen.all_features(), k=spec.k or 3)
    results = {f"{spec.name}_precision": precision, f"{spec.name}_recall": recall}
    return MetricValue(results, gen.num_items, real.num_items)


register_metric(
    "fid", r"fid(?P<n>\d+)k_full", _fid, form="fid<N>k_full", example="fid50k_full",
    gen_features="mean_cov",
)  # fmt: skip
register_metric(
    "kid", r"kid(?P<n>\d+)k_full", _kid, form="kid<N>k_full", example="kid50k_full",
    gen_features="all",
)  # fmt: skip
register_metric(
    "pr", r"pr(?P<n>\d+)k(?P<k>\d+)_full", _pr, form="pr<N>k<K>_full", example="pr50k3_full",
    gen_features="all",
)  # fmt: skip


# --------------------------------------------------------------------------------------------
# Driver


def calc_metrics(
    names: Sequence[str] | str,
    *,
    dataset: Any | None = None,
    sampler: Sampler | None = None,
    G: torch.nn.Module | None = None,
    detector: InceptionFeatures | None = None,
    detector_path: str | Path | None = None,
    detector_sha1: str | None = None,
    num: int | None = None,
    batch_size: int = 16,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    progress: bool = False,
    device: str | torch.device = "cpu",
    lpips_path: str | Path | None = None,
    max_real: int | None = None,
) -> list[dict[str, Any]]:
    """Compute several named metrics, sharing generated and real features between them.

    Images come from `sampler` or, when it is None, from `G` (generator_sampler). num overrides
    the image count of every name (the CLI's --num); for metrics that read real images it may
    not exceed the dataset size. `max_real` caps the real images (a fixed random subset; the
    CLI's --max-real) where a metric would read more, e.g. every image for FID's `_full`. Bad
    names, counts, weights files and mismatched data raise UserError before any long
    computation. Each result: metric, kind, results {name: value},
    value (single-valued metrics; None otherwise), num_gen, num_real, time_s (including features
    computed first for this metric and reused by later ones), detector_sha1 (None when the
    metric used no Inception features).
    """
    specs = parse_metric_names(names)
    defs = {s.kind: get_metric(s.kind) for s in specs}
    uses_dataset = any(defs[s.kind].uses_dataset for s in specs)
    if num is not None:
        if num < 2:
            raise UserError(f"--num {num} is too small; metrics need at least 2 images")
        if uses_dataset and dataset is not None and num > len(dataset):
            raise UserError(
                f"--num {num} is larger than the dataset ({len(dataset)} images); "
                f"use --num {len(dataset)} or less"
            )
        specs = [MetricSpec(s.name, s.kind, num, s.k, s.params) for s in specs]
    if max_real is not None and max_real < 2:
        raise UserError(f"--max-real {max_real} is too small; metrics need at least 2 images")
    if uses_dataset and dataset is None:
        raise UserError(f"{specs[0].name} compares with real images: pass --data DATASET")
    if G is not None and dataset is not None:
        check_compatible(G, dataset)
    ctx = MetricContext(
        specs,
        G=G,
        dataset=dataset,
        sampler=sampler,
        detector=detector,
        detector_path=detector_path,
        detector_sha1=detector_sha1,
        batch_size=batch_size,
        cache_dir=cache_dir,
        use_cache=use_cache,
        progress=progress,
        device=device,
        lpips_path=lpips_path,
        max_real=max_real,
    )
    if uses_dataset and ctx.sampler is not None:
        _check_shapes(dataset, ctx.sampler)
    if any(defs[s.kind].gen_features != "none" for s in specs):
        ctx.detector  # noqa: B018 — load (and hash-check) the weights before any long work
    for spec in specs:
        if defs[spec.kind].check is not None:
            defs[spec.kind].check(ctx, spec)

    results = []
    for spec in specs:
        t0 = time.perf_counter()
        out = defs[spec.kind].fn(ctx, spec)
        values = {k: float(v) for k, v in out.results.items()}
        uses_detector = defs[spec.kind].gen_features != "none" and ctx.detector_loaded
        results.append(
            {
                "metric": spec.name,
                "kind": spec.kind,
                "results": values,
                "value": next(iter(values.values())) if len(values) == 1 else None,
                "num_gen": out.num_gen,
                "num_real": out.num_real,
                "time_s": time.perf_counter() - t0,
                "detector_sha1": ctx.detector.sha1 if uses_detector else None,
                **out.extra,
            }
        )
        log.info("%s = %s (num_gen=%s, num_real=%s)", spec.name, values, out.num_gen, out.num_real)
    return results


def calc_metric(name: str, **kwargs: Any) -> dict[str, Any]:
    """One named metric; keyword arguments as for `calc_metrics`."""
    return calc_metrics([name], **kwargs)[0]
