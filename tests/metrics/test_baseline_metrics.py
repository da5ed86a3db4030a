"""FID, KID and precision/recall on the baseline families, in training and from the CLI; the
StyleGAN-only metrics are refused for them in one line."""

import pytest

from stylegen.errors import UserError
from stylegen.metrics import compute
from stylegen.metrics.report import read_metrics
from stylegen.training.baselines import train
from stylegen.training.baselines_config import BaselineConfig

from .conftest import CountingDetector, TinyNet, jit_script

BASE = dict(data="fashion-mnist", preset="tiny", max_size=64, snap=100, threads=1)
METRICS = ("fid1k_full", "kid1k_full", "pr1k3_full")


@pytest.fixture
def tiny_metrics(tmp_path, monkeypatch):
    monkeypatch.setenv("STYLEGEN_CACHE", str(tmp_path / "cache"))
    detector = CountingDetector(jit_script(TinyNet()), sha1="tiny", source="test", resolution=16)
    monkeypatch.setattr(compute, "load_detector", lambda *a, **k: detector)
    return detector


@pytest.mark.parametrize("arch", ["cgan", "vae"])
def test_fid_kid_pr_at_the_final_snapshot(tmp_path, tiny_metrics, arch):
    cfg = BaselineConfig(outdir=str(tmp_path), arch=arch, kimg=0.016, metrics=METRICS, **BASE)
    snap = train(cfg)
    lines = read_metrics(snap.parent / "metrics.jsonl")
    assert [r["metric"] for r in lines] == list(METRICS)
    assert lines[0]["value"] > 0 and lines[1]["value"] is not None
    assert {"pr1k3_full_precision", "pr1k3_full_recall"} <= set(lines[2]["results"])


def test_stylegan_only_metrics_are_refused(tmp_path, capsys):
    cfg = BaselineConfig(outdir=str(tmp_path), arch="dcgan", metrics=("ppl2_wend",), **BASE)
    with pytest.raises(UserError, match="ppl2_wend need StyleGAN's mapping network"):
        train(cfg)
    assert not list(tmp_path.iterdir())  # no run folder left behind
