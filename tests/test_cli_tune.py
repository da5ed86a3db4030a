"""`stylegen tune`: a 2-trial study with a pruned trial on the tiny preset, resumed to 3 trials
from the same SQLite storage, the best config rerun by `train --config`, and bad input."""

import json
import re
import sys

import pytest

pytest.importorskip("optuna")

from stylegen.commands import main  # noqa: E402
from stylegen.metrics import registry  # noqa: E402
from stylegen.metrics.registry import MetricValue, register_metric  # noqa: E402

# A metric per snapshot in call order: trial 0 reports 2, 1; trial 1 reports 5 at its first
# snapshot, worse than trial 0's 2 there, so the median pruner stops it; trial 2 (the resumed
# study) reports 1.5, 0.5 and is the best.
SCRIPT = [2.0, 1.0, 5.0, 1.5, 0.5, 0.7, 0.7]


@pytest.fixture
def scripted_metric():
    """A cheap metric `fake1k` whose values follow SCRIPT (no detector, no dataset)."""
    values = iter(SCRIPT)

    def fake(ctx, spec):
        return MetricValue({spec.name: next(values)}, num_gen=0)

    registry._ensure_loaded()
    register_metric("fake", r"fake(?P<n>\d+)k", fake, form="fake<N>k", example="fake1k",
                    uses_dataset=False)  # fmt: skip
    yield
    registry._REGISTRY.pop("fake", None)


def _tune(tmp_path, *extra, trials="2"):
    return [
        "tune",
        "--data",
        "fashion-mnist",
        "--preset",
        "tiny",
        "--max-size",
        "64",
        "--kimg",
        "0.016",
        "--tick",
        "0.008",
        "--metric",
        "fake1k",
        "--params",
        "gamma,glr",
        "--trials",
        trials,
        "--prune-startup",
        "1",
        "--threads",
        "1",
        "--study-name",
        "s",
        "--outdir",
        str(tmp_path / "tune"),
        "--storage",
        f"sqlite:///{tmp_path / 'study.db'}",
        *extra,
    ]


def test_study_prunes_resumes_and_best_config_reruns(tmp_path, scripted_metric, capsys):
    space = tmp_path / "space.json"
    space.write_text(json.dumps({"gamma": {"low": 0.01, "high": 0.5, "log": True}}))
    assert main(_tune(tmp_path, "--space", str(space))) == 0
    out = capsys.readouterr().out
    assert re.search(r"^0\s+complete\s+1\s", out, re.M), out
    assert re.search(r"^1\s+pruned\s+5\s", out, re.M), out
    study = tmp_path / "tune" / "s"
    # the pruned trial stopped after its first snapshot
    (run1,) = (study / "trials" / "trial-00001").iterdir()
    assert sorted(p.name for p in run1.glob("snapshot-*")) == ["snapshot-000000.008"]
    assert (study / "history.png").stat().st_size > 0
    # trial 0 is the baseline: the preset's own values (tiny: gamma 0.1, lr 0.0025)
    (run0,) = (study / "trials" / "trial-00000").iterdir()
    opts0 = json.loads((run0 / "training_options.json").read_text())
    assert (opts0["gamma"], opts0["glr"]) == (0.1, 0.0025)
    (run1_opts,) = [json.loads((run1 / "training_options.json").read_text())]
    assert (run1_opts["gamma"], run1_opts["glr"]) != (0.1, 0.0025)

    # The same storage: the study continues to 3 trials (one more), and trial 2 is the best.
    assert main(_tune(tmp_path, "--space", str(space), trials="3")) == 0
    out = capsys.readouterr().out
    assert re.search(r"^2\s+complete\s+0\.5\s", out, re.M), out
    assert len(out.strip().splitlines()[0].split()) == 5  # trial state fake1k gamma glr
    assert (study / "importance.png").stat().st_size > 0
    rows = (study / "trials.csv").read_text().strip().splitlines()
    assert len(rows) == 4
    best = json.loads((study / "best.json").read_text())
    (run2,) = (study / "trials" / "trial-00002").iterdir()
    options = json.loads((run2 / "training_options.json").read_text())
    assert best["gamma"] == options["gamma"] and best["glr"] == options["glr"]
    assert 0.01 <= best["gamma"] <= 0.5

    # best.json reruns as an ordinary training run with the best settings.
    rerun = tmp_path / "rerun"
    args = ["--outdir", str(rerun), "--kimg", "0.008"]
    assert main(["train", "--config", str(study / "best.json"), *args]) == 0
    (run,) = rerun.iterdir()
    again = json.loads((run / "training_options.json").read_text())
    assert again["gamma"] == best["gamma"] and again["glr"] == best["glr"]
    assert again["kimg"] == 0.008 and again["preset"] == "tiny"


def _bad_inputs(tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_text('{"gamma": {"low": 0.5, "high": 0.5}}')
    unknown = tmp_path / "unknown.json"
    unknown.write_text('{"lr": {"low": 0.1, "high": 0.5}}')
    missing = tmp_path / "no" / "such" / "dir" / "study.db"
    return [
        (["--params", "gamma,foo"], "unknown parameter 'foo'"),
        (["--space", str(empty)], r"range \[0.5, 0.5\] is empty"),
        (["--space", str(unknown)], "unknown parameter 'lr'"),
        (["--storage", f"sqlite:///{missing}"], "cannot open --storage"),
        (["--storage", "nonsense"], "cannot open --storage nonsense"),
        (["--kimg", "0.004"], "--kimg 0.004 is shorter than one snapshot"),
        (["--metric", "pr1k3_full"], "gives two numbers"),
        (["--prune-startup", "-1"], "--prune-startup -1 must be"),
    ]


def test_bad_input_one_line_nothing_made(tmp_path, scripted_metric, capsys):
    for extra, message in _bad_inputs(tmp_path):
        args = _tune(tmp_path, *extra)
        if "--storage" in extra:  # the later --storage wins
            i = args.index("--storage")
            del args[i : i + 2]
        assert main(args) == 2, extra
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and re.search(message, err), (message, err)
        assert not (tmp_path / "tune").exists(), extra
        assert not (tmp_path / "study.db").exists(), extra
        assert not (tmp_path / "no").exists()


def test_without_optuna_one_line_install_hint(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna -> ImportError
    assert main(_tune(tmp_path)) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: stylegen tune needs Optuna: pip install 'stylegen[tune]'"
    assert not (tmp_path / "tune").exists()
