"""`stylegen tune`: hyper-parameter search over StyleGAN2/3 training with Optuna (stylegen/tune/).

Each trial is an ordinary training run; the study lives in --storage, so running the same command
again continues it, and several processes (on one machine with SQLite, across machines with a
journal file on a shared disk or a database server) share it. Needs the `tune` extra (Optuna);
without it the command says how to install it. Nothing here imports torch or optuna until run.
"""

from __future__ import annotations

import argparse
from typing import Any

from stylegen.commands.common import Subparsers, config_default, pick_device
from stylegen.tune.space import DEFAULT_PARAMS, PARAMS, parse_params


def _default(name: str) -> Any:
    from stylegen.tune.study import TuneConfig  # torch-free: optuna is imported on use only

    return config_default(TuneConfig, name)


def register(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(
        "tune", help="search training hyper-parameters with Optuna (pip install 'stylegen[tune]')"
    )
    p.add_argument("--data", required=True, help="image folder, .zip, or built-in: fashion-mnist")
    p.add_argument(
        "--preset", default=_default("preset"), help="StyleGAN preset (ranges centre on its values)"
    )
    p.add_argument(
        "--trials",
        type=int,
        default=_default("trials"),
        help="finished trials the study should hold",
    )
    p.add_argument("--kimg", type=float, default=_default("kimg"), help="kimg per trial")
    p.add_argument(
        "--metric", default=_default("metric"), help="evaluated at every snapshot, e.g. fid2k_full"
    )
    p.add_argument(
        "--storage",
        default=None,
        help="Optuna storage: sqlite:///study.db, journal:study.log (shared disk), or a "
        "database URL (default: sqlite in the study folder)",
    )
    p.add_argument("--study-name", default=_default("study_name"))
    p.add_argument(
        "--params",
        default=",".join(DEFAULT_PARAMS),
        help=f"parameters to search (default {','.join(DEFAULT_PARAMS)}; also: "
        f"{','.join(k for k in PARAMS if k not in DEFAULT_PARAMS)})",
    )
    p.add_argument(
        "--space",
        metavar="FILE",
        help='JSON/YAML ranges, e.g. {"gamma": {"low": 0.01, "high": 1, "log": true}}',
    )
    p.add_argument("--outdir", default=_default("outdir"), help="parent folder of the study folder")
    p.add_argument("--pruner", default=_default("pruner"), choices=["median", "none"])
    p.add_argument(
        "--prune-startup",
        type=int,
        default=_default("prune_startup"),
        help="trials that must finish before the pruner stops any",
    )
    p.add_argument("--seed", type=int, default=_default("seed"), help="training and sampler seed")
    g = p.add_argument_group("every trial's training settings (as in `stylegen train`)")
    g.add_argument(
        "--snap", type=int, default=1, help="ticks between snapshots = metric reports (default 1)"
    )
    g.add_argument("--tick", dest="tick_kimg", type=float, default=None, help="kimg per tick")
    g.add_argument("--max-size", type=int, default=None)
    g.add_argument("--cond", action="store_true")
    g.add_argument("--mirror", action="store_true")
    g.add_argument("--labels", default=None, choices=["json", "folders"])
    g.add_argument("--init", metavar="SOURCE", help="fine-tune every trial from this network")
    g.add_argument("--freeze-d", type=int, default=None)
    g.add_argument("--freeze-mapping", action="store_true")
    g.add_argument("--device", default=None)
    g.add_argument("--threads", type=int, default=None)
    p.set_defaults(func=run)


TRAIN_FLAGS = (
    "snap",
    "tick_kimg",
    "max_size",
    "cond",
    "mirror",
    "labels",
    "init",
    "freeze_d",
    "freeze_mapping",
    "threads",
)


def run(args: argparse.Namespace) -> int:
    from stylegen.tune.study import TuneConfig, require_optuna, run_study

    require_optuna()  # the install hint before anything else
    train = {k: getattr(args, k) for k in TRAIN_FLAGS if getattr(args, k) not in (None, False)}
    train["device"] = pick_device(args.device)
    cfg = TuneConfig(
        data=args.data,
        preset=args.preset,
        trials=args.trials,
        kimg=args.kimg,
        metric=args.metric,
        storage=args.storage,
        study_name=args.study_name,
        params=parse_params(args.params),
        space=args.space,
        outdir=args.outdir,
        pruner=args.pruner,
        prune_startup=args.prune_startup,
        seed=args.seed,
        train=train,
    )
    result = run_study(cfg)
    print(format_table(result.rows, args.metric))
    for path in [*result.plots, result.study_dir / "trials.csv"]:
        print(f"wrote {path}")
    if result.best is not None:
        print(f"best: {result.best} (rerun: stylegen train --config {result.best})")
    else:
        print("no trial completed yet: run the same command again to continue the study")
    return 0


def format_table(rows: list[dict[str, Any]], metric: str) -> str:
    """The trials as an aligned text table."""
    params = list(
        dict.fromkeys(k for r in rows for k in r if k not in ("trial", "state", "value", "run"))
    )
    head = ["trial", "state", metric, *params]
    lines = [head]
    for r in rows:
        cells = [str(r["trial"]), r["state"], _fmt(r.get("value"))]
        lines.append(cells + [_fmt(r.get(k)) for k in params])
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)
