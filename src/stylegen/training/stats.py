"""Training statistics: collect per-tick means, write them to disk and TensorBoard, plot them.

The training loop calls ``collector.report(name, value)`` wherever a quantity is computed (losses,
penalties, logits); once per tick ``collector.tick(extra)`` returns the mean of every name since the
previous tick, and :class:`StatsWriter` appends that dict as one JSON line to ``<run>/stats.jsonl``
and as scalars to TensorBoard. :func:`plot_losses` draws ``stats.jsonl`` as a PNG. This mirrors the
``training_stats`` / ``stats.jsonl`` scheme of the official StyleGAN2-ADA code (Karras et al. 2020),
so tools written for those files read ours.

Key names (slash-separated, grouped by their first part as TensorBoard does):

========================  ===============================================================
``Loss/G/loss``           non-saturating G loss, per sample
``Loss/G/reg``            path length loss term (``pl_penalty * pl_weight``)
``Loss/D/loss``           logistic D loss (real + fake half), per sample
``Loss/D/reg``            R1 loss term (``r1_penalty * gamma / 2``)
``Loss/r1_penalty``       R1 penalty (squared gradient norm)
``Loss/pl_penalty``       path length penalty
``Loss/scores/real``      D logits on real images; ``Loss/scores/fake`` on generated ones
``Loss/signs/real``       sign of those logits (the ADA overfitting heuristic); ``.../fake``
``Progress/tick``         tick index
``Progress/kimg``         thousands of real images shown so far (the x axis of every plot)
``Progress/augment``      augmentation probability p (ADA)
``Timing/sec_per_tick``   wall time of the tick; ``Timing/sec_per_kimg``, ``Timing/total_sec``
``Metrics/<name>``        evaluation metrics, e.g. ``Metrics/fid50k_full``
``timestamp``             Unix time the line was written (added by :class:`StatsWriter`)
========================  ===============================================================

Non-finite numbers are written to JSON as ``null`` so each line stays valid JSON for any reader.
"""

from __future__ import annotations

import json
import logging
import math
import numbers
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from stylegen.errors import UserError
from stylegen.images import save_figure_atomic

__all__ = [
    "KEY_AUGMENT",
    "KEY_D_LOSS",
    "KEY_D_REG",
    "KEY_G_LOSS",
    "KEY_G_REG",
    "KEY_KIMG",
    "KEY_PL_PENALTY",
    "KEY_R1_PENALTY",
    "KEY_SEC_PER_KIMG",
    "KEY_SEC_PER_TICK",
    "KEY_TICK",
    "KEY_TIMESTAMP",
    "KEY_TOTAL_SEC",
    "METRICS_PREFIX",
    "STATS_FILENAME",
    "StatsCollector",
    "StatsWriter",
    "plot_losses",
    "plot_panels",
    "read_stats",
]

log = logging.getLogger(__name__)

KEY_G_LOSS = "Loss/G/loss"
KEY_G_REG = "Loss/G/reg"
KEY_D_LOSS = "Loss/D/loss"
KEY_D_REG = "Loss/D/reg"
KEY_R1_PENALTY = "Loss/r1_penalty"
KEY_PL_PENALTY = "Loss/pl_penalty"
KEY_TICK = "Progress/tick"
KEY_KIMG = "Progress/kimg"
KEY_AUGMENT = "Progress/augment"
KEY_SEC_PER_TICK = "Timing/sec_per_tick"
KEY_SEC_PER_KIMG = "Timing/sec_per_kimg"
KEY_TOTAL_SEC = "Timing/total_sec"
KEY_TIMESTAMP = "timestamp"
METRICS_PREFIX = "Metrics/"
STATS_FILENAME = "stats.jsonl"

# Warn about a missing TensorBoard once per process, not once per run or per tick.
_tensorboard_warned = False


# ---------------------------------------------------------------------------------------------
# Collecting


class _Moments:
    """Running count, sum and sum of squares of one statistic.

    Sums of tensors stay tensors on their device until the tick, so reporting a CUDA loss does not
    force a device synchronisation every step.
    """

    __slots__ = ("count", "sum", "sumsq")

    def __init__(self) -> None:
        self.count = 0
        self.sum: torch.Tensor | float = 0.0
        self.sumsq: torch.Tensor | float = 0.0

    def add(self, count: int, total: torch.Tensor | float, total_sq: torch.Tensor | float) -> None:
        self.count += count
        self.sum = _add(self.sum, total)
        self.sumsq = _add(self.sumsq, total_sq)

    def mean_std(self) -> tuple[float, float]:
        total, total_sq = float(self.sum), float(self.sumsq)
        mean = total / self.count
        # Population std from the raw moments; clamp the rounding error that can make it negative.
        var = total_sq / self.count - mean * mean
        return mean, math.sqrt(max(var, 0.0)) if math.isfinite(var) else math.nan


def _add(acc: torch.Tensor | float, value: torch.Tensor | float) -> torch.Tensor | float:
    """Add two partial sums, keeping a tensor sum on its first device."""
    if isinstance(acc, torch.Tensor) and isinstance(value, torch.Tensor):
        return acc + value.to(acc.device)
    return acc + value


def _moments(value: Any) -> tuple[int, torch.Tensor | float, torch.Tensor | float]:
    """Count, sum and sum of squares of all elements of ``value`` (a number or a tensor/array)."""
    if isinstance(value, torch.Tensor):
        elems = value.detach().flatten()
        # float64 keeps long sums accurate; MPS has no float64, so it accumulates in float32.
        dtype = torch.float32 if elems.device.type == "mps" else torch.float64
        elems = elems.to(dtype)
        return elems.numel(), elems.sum(), elems.square().sum()
    if isinstance(value, numbers.Real):
        x = float(value)
        return 1, x, x * x
    if hasattr(value, "__array__"):  # numpy arrays and scalars
        return _moments(torch.as_tensor(value))
    raise TypeError(f"report: value must be a number or tensor, got {type(value).__name__}")


class StatsCollector:
    """Accumulates reported values and returns their per-name means once per tick.

    Every element of a reported tensor counts as one sample, so ``report("Loss/G/loss", loss)``
    with a per-sample loss of shape ``[N]`` weighs each image equally across steps.
    """

    def __init__(self) -> None:
        self._moments: dict[str, _Moments] = {}

    def report(self, name: str, value: Any) -> Any:
        """Add ``value`` (float, int, tensor or array of any shape) to statistic ``name``.

        Returns ``value`` unchanged so that calls can be inlined. Empty tensors are ignored.
        """
        count, total, total_sq = _moments(value)
        if count > 0:
            self._moments.setdefault(name, _Moments()).add(count, total, total_sq)
        return value

    def names(self) -> list[str]:
        """Names reported since the last tick, in first-report order."""
        return list(self._moments)

    def reduce(
        self,
        all_names: list[str],
        sum_fn: Callable[[torch.Tensor], torch.Tensor],
        device: torch.device | str = "cpu",
    ) -> None:
        """Replace every statistic by its total over processes (multi-process training).

        ``all_names`` must be the same list on every process (the union of their names);
        ``sum_fn`` sums a float64 tensor over processes, e.g. an all-reduce. Afterwards
        :meth:`tick` gives the means over all processes' samples.
        """
        local = torch.zeros(len(all_names), 3, dtype=torch.float64, device=device)
        for i, name in enumerate(all_names):
            m = self._moments.get(name)
            if m is not None:
                local[i, 0] = m.count
                local[i, 1] = torch.as_tensor(m.sum, dtype=torch.float64).to(device)
                local[i, 2] = torch.as_tensor(m.sumsq, dtype=torch.float64).to(device)
        total = sum_fn(local).cpu()
        self._moments = {}
        for i, name in enumerate(all_names):
            count, s, sq = total[i].tolist()
            if count > 0:
                self._moments.setdefault(name, _Moments()).add(int(round(count)), s, sq)

    def tick(
        self, extra: Mapping[str, Any] | None = None, with_std: bool = False
    ) -> dict[str, Any]:
        """Means of every statistic since the previous tick, then ``extra``; resets the sums.

        With ``with_std`` each name also gets ``"<name>/std"`` (population standard deviation).
        Values in ``extra`` (e.g. ``Progress/kimg``, timings) are copied in, tensors and numpy
        scalars turned into Python numbers; they win over a reported name of the same key.
        """
        out: dict[str, Any] = {}
        for name, moments in self._moments.items():
            mean, std = moments.mean_std()
            out[name] = mean
            if with_std:
                out[f"{name}/std"] = std
        self._moments = {}
        for key, value in (extra or {}).items():
            out[key] = _to_python(value)
        return out


def _to_python(value: Any) -> Any:
    """Turn a tensor or numpy scalar into a Python number; leave other values alone."""
    if isinstance(value, torch.Tensor) or hasattr(value, "item"):
        return value.item()
    return value


# ---------------------------------------------------------------------------------------------
# Writing


def _json_value(key: str, value: Any) -> Any:
    """A JSON-safe version of one stats value: numbers (non-finite → None), str, bool or None."""
    value = _to_python(value)
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, numbers.Real):
        return _json_value(key, float(value))
    raise TypeError(f"stats value {key!r} has type {type(value).__name__}; report numbers only")


class StatsWriter:
    """Appends tick dicts to ``<run_dir>/stats.jsonl`` and writes them to TensorBoard.

    Each line is flushed and fsynced, so a crash loses at most the line being written. TensorBoard
    event files go to ``run_dir`` as well; if TensorBoard cannot be imported a warning is logged
    once and only the JSON lines are written. Use as a context manager or call :meth:`close`.
    """

    def __init__(self, run_dir: str | os.PathLike[str], tensorboard: bool = True) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.run_dir / STATS_FILENAME
        self._use_tensorboard = tensorboard
        self._tb_writer: Any = None
        self._lines = 0

    def write(self, stats: Mapping[str, Any], step: int | None = None) -> dict[str, Any]:
        """Append ``stats`` as one JSON line (adding ``timestamp`` if absent) and log scalars.

        ``step`` is the TensorBoard step; by default the number of images shown,
        ``round(stats["Progress/kimg"] * 1000)``, or the line count when there is no ``kimg``.
        Returns the dict as written.
        """
        record = {key: _json_value(key, value) for key, value in stats.items()}
        record.setdefault(KEY_TIMESTAMP, time.time())
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, allow_nan=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        if step is None:
            kimg = record.get(KEY_KIMG)
            step = round(kimg * 1000) if isinstance(kimg, (int, float)) else self._lines
        self._lines += 1
        self._write_tensorboard(record, step)
        return record

    def write_scalars(self, values: Mapping[str, Any], step: int) -> None:
        """Log scalars to TensorBoard only (metrics keep their own metrics.jsonl)."""
        self._write_tensorboard({k: _json_value(k, v) for k, v in values.items()}, step)

    def _write_tensorboard(self, record: Mapping[str, Any], step: int) -> None:
        writer = self._tensorboard()
        if writer is None:
            return
        walltime = record.get(KEY_TIMESTAMP)
        for key, value in record.items():
            if key == KEY_TIMESTAMP or isinstance(value, bool) or value is None:
                continue
            if isinstance(value, (int, float)):
                writer.add_scalar(key, value, global_step=step, walltime=walltime)
        writer.flush()

    def _tensorboard(self) -> Any:
        """The SummaryWriter, created on first use; None when disabled or not installed."""
        global _tensorboard_warned
        if self._tb_writer is None and self._use_tensorboard:
            try:
                # Imported here: TensorBoard is slow to import and optional at run time.
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as exc:
                if not _tensorboard_warned:
                    log.warning("TensorBoard is not available (%s); writing stats.jsonl only", exc)
                    _tensorboard_warned = True
                self._use_tensorboard = False
                return None
            self._tb_writer = SummaryWriter(log_dir=str(self.run_dir))
        return self._tb_writer

    def close(self) -> None:
        """Flush and close the TensorBoard writer (the JSON file is closed after every line)."""
        if self._tb_writer is not None:
            self._tb_writer.close()
            self._tb_writer = None

    def __enter__(self) -> StatsWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------
# Reading and plotting


def read_stats(stats_jsonl_path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The records of a ``stats.jsonl`` file; unreadable lines (e.g. cut by a crash) are skipped."""
    path = Path(stats_jsonl_path)
    if not path.is_file():
        raise UserError(
            f"stats file {str(path)!r} does not exist; pass the stats.jsonl of a training run"
        )
    records: list[dict[str, Any]] = []
    bad = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                bad += 1
                continue
            if isinstance(record, dict):
                records.append(record)
            else:
                bad += 1
    if bad:
        log.warning("%s: skipped %d unreadable line(s)", path, bad)
    return records


def _series(records: list[dict[str, Any]], key: str) -> list[float]:
    """Values of ``key`` per record as floats, NaN where missing or not a number."""
    out = []
    for record in records:
        value = record.get(key)
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        out.append(float(value) if ok else math.nan)
    return out


Panel = tuple[str, list[tuple[str, str]]]


def _with_data(records: list[dict[str, Any]], panels: Sequence[Panel]) -> list[Panel]:
    """The panels that have at least one finite value to draw."""

    def has_data(key: str) -> bool:
        return any(math.isfinite(v) for v in _series(records, key))

    return [(title, lines) for title, lines in panels if any(has_data(key) for key, _ in lines)]


def _panels(records: list[dict[str, Any]], extra: Sequence[Panel] = ()) -> list[Panel]:
    """The panels of losses.png, as (title, [(key, legend label)]), keeping only those with data."""
    metric_keys = sorted({k for r in records for k in r if k.startswith(METRICS_PREFIX)})
    panels = [
        ("Losses", [(KEY_G_LOSS, "G loss"), (KEY_D_LOSS, "D loss")]),
        ("Regularisation", [(KEY_R1_PENALTY, "R1 penalty"), (KEY_PL_PENALTY, "path length")]),
        ("Augmentation", [(KEY_AUGMENT, "augment p")]),
        *extra,
    ]
    panels += [(key[len(METRICS_PREFIX) :], [(key, key)]) for key in metric_keys]
    return _with_data(records, panels)


def plot_losses(
    stats_jsonl_path: str | os.PathLike[str],
    out_png: str | os.PathLike[str],
    extra_panels: Sequence[Panel] = (),
) -> Path:
    """Draw the curves of a ``stats.jsonl`` against kimg into ``out_png``; returns its path.

    Panels: G and D loss; R1 and path length penalty; augmentation p; ``extra_panels`` given as
    ``(title, [(key, label), ...])``; one per ``Metrics/*`` key.
    Panels without data are left out. The PNG is written to a temporary file beside ``out_png``
    and moved into place, so a reader never sees a half-written image.
    """
    records = read_stats(stats_jsonl_path)
    return _draw(records, _panels(records, extra_panels), stats_jsonl_path, Path(out_png))


def plot_panels(
    stats_jsonl_path: str | os.PathLike[str],
    out_png: str | os.PathLike[str],
    panels: Sequence[Panel],
) -> Path:
    """Draw just ``panels`` of a ``stats.jsonl`` (e.g. a family's accuracy.png) in the style of
    :func:`plot_losses`; panels without data are left out."""
    records = read_stats(stats_jsonl_path)
    return _draw(records, _with_data(records, panels), stats_jsonl_path, Path(out_png))


def _draw(
    records: list[dict[str, Any]],
    panels: list[Panel],
    stats_jsonl_path: str | os.PathLike[str],
    out_png: Path,
) -> Path:
    # Imported here: matplotlib is slow to import and only needed when plotting. The Agg canvas is
    # attached to the figure directly, so no display and no global pyplot state is involved.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    kimg = _series(records, KEY_KIMG)
    x = [k if math.isfinite(k) else float(i) for i, k in enumerate(kimg)]

    fig = Figure(figsize=(8, 2.4 * max(len(panels), 1) + 0.6), layout="constrained")
    FigureCanvasAgg(fig)
    fig.suptitle(Path(stats_jsonl_path).resolve().parent.name)
    if not panels:
        ax = fig.subplots()
        ax.text(0.5, 0.5, "no statistics yet", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    else:
        axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
        marker = "." if len(records) <= 100 else None  # single points would be invisible otherwise
        for ax, (title, lines) in zip(axes, panels):
            for key, label in lines:
                ax.plot(x, _series(records, key), label=label, marker=marker, linewidth=1.2)
            ax.set_title(title, fontsize=10)
            ax.grid(True, alpha=0.3)
            ax.legend(loc="best", fontsize=8)
        axes[-1].set_xlabel("kimg")

    return save_figure_atomic(fig, out_png)
