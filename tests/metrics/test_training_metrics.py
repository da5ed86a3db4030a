"""`stylegen train --metrics`: evaluation at every snapshot, metrics.jsonl/png, resume."""

import json

import pytest
import torch

from stylegen.commands import main
from stylegen.errors import UserError
from stylegen.metrics import compute
from stylegen.metrics.report import append_jsonl, read_metrics
from stylegen.runs import STATE_FILE
from stylegen.training.stylegan import resume, train
from stylegen.training.stylegan_config import TrainConfig

from .conftest import CountingDetector, TinyNet, jit_script

BASE = dict(data="fashion-mnist", preset="tiny", max_size=64, snap=1, threads=2)


@pytest.fixture
def tiny_metrics(tmp_path, monkeypatch):
    """Metrics use a tiny detector (16x16 input, no resize cost) and a temporary cache."""
    monkeypatch.setenv("STYLEGEN_CACHE", str(tmp_path / "cache"))
    detector = CountingDetector(jit_script(TinyNet()), sha1="tiny", source="test", resolution=16)
    monkeypatch.setattr(compute, "load_detector", lambda *a, **k: detector)
    return detector


def _cfg(tmp_path, name, **kw):
    return TrainConfig(outdir=str(tmp_path / name), **{**BASE, **kw})


def _g_ema(snap):
    return torch.load(snap / STATE_FILE, weights_only=True)["G_ema"]


def test_metrics_at_every_snapshot_and_resume(tmp_path, tiny_metrics):
    snap = train(_cfg(tmp_path, "a", kimg=0.032, metrics=("fid1k_full", "kid1k_full")))
    run = snap.parent
    lines = read_metrics(run / "metrics.jsonl")
    assert [(r["metric"], r["kimg"]) for r in lines] == [
        ("fid1k_full", 0.016),
        ("kid1k_full", 0.016),
        ("fid1k_full", 0.032),
        ("kid1k_full", 0.032),
    ]
    assert all(r["num_gen"] == 1000 and r["num_real"] == 64 for r in lines)
    assert all(r["source"] == "train" and r["value"] is not None for r in lines)
    assert lines[2]["snapshot"] == snap.name
    assert (run / "metrics.png").stat().st_size > 0
    assert json.loads((run / "training_options.json").read_text())["metrics"] == [
        "fid1k_full",
        "kid1k_full",
    ]

    # Evaluating metrics does not change training: same weights as a run without them.
    plain = train(_cfg(tmp_path, "b", kimg=0.032))
    for k, v in _g_ema(snap).items():
        assert torch.equal(v, _g_ema(plain)[k]), k

    # Resume: lines after the snapshot it resumes from are dropped, new snapshots are added.
    append_jsonl(run / "metrics.jsonl", [{"metric": "stale", "kimg": 0.5}])
    resumed = resume(run, kimg=0.048)
    again = read_metrics(resumed.parent / "metrics.jsonl")
    assert [r["kimg"] for r in again] == [0.016, 0.016, 0.032, 0.032, 0.048, 0.048]
    assert again[:4] == lines


def test_unknown_training_metric_fails_early(tmp_path, capsys):
    with pytest.raises(UserError, match="unknown metric 'fid10k'"):
        TrainConfig(data="fashion-mnist", metrics=("fid10k",)).resolved()
    args = ["train", "--data", "fashion-mnist", "--outdir", str(tmp_path / "runs")]
    assert main([*args, "--metrics", "fid10k_full,bogus"]) == 2
    assert "unknown metric 'bogus'" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()
    assert main([*args, "--metrics", "fid10k_full", "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out)["metrics"] == ["fid10k_full"]


def test_metrics_max_real_caps_the_real_images_during_training(tmp_path, tiny_metrics, capsys):
    snap = train(_cfg(tmp_path, "a", kimg=0.016, metrics=("fid1k_full",), metrics_max_real=16))
    (line,) = read_metrics(snap.parent / "metrics.jsonl")
    assert line["num_real"] == 16  # of the 64 images (64 without the cap, test above)
    for arch in ("stylegan2", "dcgan"):  # every family with --metrics; checked before training
        args = ["train", "--data", "fashion-mnist", "--arch", arch, "--metrics", "fid1k_full"]
        assert main([*args, "--metrics-max-real", "1", "--dry-run"]) == 2
        assert "--metrics-max-real 1 must be >= 2" in capsys.readouterr().err
