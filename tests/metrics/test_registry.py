"""The metric name registry: parsing, listing, and adding a family the way equivariance will."""

import pytest
import torch

from stylegen.errors import UserError
from stylegen.metrics import registry
from stylegen.metrics.compute import calc_metrics
from stylegen.metrics.registry import (
    MetricSpec,
    MetricValue,
    list_metrics,
    parse_metric_name,
    parse_metric_names,
    register_metric,
)

W_END = (("sampling", "end"), ("space", "w"), ("v", "2"))
Z_FULL = (("sampling", "full"), ("space", "z"))


@pytest.mark.parametrize(
    ("name", "spec"),
    [
        ("is50k", MetricSpec("is50k", "is", 50_000)),
        ("ppl2_wend", MetricSpec("ppl2_wend", "ppl", 50_000, None, W_END)),
        ("ppl_zfull", MetricSpec("ppl_zfull", "ppl", 50_000, None, Z_FULL)),
        ("eqt50k_frac", MetricSpec("eqt50k_frac", "eqt", 50_000, None, (("mode", "frac"),))),
        ("eqr10k", MetricSpec("eqr10k", "eqr", 10_000)),
    ],
)
def test_builtin_families(name, spec):
    assert parse_metric_name(name) == spec
    # Registration order depends on which module a test session imports first; the set does not.
    kinds = {d.kind for d in list_metrics()}
    assert kinds >= {"fid", "kid", "pr", "is", "ppl", "eqt", "eqr"}


def test_name_lists():
    specs = parse_metric_names(" fid10k_full, kid10k_full,fid10k_full,")
    assert [s.name for s in specs] == ["fid10k_full", "kid10k_full"]
    with pytest.raises(UserError, match="no metric names given"):
        parse_metric_names(" , ")
    with pytest.raises(UserError, match="image count must be >= 1k"):
        parse_metric_name("is0k")


def test_a_new_family_plugs_in(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    seen = []

    def eqt(ctx, spec):
        G = ctx.require_generator(spec)
        seen.append((spec.num_gen, spec.param("mode"), G))
        return MetricValue({spec.name: 42.0}, num_gen=spec.num_gen)

    register_metric(
        "eqt", r"eqt(?P<n>\d+)k_(?P<mode>int|frac)", eqt, form="eqt<N>k_{int,frac}",
        example="eqt50k_int", uses_dataset=False,
    )  # fmt: skip
    assert parse_metric_name("eqt50k_frac").param("mode") == "frac"
    G = torch.nn.Identity()
    (result,) = calc_metrics(["eqt2k_int"], G=G, sampler=lambda n, s: None)
    assert result["value"] == 42.0 and result["num_gen"] == 2000 and seen == [(2000, "int", G)]
    assert result["detector_sha1"] is None
    with pytest.raises(UserError, match="needs the generator network"):
        calc_metrics(["eqt2k_int"], sampler=lambda n, s: None)
    with pytest.raises(ValueError, match="does not match the pattern"):
        register_metric("bad", r"bad\d+", eqt, form="bad<N>", example="bad")
