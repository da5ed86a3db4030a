"""Metric results on disk: `metrics.jsonl`, its plot, and evaluation of a saved or training network.

Every evaluated metric becomes one JSON line, in the spirit of NVIDIA's `metric-<name>.jsonl`
files (Karras et al. 2020) but one file for all metrics:

    {"metric": "fid50k_full", "results": {"fid50k_full": 12.3}, "value": 12.3, "num_gen": 50000,
     "num_real": 70000, "time_s": 812.5, "detector_sha1": "...", "kimg": 1000.0,
     "snapshot": "snapshot-001000", "network": "...", "dataset": "...", "source": "cli",
     "timestamp": 1700000000.0}

Where the file lives: the run folder when the network is a run folder or a snapshot inside one
(a folder with training_options.json); otherwise beside the network, i.e. in its parent folder.
Lines are appended with a single write each and fsynced, so a crash loses at most the line being
written and never damages earlier ones; readers skip a cut last line.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stylegen.errors import UserError
from stylegen.images import save_figure_atomic

__all__ = [
    "METRICS_FILE",
    "METRICS_PLOT",
    "append_jsonl",
    "check_training_metrics",
    "evaluate_network",
    "evaluate_snapshot",
    "format_table",
    "metrics_log_path",
    "plot_metrics",
    "read_metrics",
]

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.jsonl"
METRICS_PLOT = "metrics.png"
RUN_MARKER = "training_options.json"


def metrics_log_path(network: str | os.PathLike) -> Path:
    """<run>/metrics.jsonl for run folders and their snapshots, else <parent of network>/."""
    path = Path(network)
    if (path / RUN_MARKER).is_file():
        return path / METRICS_FILE
    if (path.parent / RUN_MARKER).is_file():
        return path.parent / METRICS_FILE
    return path.resolve().parent / METRICS_FILE


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def append_jsonl(path: str | os.PathLike, records: Sequence[dict[str, Any]]) -> Path:
    """Append each record as one whole JSON line (one write + fsync per line)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        raise UserError(f"cannot write {path} ({exc.strerror}); check the folder") from None
    try:
        for record in records:
            line = json.dumps(_json_safe(record), allow_nan=False) + "\n"
            os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


def read_metrics(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of a metrics.jsonl; unreadable lines (e.g. cut by a crash) are skipped."""
    records = []
    path = Path(path)
    if not path.is_file():
        return records
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def format_table(results: Sequence[dict[str, Any]]) -> str:
    """A plain-text table: metric, value, N (generated / real), seconds."""
    rows = [("metric", "value", "N gen", "N real", "seconds")]
    for r in results:
        for name, value in r["results"].items():
            rows.append(
                (
                    name,
                    f"{value:.6g}" if isinstance(value, float) else str(value),
                    "-" if r.get("num_gen") is None else str(r["num_gen"]),
                    "-" if r.get("num_real") is None else str(r["num_real"]),
                    f"{r['time_s']:.1f}",
                )
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def plot_metrics(jsonl: str | os.PathLike, out_png: str | os.PathLike) -> Path | None:
    """Plot every result with a kimg against kimg (one panel per result name); atomic write.

    Returns None (and writes nothing) when no record has a kimg.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    series: dict[str, list[tuple[float, float]]] = {}
    for record in read_metrics(jsonl):
        kimg = record.get("kimg")
        if not isinstance(kimg, (int, float)):
            continue
        for name, value in (record.get("results") or {}).items():
            if isinstance(value, (int, float)):
                series.setdefault(name, []).append((float(kimg), float(value)))
    if not series:
        return None
    fig = Figure(figsize=(7, 2.4 * len(series) + 0.6), layout="constrained")
    FigureCanvasAgg(fig)
    fig.suptitle(Path(jsonl).resolve().parent.name)
    axes = fig.subplots(len(series), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (name, points) in zip(axes, sorted(series.items())):
        points.sort()
        ax.plot([p[0] for p in points], [p[1] for p in points], marker=".", linewidth=1.2)
        ax.set_title(name, fontsize=10)
        ax.grid(True, alpha=0.3)
    axes[-1].set_xlabel("kimg")
    return save_figure_atomic(fig, Path(out_png))


# --------------------------------------------------------------------------------------------
# Evaluating networks


def open_metric_dataset(data: str, G: Any, labels: str = "json", mirror: bool = False) -> Any:
    """Open the dataset for metrics on G, with labels when G is conditional (clear errors)."""
    from stylegen.data.open import open_dataset

    c_dim = int(getattr(G, "c_dim", 0))
    try:
        return open_dataset(data, use_labels=bool(c_dim), labels=labels, xflip=mirror)
    except UserError:
        if not c_dim:
            raise
        open_dataset(data, xflip=mirror)  # re-raises when the data itself is the problem
    raise UserError(
        f"the network is conditional ({c_dim} classes) but dataset {data} has no labels: "
        "pass the labelled dataset it was trained on (with dataset.json, or --labels folders)"
    )


def evaluate_network(
    network: str | os.PathLike,
    names: Sequence[str] | str,
    *,
    data: str | None = None,
    labels: str = "json",
    mirror: bool = False,
    log_path: str | os.PathLike | None = None,
    **kwargs: Any,
) -> tuple[list[dict[str, Any]], Path]:
    """Evaluate the checkpoint at `network` and append the results to its metrics.jsonl.

    kwargs go to `calc_metrics` (num, max_real, detector_path, detector_sha1, device, batch_size,
    lpips_path, cache_dir, progress). Returns (results, path of the metrics.jsonl written).
    """
    from stylegen.checkpoint import load, resolve
    from stylegen.metrics.compute import calc_metrics
    from stylegen.metrics.registry import parse_metric_names

    parse_metric_names(names)  # unknown names fail before the network is read
    folder = resolve(network)
    G = load(folder, device=kwargs.get("device", "cpu"))
    dataset = open_metric_dataset(data, G, labels, mirror) if data else None
    results = calc_metrics(names, G=G, dataset=dataset, **kwargs)
    meta = getattr(G, "checkpoint_metadata", {}) or {}
    common = {
        "kimg": meta.get("kimg"),
        "snapshot": folder.name,
        "network": str(folder),
        "dataset": data,
        "source": "cli",
    }
    path = Path(log_path) if log_path else metrics_log_path(network)
    now = time.time()
    append_jsonl(path, [{**r, **common, "timestamp": now} for r in results])
    return results, path


def evaluate_snapshot(
    names: Sequence[str],
    *,
    G: Any,
    dataset: Any,
    run_dir: str | os.PathLike,
    kimg: float,
    snapshot: str | os.PathLike | None = None,
    device: str = "cpu",
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """The training loop's hook: evaluate G_ema, append to <run>/metrics.jsonl, redraw the plot.

    Runs under a forked torch RNG so that training continues exactly as without metrics.
    """
    import torch

    from stylegen.metrics.compute import calc_metrics

    with torch.random.fork_rng(devices=[torch.device(device)] if "cuda" in str(device) else []):
        results = calc_metrics(names, G=G, dataset=dataset, device=device, **kwargs)
    run_dir = Path(run_dir)
    common = {
        "kimg": kimg,
        "snapshot": Path(snapshot).name if snapshot else None,
        "network": str(snapshot) if snapshot else None,
        "source": "train",
        "timestamp": time.time(),
    }
    path = append_jsonl(run_dir / METRICS_FILE, [{**r, **common} for r in results])
    plot_metrics(path, run_dir / METRICS_PLOT)
    for r in results:
        log.info("kimg %.1f %s %s (N=%s)", kimg, r["metric"], r["results"], r["num_gen"])
    return results


def check_training_metrics(names: Sequence[str], device: str = "cpu") -> None:
    """Fail before training starts when the metrics asked for cannot run (names, weights)."""
    if not names:
        return
    from stylegen.metrics.compute import MetricContext
    from stylegen.metrics.registry import get_metric, parse_metric_names

    specs = parse_metric_names(list(names))
    ctx = MetricContext(specs, device=device)
    if any(get_metric(s.kind).gen_features != "none" for s in specs):
        ctx.detector  # noqa: B018 — loads and hash-checks the Inception weights
    for spec in specs:
        check = get_metric(spec.kind).check
        if check is not None:
            check(ctx, spec)
