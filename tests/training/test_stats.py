"""Tests for stylegen.training.stats: collecting, writing stats.jsonl / TensorBoard, plotting."""

import json
import logging
import math
import sys
import types

import numpy as np
import pytest
import torch
from PIL import Image

from stylegen.errors import UserError
from stylegen.training import stats as stats_mod
from stylegen.training.stats import (
    STATS_FILENAME,
    StatsCollector,
    StatsWriter,
    plot_losses,
    read_stats,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# --- collector ---------------------------------------------------------------------------------


def test_collector_means_over_all_elements_and_reset():
    col = StatsCollector()
    assert col.report("a", 1.0) == 1.0  # returns the value for inlining
    col.report("a", torch.tensor([2.0, 3.0]))
    col.report("b", torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
    col.report("b", np.float32(5.0))
    col.report("c", torch.empty(0))  # ignored: no samples
    col.report("d", 7)
    out = col.tick(with_std=True)
    assert out["a"] == pytest.approx(2.0)
    assert out["a/std"] == pytest.approx(math.sqrt(2 / 3))  # population std of 1, 2, 3
    assert out["b"] == pytest.approx(3.0)
    assert out["d"] == 7.0 and out["d/std"] == 0.0
    assert "c" not in out
    assert col.names() == []
    assert col.tick() == {}


def test_collector_matches_float64_reference():
    g = torch.Generator().manual_seed(0)
    chunks = [torch.randn(n, generator=g) * 3 + 1 for n in (5, 1, 17)]
    col = StatsCollector()
    for chunk in chunks:
        col.report("x", chunk)
    ref = np.concatenate([c.double().numpy() for c in chunks])
    out = col.tick(with_std=True)
    assert out["x"] == pytest.approx(ref.mean(), rel=1e-12)
    assert out["x/std"] == pytest.approx(ref.std(), rel=1e-9)


def test_collector_tick_extra_and_types():
    col = StatsCollector()
    col.report("Loss/G/loss", torch.tensor([1.0, 3.0]))
    out = col.tick({"Progress/kimg": torch.tensor(1.5), "Progress/tick": np.int64(3)})
    assert out == {"Loss/G/loss": 2.0, "Progress/kimg": 1.5, "Progress/tick": 3}
    assert type(out["Progress/kimg"]) is float and type(out["Progress/tick"]) is int


def test_collector_rejects_non_numbers():
    with pytest.raises(TypeError, match="number or tensor"):
        StatsCollector().report("x", "high")


# --- writer ------------------------------------------------------------------------------------


def test_writer_jsonl_round_trip(tmp_path):
    records = [
        {"Progress/kimg": 0.0, "Loss/G/loss": 0.7, "Loss/D/loss": 1.3},
        {"Progress/kimg": 1.5, "Loss/G/loss": float("nan"), "Metrics/fid": 12.5, "timestamp": 5.0},
    ]
    with StatsWriter(tmp_path / "run", tensorboard=False) as writer:
        written = [writer.write(r) for r in records]
    back = read_stats(tmp_path / "run" / STATS_FILENAME)
    assert back == written
    assert back[0]["Loss/D/loss"] == 1.3 and isinstance(back[0]["timestamp"], float)
    assert back[1]["Loss/G/loss"] is None  # non-finite → null, the line stays strict JSON
    assert back[1]["timestamp"] == 5.0  # an explicit timestamp is kept
    lines = (tmp_path / "run" / STATS_FILENAME).read_text().splitlines()
    assert len(lines) == 2
    json.loads(lines[1], parse_constant=lambda c: pytest.fail(f"non-strict JSON {c}"))


def test_writer_appends_to_existing_file(tmp_path):
    for kimg in (1.0, 2.0):
        with StatsWriter(tmp_path, tensorboard=False) as writer:
            writer.write({"Progress/kimg": kimg})
    assert [r["Progress/kimg"] for r in read_stats(tmp_path / STATS_FILENAME)] == [1.0, 2.0]


def test_writer_rejects_non_number_values(tmp_path):
    with pytest.raises(TypeError, match="'bad'"):
        StatsWriter(tmp_path, tensorboard=False).write({"bad": [1, 2]})


class _FakeSummaryWriter:
    instances: list = []

    def __init__(self, log_dir):
        self.log_dir = log_dir
        self.scalars = []
        self.closed = False
        _FakeSummaryWriter.instances.append(self)

    def add_scalar(self, tag, value, global_step=None, walltime=None):
        self.scalars.append((tag, value, global_step, walltime))

    def flush(self):
        pass

    def close(self):
        self.closed = True


def test_writer_tensorboard_scalars(tmp_path, monkeypatch):
    fake = types.ModuleType("torch.utils.tensorboard")
    fake.SummaryWriter = _FakeSummaryWriter
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", fake)
    _FakeSummaryWriter.instances = []
    with StatsWriter(tmp_path) as writer:
        writer.write({"Progress/kimg": 1.25, "Loss/G/loss": 0.5, "x": None, "timestamp": 9.0})
        writer.write({"Loss/G/loss": 0.25})  # no kimg: the step is the line count
    (tb,) = _FakeSummaryWriter.instances
    assert tb.log_dir == str(tmp_path) and tb.closed
    assert tb.scalars[:2] == [("Progress/kimg", 1.25, 1250, 9.0), ("Loss/G/loss", 0.5, 1250, 9.0)]
    assert tb.scalars[2][:3] == ("Loss/G/loss", 0.25, 1)
    assert len(tb.scalars) == 3  # None and the timestamp are not scalars


def test_writer_without_tensorboard_warns_once(tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # makes the import fail
    monkeypatch.setattr(stats_mod, "_tensorboard_warned", False)
    with caplog.at_level(logging.WARNING, logger=stats_mod.__name__):
        for run in ("a", "b"):
            with StatsWriter(tmp_path / run) as writer:
                writer.write({"Progress/kimg": 1.0})
                writer.write({"Progress/kimg": 2.0})
    warnings = [r for r in caplog.records if "TensorBoard" in r.getMessage()]
    assert len(warnings) == 1
    assert len(read_stats(tmp_path / "b" / STATS_FILENAME)) == 2


def test_writer_real_tensorboard_creates_event_file(tmp_path):
    pytest.importorskip("tensorboard")
    with StatsWriter(tmp_path) as writer:
        writer.write({"Progress/kimg": 0.5, "Loss/G/loss": 1.0})
    assert list(tmp_path.glob("events.out.tfevents.*"))


# --- reading and plotting ----------------------------------------------------------------------


def _write_run(path, n=6, metrics=True):
    lines = []
    for i in range(n):
        rec = {
            "Progress/kimg": 0.5 * i,
            "Loss/G/loss": 1.0 + 0.1 * i,
            "Loss/D/loss": 1.2 - 0.1 * i,
            "Loss/r1_penalty": 0.01 * i,
            "Progress/augment": 0.02 * i,
        }
        if i % 2 == 0:
            rec["Loss/pl_penalty"] = 0.3
        if metrics and i in (0, 5):
            rec["Metrics/fid50k_full"] = 100.0 - i
            rec["Metrics/kid50k_full"] = 0.1
        lines.append(json.dumps(rec))
    path.write_text("\n".join(lines) + "\n")


def test_read_stats_skips_cut_line(tmp_path, caplog):
    path = tmp_path / STATS_FILENAME
    _write_run(path, n=2)
    with open(path, "a") as f:
        f.write('{"Progress/kimg": 1.0, "Loss/G')  # a crash mid-write
    with caplog.at_level(logging.WARNING, logger=stats_mod.__name__):
        records = read_stats(path)
    assert len(records) == 2
    assert "skipped 1" in caplog.text


def test_read_stats_missing_file(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        read_stats(tmp_path / "nope.jsonl")


def test_panels_follow_the_data():
    records = [{"Progress/kimg": 0.0, "Loss/G/loss": 1.0, "Metrics/fid": 3.0, "Loss/D/reg": 2.0}]
    assert [t for t, _ in stats_mod._panels(records)] == ["Losses", "fid"]
    records = [{"Progress/kimg": 0.0, "Loss/pl_penalty": None, "Progress/augment": 0.1}]
    assert [t for t, _ in stats_mod._panels(records)] == ["Augmentation"]


def _assert_png(path):
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(path) as im:
        im.verify()


def test_plot_losses_writes_png_and_no_temp(tmp_path):
    stats_path = tmp_path / STATS_FILENAME
    _write_run(stats_path)
    out = tmp_path / "plots" / "losses.png"
    assert plot_losses(stats_path, out) == out
    _assert_png(out)
    with Image.open(out) as im:
        # 3 fixed panels + 2 metric panels: taller than wide.
        assert im.size[1] > im.size[0]
    # Overwriting works and leaves only the PNG behind.
    plot_losses(stats_path, out)
    assert sorted(p.name for p in out.parent.iterdir()) == ["losses.png"]


def test_plot_losses_empty_file_gives_placeholder(tmp_path):
    stats_path = tmp_path / STATS_FILENAME
    stats_path.write_text("")
    out = plot_losses(stats_path, tmp_path / "p.png")
    _assert_png(out)


def test_save_atomic_failure_leaves_nothing(tmp_path):
    class _Broken:
        def savefig(self, f, **kwargs):
            f.write(b"partial")
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        stats_mod.save_figure_atomic(_Broken(), tmp_path / "x.png")
    assert list(tmp_path.iterdir()) == []
