"""Metric name registry: a metric name such as `fid50k_full` or `ppl2_wend` → its function.

Names follow NVIDIA's StyleGAN2-ADA / StyleGAN3 vocabulary (Karras et al. 2020, 2021). Each metric
family registers one regular expression; its named groups carry the parameters:

* `n`  — thousands of generated images (`fid50k_full` → 50 000); names without it use
  `default_num`;
* `k`  — a neighbourhood size (`pr50k3_full` → k = 3);
* any other group becomes a string parameter of the spec (`ppl2_wend` → space "w", sampling "end").

A metric function takes a `MetricContext` (compute.py: the generator, dataset, detector and shared
feature statistics) and the parsed `MetricSpec`, and returns a `MetricValue`. Another module adds a
family with

    from stylegen.metrics.registry import MetricValue, register_metric

    def equivariance_t(ctx, spec):            # ctx: compute.MetricContext
        G = ctx.require_generator(spec)
        ...
        return MetricValue({spec.name: psnr}, num_gen=spec.num_gen)

    register_metric("eqt", r"eqt(?P<n>\\d+)k_(?P<mode>int|frac)", equivariance_t,
                    form="eqt<N>k_{int,frac}", example="eqt50k_int", uses_dataset=False)

and lists its module in `METRIC_MODULES` below, so that the name is known (e.g. to
`stylegen train --metrics` validation) without anyone importing that module first.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stylegen.errors import UserError

__all__ = [
    "METRIC_MODULES",
    "MetricDef",
    "MetricSpec",
    "MetricValue",
    "get_metric",
    "list_metrics",
    "parse_metric_name",
    "parse_metric_names",
    "register_metric",
]

# Modules that register metric families when imported; loaded on the first registry look-up.
METRIC_MODULES: list[str] = [
    "stylegen.metrics.compute",  # fid, kid, pr
    "stylegen.metrics.is_",  # is
    "stylegen.metrics.ppl",  # ppl
    "stylegen.metrics.equivariance",  # eqt, eqr (StyleGAN3)
]


@dataclass(frozen=True)
class MetricSpec:
    """A parsed metric name: family (`kind`), generated-image count, optional k and parameters."""

    name: str
    kind: str
    num_gen: int
    k: int | None = None
    params: tuple[tuple[str, str], ...] = ()

    def param(self, key: str, default: str | None = None) -> str | None:
        return dict(self.params).get(key, default)


@dataclass
class MetricValue:
    """What a metric function returns: named results and the sample counts behind them."""

    results: dict[str, float]
    num_gen: int | None = None
    num_real: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


MetricFn = Callable[[Any, MetricSpec], MetricValue]


@dataclass(frozen=True)
class MetricDef:
    """One registered metric family.

    gen_features: "none", "mean_cov" or "all" — which Inception statistics of generated images the
    function reads via ctx.generator_features (so that metrics sharing a count share one pass, and
    the pass keeps every row when any of them needs it). uses_dataset: whether real images are
    read (then --num may not exceed the dataset size, and the dataset must match the network).
    check(ctx, spec), if given, runs before any metric is computed: it should load its weights
    and raise UserError for bad input, so that errors come before long work.
    """

    kind: str
    pattern: re.Pattern[str]
    fn: MetricFn
    form: str
    example: str
    default_num: int
    uses_dataset: bool
    gen_features: str
    check: Callable[[Any, MetricSpec], None] | None = None

    def parse(self, name: str) -> MetricSpec | None:
        m = self.pattern.fullmatch(name)
        if m is None:
            return None
        groups = {k: v for k, v in m.groupdict().items() if v is not None}
        num_gen = self.default_num
        if "n" in groups:
            thousands = int(groups.pop("n"))
            if thousands < 1:
                raise UserError(
                    f"metric {name!r}: the image count must be >= 1k, e.g. {self.example}"
                )
            num_gen = thousands * 1000
        k = None
        if "k" in groups:
            k = int(groups.pop("k"))
            if k < 1:
                raise UserError(
                    f"metric {name!r}: neighbourhood size must be >= 1, e.g. {self.example}"
                )
        return MetricSpec(name, self.kind, num_gen, k, tuple(sorted(groups.items())))


_REGISTRY: dict[str, MetricDef] = {}
_loaded = False


def register_metric(
    kind: str,
    pattern: str,
    fn: MetricFn,
    *,
    form: str,
    example: str,
    default_num: int = 50_000,
    uses_dataset: bool = True,
    gen_features: str = "none",
    check: Callable[[Any, MetricSpec], None] | None = None,
) -> MetricDef:
    """Register (or replace) the metric family `kind`; see the module docstring for the groups."""
    if gen_features not in ("none", "mean_cov", "all"):
        raise ValueError(f"gen_features must be none, mean_cov or all, got {gen_features!r}")
    definition = MetricDef(
        kind=kind,
        pattern=re.compile(pattern),
        fn=fn,
        form=form,
        example=example,
        default_num=default_num,
        uses_dataset=uses_dataset,
        gen_features=gen_features,
        check=check,
    )
    if definition.parse(example) is None:
        raise ValueError(f"example {example!r} does not match the pattern {pattern!r}")
    _REGISTRY[kind] = definition
    return definition


def _ensure_loaded() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True  # set first: the modules call register_metric while being imported
    for module in METRIC_MODULES:
        importlib.import_module(module)


def list_metrics() -> list[MetricDef]:
    """Every registered family, in registration order."""
    _ensure_loaded()
    return list(_REGISTRY.values())


def valid_forms() -> str:
    return ", ".join(d.form for d in list_metrics())


def parse_metric_name(name: str) -> MetricSpec:
    """'fid50k_full' → MetricSpec('fid50k_full', 'fid', 50000); UserError for unknown names."""
    text = str(name).strip()
    for definition in list_metrics():
        spec = definition.parse(text)
        if spec is not None:
            return spec
    raise UserError(f"unknown metric {text!r}; valid forms: {valid_forms()}")


def parse_metric_names(names: str | list[str] | tuple[str, ...]) -> list[MetricSpec]:
    """A comma-separated string or a list of names → specs (duplicates dropped, order kept)."""
    items = names.split(",") if isinstance(names, str) else list(names)
    specs: list[MetricSpec] = []
    for item in items:
        if str(item).strip():
            spec = parse_metric_name(item)
            if spec not in specs:
                specs.append(spec)
    if not specs:
        raise UserError(f"no metric names given; e.g. fid50k_full (valid forms: {valid_forms()})")
    return specs


def get_metric(kind: str) -> MetricDef:
    _ensure_loaded()
    return _REGISTRY[kind]
