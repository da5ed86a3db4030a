"""`stylegen tune`: an Optuna study whose trials are ordinary StyleGAN2/3 runs.

Each trial samples the searched settings (TPE, Bergstra et al. 2011, Optuna's default sampler),
trains one run with the shared trainer (its own run folder under <outdir>/<study>/trials/),
and reports the metric at every snapshot to Optuna, whose pruner (the median rule by default)
stops trials that fall behind. The study lives in Optuna's storage: run `stylegen tune` again
with the same storage and study name and it continues where it stopped; several processes on one
or many machines pointed at the same storage share it (Optuna's own distributed mode).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stylegen.errors import TrainingDivergedError, UserError
from stylegen.tune.outputs import TuneResult, write_outputs
from stylegen.tune.space import DEFAULT_PARAMS, ParamRange, default_ranges, read_space_file

__all__ = ["INSTALL_HINT", "TuneConfig", "TuneResult", "require_optuna", "run_study"]

log = logging.getLogger(__name__)

INSTALL_HINT = "stylegen tune needs Optuna: pip install 'stylegen[tune]'"
# Metric families where higher is better; every other one (FID, KID, PPL) is minimised.
MAXIMISED = ("is", "eqt", "eqr")
# Settings a resumed study must keep: its trials are only comparable under the same ones.
FIXED_SETTINGS = ("data", "preset", "kimg", "metric", "params")


@dataclass
class TuneConfig:
    """Everything `stylegen tune` needs. `train` holds further TrainConfig fields shared by
    every trial (snap, tick_kimg, max_size, cond, mirror, device, threads, init, ...)."""

    data: str
    preset: str = "cpu32"
    trials: int = 8
    kimg: float = 5.0
    metric: str = "fid2k_full"
    storage: str | None = None  # None: sqlite:///<outdir>/<study_name>/study.db
    study_name: str = "stylegen"
    params: tuple[str, ...] = DEFAULT_PARAMS
    space: str | None = None  # JSON/YAML file of ranges
    outdir: str = "tune"
    pruner: str = "median"  # median | none
    prune_startup: int = 2  # trials that finish before the pruner stops any
    seed: int = 0
    train: dict[str, Any] = field(default_factory=dict)


def require_optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise UserError(INSTALL_HINT) from None
    return optuna


# ---------------------------------------------------------------------------------------------
# Checks: everything before a study or a folder exists


def _base_config(cfg: TuneConfig) -> Any:
    """The resolved TrainConfig every trial starts from (fine-tuning sources resolved)."""
    from stylegen.training.stylegan_config import TrainConfig

    if not isinstance(cfg.trials, int) or cfg.trials < 1:
        raise UserError(f"--trials {cfg.trials} must be a positive integer")
    if not isinstance(cfg.prune_startup, int) or cfg.prune_startup < 0:
        raise UserError(f"--prune-startup {cfg.prune_startup} must be an integer >= 0")
    if cfg.pruner not in ("median", "none"):
        raise UserError(f"unknown --pruner {cfg.pruner!r}; choose one of: median, none")
    base = TrainConfig(
        data=cfg.data,
        preset=cfg.preset,
        kimg=cfg.kimg,
        metrics=(cfg.metric,),
        seed=cfg.seed,
        **cfg.train,
    ).resolved()
    if base.init:
        from stylegen.training.finetune import resolve_init

        base = resolve_init(base).resolved()
    return base


def _direction(metric: str) -> str:
    from stylegen.metrics.registry import parse_metric_name

    spec = parse_metric_name(metric)
    if spec.kind == "pr":
        raise UserError(
            f"--metric {metric} gives two numbers (precision, recall); tune one of fid, kid, is"
        )
    return "maximize" if spec.kind in MAXIMISED else "minimize"


def _check_kimg(base: Any) -> None:
    """Pruning needs a report: at least one snapshot every `snap` ticks within --kimg."""
    every = base.snap * base.tick_kimg
    if base.kimg < every - 1e-9:
        raise UserError(
            f"--kimg {base.kimg:g} is shorter than one snapshot (--snap {base.snap} x --tick "
            f"{base.tick_kimg:g} kimg = {every:g} kimg); raise --kimg to at least {every:g} "
            "or lower --snap / --tick"
        )


def _ranges(cfg: TuneConfig, base: Any) -> dict[str, ParamRange]:
    ranges = default_ranges(cfg.params, base)
    if cfg.space:
        ranges.update(read_space_file(cfg.space, cfg.params))
    return ranges


def _check_trial_settings(base: Any, ranges: dict[str, ParamRange]) -> None:
    """The data opens and the networks build for every batch the study may pick."""
    from stylegen.training import stylegan

    data = stylegan.open_training_data(base)
    batches = ranges["batch"].choices if "batch" in ranges else (base.batch,)
    for batch in batches or (base.batch,):
        try:
            stylegan._check(dataclasses.replace(base, batch=int(batch)), data)
        except UserError as exc:
            raise UserError(f"batch {batch} of the search space fails: {exc}") from None


# ---------------------------------------------------------------------------------------------
# Storage


def open_storage(url: str, optuna: Any) -> Any:
    """An Optuna storage: an RDB URL (sqlite:///study.db, postgresql://...) or a journal file
    (journal:PATH, or a path ending in .log / .journal) for several machines on a shared disk."""
    try:
        if url.startswith("journal:") or url.endswith((".log", ".journal")):
            from optuna.storages.journal import JournalFileBackend, JournalStorage

            path = url.removeprefix("journal:")
            if not Path(path).parent.is_dir():
                raise OSError(f"folder {Path(path).parent} does not exist")
            return JournalStorage(JournalFileBackend(path))
        if "://" not in url:
            raise ValueError("not a database URL")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return optuna.storages.RDBStorage(url)
    except Exception as exc:  # SQLAlchemy, driver and file errors all mean: cannot open it
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise UserError(
            f"cannot open --storage {url} ({reason}); pass e.g. sqlite:///study.db (an existing "
            "folder), journal:study.log, or a reachable database URL"
        ) from None


def _settings(cfg: TuneConfig, base: Any) -> dict[str, Any]:
    return {
        "data": cfg.data,
        "preset": base.preset,
        "kimg": base.kimg,
        "metric": cfg.metric,
        "params": ",".join(cfg.params),
    }


def _open_study(cfg: TuneConfig, base: Any, storage: Any, optuna: Any, direction: str) -> Any:
    pruner = (
        optuna.pruners.MedianPruner(n_startup_trials=cfg.prune_startup, n_warmup_steps=0)
        if cfg.pruner == "median"
        else optuna.pruners.NopPruner()
    )
    study = optuna.create_study(
        storage=storage,
        study_name=cfg.study_name,
        direction=direction,
        sampler=optuna.samplers.TPESampler(seed=cfg.seed),
        pruner=pruner,
        load_if_exists=True,
    )
    settings = _settings(cfg, base)
    saved = study.user_attrs.get("settings")
    if saved is None:
        study.set_user_attr("settings", settings)
    else:
        for key in FIXED_SETTINGS:
            if saved.get(key) != settings[key]:
                raise UserError(
                    f"study {cfg.study_name!r} in {cfg.storage} was run with {key} "
                    f"{saved.get(key)!r}, not {settings[key]!r}; use the same setting or "
                    "another --study-name"
                )
    if study.direction.name.lower() != direction:
        raise UserError(f"study {cfg.study_name!r} is not a {direction} study; use another name")
    return study


# ---------------------------------------------------------------------------------------------
# The study


def run_study(cfg: TuneConfig) -> TuneResult:
    """Run (or continue) the study until it holds `cfg.trials` finished trials."""
    optuna = require_optuna()
    direction = _direction(cfg.metric)
    base = _base_config(cfg)
    _check_kimg(base)
    ranges = _ranges(cfg, base)
    _check_trial_settings(base, ranges)
    study_dir = Path(cfg.outdir) / cfg.study_name
    new_dir = not study_dir.exists()
    url = cfg.storage or f"sqlite:///{study_dir / 'study.db'}"
    if cfg.storage is None:
        study_dir.mkdir(parents=True, exist_ok=True)
    try:
        storage = open_storage(url, optuna)
        study = _open_study(dataclasses.replace(cfg, storage=url), base, storage, optuna, direction)
    except BaseException:
        if new_dir:
            shutil.rmtree(study_dir, ignore_errors=True)
        raise
    for r in ranges.values():
        log.info("search %s", r.describe())
    finished = (
        optuna.trial.TrialState.COMPLETE,
        optuna.trial.TrialState.PRUNED,
        optuna.trial.TrialState.FAIL,
    )
    _enqueue_baseline(study, base, ranges)
    done = len(study.get_trials(deepcopy=False, states=finished))
    if done < cfg.trials:
        log.info("study %s: %d of %d trials done", cfg.study_name, done, cfg.trials)
        objective = _Objective(base, ranges, study_dir, cfg.metric, optuna)
        study.optimize(
            objective,
            n_trials=cfg.trials - done,
            catch=(TrainingDivergedError,),  # a diverged trial fails; the study goes on
            callbacks=[optuna.study.MaxTrialsCallback(cfg.trials, states=finished)],
            gc_after_trial=True,
        )
    return write_outputs(study, study_dir, optuna)


def _enqueue_baseline(study: Any, base: Any, ranges: dict[str, ParamRange]) -> None:
    """A new study's first trial runs the preset's own values, so the table answers whether the
    search beat the recipe at the same kimg (values outside a user's range are left to the
    sampler)."""
    if study.trials:
        return
    resolved = base.resolved()
    values = {}
    for r in ranges.values():
        value = getattr(resolved, r.field)
        inside = value in r.choices if r.choices is not None else r.low <= value <= r.high
        if inside:
            values[r.name] = value
    if values:
        study.enqueue_trial(values, user_attrs={"baseline": True})
        log.info("trial 0 runs the preset's values: %s", values)


class _Objective:
    """One trial: sample the settings, train a run, report the metric at every snapshot."""

    def __init__(
        self, base: Any, ranges: dict[str, ParamRange], study_dir: Path, metric: str, optuna: Any
    ) -> None:
        self.base, self.ranges, self.study_dir = base, ranges, study_dir
        self.metric, self.optuna = metric, optuna

    def __call__(self, trial: Any) -> float:
        from stylegen.training.stylegan import train

        values = {r.field: _suggest(trial, r) for r in self.ranges.values()}
        outdir = self.study_dir / "trials" / f"trial-{trial.number:05d}"
        cfg = dataclasses.replace(self.base, outdir=str(outdir), **values).resolved()
        reporter = _Reporter(trial, outdir, self.metric, self.optuna)
        log.info("trial %d: %s", trial.number, values)
        train(cfg, reporter)
        if reporter.last is None or not math.isfinite(reporter.last):
            raise TrainingDivergedError(f"trial {trial.number} gave no finite {self.metric}")
        return reporter.last


def _suggest(trial: Any, r: ParamRange) -> Any:
    if r.choices is not None:
        return trial.suggest_categorical(r.name, list(r.choices))
    return trial.suggest_float(r.name, r.low, r.high, log=r.log)


class _Reporter:
    """The trainer's progress callback: after each tick, new metric lines of the run's
    metrics.jsonl go to Optuna (step = images seen); a trial the pruner stops raises
    TrialPruned, which ends the run like any error after its first step (its snapshots stay)."""

    def __init__(self, trial: Any, outdir: Path, metric: str, optuna: Any) -> None:
        self.trial, self.outdir, self.metric, self.optuna = trial, outdir, metric, optuna
        self.seen = 0
        self.last: float | None = None

    def __call__(self, progress: Any) -> None:
        if progress.stats is None:
            return
        from stylegen.metrics.report import read_metrics
        from stylegen.runs import METRICS_FILE

        run = next((p for p in sorted(self.outdir.iterdir()) if p.is_dir()), None)
        if run is None:
            return
        if "run" not in self.trial.user_attrs:
            self.trial.set_user_attr("run", str(run))
        path = run / METRICS_FILE
        lines = read_metrics(path) if path.exists() else []
        for line in lines[self.seen :]:
            if line.get("metric") != self.metric:
                continue
            value = line.get("results", {}).get(self.metric, line.get("value"))
            if value is None:
                continue
            self.last = float(value)
            self.trial.report(self.last, step=round(line["kimg"] * 1000))
            log.info(
                "trial %d: %s %.4g at kimg %g",
                self.trial.number,
                self.metric,
                self.last,
                line["kimg"],
            )
        self.seen = len(lines)
        if self.last is not None and self.trial.should_prune():
            raise self.optuna.TrialPruned(
                f"{self.metric} {self.last:.4g} at kimg {progress.cur_nimg / 1000:g}"
            )
