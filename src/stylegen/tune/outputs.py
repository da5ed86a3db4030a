"""What a `stylegen tune` study leaves in <outdir>/<study>/: trials.csv (one row per trial),
best.json (the best trial's full training settings: `stylegen train --config best.json` reruns
it), and Optuna's optimisation-history and parameter-importance plots as PNGs
(optuna.visualization.matplotlib; importance by fANOVA, Hutter et al. 2014)."""

from __future__ import annotations

import csv
import io
import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stylegen import runs
from stylegen.fileio import atomic_write_text

__all__ = ["TuneResult", "trial_rows", "write_outputs"]

log = logging.getLogger(__name__)


@dataclass
class TuneResult:
    """What a study run leaves: its folder, the trials table, best.json and the plots."""

    study_dir: Path
    rows: list[dict[str, Any]]  # one per trial: trial, state, value, each parameter, run
    best: Path | None  # best.json, or None when no trial completed
    plots: list[Path]


def trial_rows(study: Any) -> list[dict[str, Any]]:
    """One dict per trial: number, state, value, each parameter, run folder."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        rows.append(
            {
                "trial": t.number,
                "state": t.state.name.lower(),
                # a pruned trial's value is its last reported one
                "value": t.value if t.value is not None else _last_report(t),
                **t.params,
                "run": t.user_attrs.get("run", ""),
            }
        )
    return rows


def _last_report(trial: Any) -> float | None:
    steps = trial.intermediate_values
    return steps[max(steps)] if steps else None


def write_outputs(study: Any, study_dir: Path, optuna: Any) -> TuneResult:
    study_dir.mkdir(parents=True, exist_ok=True)
    rows = trial_rows(study)
    atomic_write_text(study_dir / "trials.csv", _csv(rows))
    best = _write_best(study, study_dir, optuna)
    plots = _plots(study, study_dir)
    return TuneResult(study_dir, rows, best, plots)


def _csv(rows: list[dict[str, Any]]) -> str:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _write_best(study: Any, study_dir: Path, optuna: Any) -> Path | None:
    """best.json: the best completed trial's training_options.json, writing runs to runs/."""
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        log.warning("no trial completed yet: no best.json")
        return None
    best = study.best_trial
    run = best.user_attrs.get("run")
    if not run or not (Path(run) / runs.OPTIONS_FILE).is_file():
        log.warning("the best trial's run folder %s is not here: no best.json", run)
        return None
    kind, options = runs.read_options(run)
    doc = {"kind": kind, **options, "outdir": "runs"}  # reruns go to runs/, not the study
    path = study_dir / "best.json"
    atomic_write_text(path, json.dumps(doc, indent=2) + "\n")
    log.info("best trial %d (%s %.4g): %s", best.number, options.get("metrics"), best.value, path)
    return path


def _plots(study: Any, study_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as vis

    from stylegen.images import save_figure_atomic

    written = []
    for name, plot in (
        ("history.png", vis.plot_optimization_history),
        ("importance.png", vis.plot_param_importances),
    ):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
                ax = plot(study)
        except (ValueError, RuntimeError) as exc:  # e.g. importance needs 2 complete trials
            log.info("no %s yet: %s", name, str(exc).splitlines()[0] if str(exc) else exc)
            continue
        fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
        fig.set_size_inches(7, 4.5)
        fig.tight_layout()
        written.append(save_figure_atomic(fig, study_dir / name))
        plt.close(fig)
    return written
