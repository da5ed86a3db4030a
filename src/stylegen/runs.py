"""Run folders: the one place that knows their layout.

A training run lives in `<outdir>/NNNNN-<data>-<preset>/`:

    training_options.json   the resolved config, plus "kind" (the training family)
    stats.jsonl             one line of tick statistics per tick (training/stats.py)
    metrics.jsonl           metric results per snapshot (metrics/report.py)
    losses.png, reals.png, fakesNNNNNN.png
    snapshot-NNNNNN[.mmm]/  one folder per snapshot, written atomically (fileio.atomic_dir):
                            the family's networks, training_state.pt, samples.png
    .lock                   held by the process that trains into the run

Numbering cannot race: a new folder is created with an exclusive mkdir and the next number is
tried when another process took it first. The lock names its holder (pid and host); a lock
left by a killed process on this host is detected and taken over. No paper lives here.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from stylegen.errors import UserError
from stylegen.fileio import atomic_write_text

__all__ = [
    "LOCK_FILE",
    "METRICS_FILE",
    "OPTIONS_FILE",
    "STATE_FILE",
    "STATS_FILE",
    "clean_leftovers",
    "create_run_dir",
    "latest_snapshot",
    "list_snapshots",
    "snapshots_holding",
    "acquire_lock",
    "lock_run",
    "release_lock",
    "read_options",
    "run_name",
    "snapshot_name",
    "truncate_logs",
    "write_options",
]

log = logging.getLogger(__name__)

OPTIONS_FILE = "training_options.json"
STATE_FILE = "training_state.pt"
STATS_FILE = "stats.jsonl"
METRICS_FILE = "metrics.jsonl"
LOCK_FILE = ".lock"
DEFAULT_KIND = "stylegan"  # runs written before "kind" existed are StyleGAN runs

_SNAPSHOT_RE = re.compile(r"^snapshot-(\d+)(\.\d+)?$")
_RUN_RE = re.compile(r"^(\d+)-")


# ---------------------------------------------------------------------------------------------
# Creating a run


def run_name(data: str, preset: str) -> str:
    """`<data>-<preset>` with the data's file stem, made safe for a folder name."""
    stem = Path(str(data).rstrip("/")).stem or "data"
    return f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', stem)}-{preset}"


def create_run_dir(outdir: str | os.PathLike, name: str) -> Path:
    """Create `outdir/NNNNN-name` numbered after the highest existing run.

    The folder is made with an exclusive mkdir: when two processes pick the same number at the
    same moment, one of them gets it and the other moves on to the next number.
    """
    outdir = Path(outdir)
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create --outdir {outdir} ({exc.strerror}); pick another") from None
    if not outdir.is_dir():
        raise UserError(f"--outdir {outdir} is a file; pass a folder")
    number = max(_run_numbers(outdir), default=-1) + 1
    for _ in range(1000):
        run_dir = outdir / f"{number:05d}-{name}"
        try:
            run_dir.mkdir()
            return run_dir
        except FileExistsError:
            number = max(number, *_run_numbers(outdir)) + 1
        except OSError as exc:
            reason = exc.strerror
            raise UserError(f"cannot create {run_dir} ({reason}); pick another --outdir") from None
    raise UserError(f"could not find a free run number under {outdir}; pick another --outdir")


def _run_numbers(outdir: Path) -> list[int]:
    return [int(m.group(1)) for p in outdir.iterdir() if (m := _RUN_RE.match(p.name))]


def write_options(run_dir: Path, kind: str, options: dict[str, Any]) -> None:
    """training_options.json: the family's kind and its resolved config, written atomically."""
    doc = {"kind": kind, **{k: v for k, v in options.items() if k != "kind"}}
    atomic_write_text(run_dir / OPTIONS_FILE, json.dumps(doc, indent=2) + "\n")


def read_options(run_dir: str | os.PathLike) -> tuple[str, dict[str, Any]]:
    """(kind, config fields) of a run folder; UserError when it is not a readable run."""
    path = Path(run_dir) / OPTIONS_FILE
    if not path.is_file():
        raise UserError(
            f"--resume {run_dir} is not a run folder (no {OPTIONS_FILE}); pass a folder written "
            "by `stylegen train`, e.g. runs/00000-fashion-mnist-cpu32"
        )
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(
            f"{path} is not readable JSON ({exc}); restore it from a backup or start a new run"
        ) from None
    if not isinstance(doc, dict):
        raise UserError(f"{path} does not hold a JSON object; restore it or start a new run")
    kind = doc.pop("kind", DEFAULT_KIND)
    return str(kind), doc


# ---------------------------------------------------------------------------------------------
# Snapshots


def snapshot_name(cur_nimg: int) -> str:
    """snapshot-<kimg:06d>, plus .<images:03d> when the image count is not whole kimg."""
    name = f"snapshot-{cur_nimg // 1000:06d}"
    return name + (f".{cur_nimg % 1000:03d}" if cur_nimg % 1000 else "")


def list_snapshots(run_dir: str | os.PathLike) -> list[Path]:
    """Complete snapshots (those holding a training state), oldest first."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    snaps = [
        p for p in run_dir.iterdir() if _SNAPSHOT_RE.match(p.name) and (p / STATE_FILE).is_file()
    ]
    return sorted(snaps, key=lambda p: p.name)


def latest_snapshot(run_dir: str | os.PathLike) -> Path | None:
    """The newest complete snapshot (with a training state), or None."""
    snaps = list_snapshots(run_dir)
    return snaps[-1] if snaps else None


def snapshots_holding(run_dir: str | os.PathLike, filename: str | os.PathLike) -> list[Path]:
    """Every `snapshot-*` folder of `run_dir` that holds `filename` (a path inside it), oldest
    first. Unlike `list_snapshots` it needs no training state: a run's networks are loadable from
    a snapshot copied without one."""
    return sorted(p for p in Path(run_dir).glob("snapshot-*") if (p / filename).exists())


def clean_leftovers(run_dir: Path) -> None:
    """Remove temporary folders and files left by a process that was killed mid-write."""
    for tmp in [*run_dir.glob(".snapshot-*.tmp"), *run_dir.glob(".snapshot-*.old-*")]:
        shutil.rmtree(tmp, ignore_errors=True)
    for tmp in run_dir.glob(".*.jsonl.*tmp"):
        tmp.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------
# Resume bookkeeping


def truncate_logs(run_dir: Path, kimg: float) -> None:
    """Drop stats and metric lines written after the snapshot a run resumes from (they are
    redone), and lines cut short by a crash; each file is rewritten atomically."""
    _truncate_jsonl(run_dir / STATS_FILE, "Progress/kimg", kimg)
    _truncate_jsonl(run_dir / METRICS_FILE, "kimg", kimg)


def _truncate_jsonl(path: Path, key: str, kimg: float) -> None:
    if not path.is_file():
        return
    keep = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and _line_kimg(line, key) <= kimg + 1e-9:
            keep.append(line)
    atomic_write_text(path, "".join(x + "\n" for x in keep))


def _line_kimg(line: str, key: str) -> float:
    try:
        value = json.loads(line).get(key, 0)
    except (json.JSONDecodeError, AttributeError):
        return math.inf  # a line cut short by a crash: drop it
    return float(value) if isinstance(value, (int, float)) else math.inf


# ---------------------------------------------------------------------------------------------
# The run lock


def acquire_lock(run_dir: str | os.PathLike) -> None:
    """Take `run_dir/.lock` for this process; a second trainer or resumer is refused with a line
    naming the holder. A lock whose process is gone (killed) is taken over."""
    path = Path(run_dir) / LOCK_FILE
    me = _me()
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _read_lock(path)
            if holder is None and _just_created(path):
                holder = {"pid": "?", "host": "?"}  # being written by a process starting now
            if holder is not None and _holder_alive(holder):
                raise UserError(
                    f"run {run_dir} is in use by process {holder.get('pid')} on "
                    f"{holder.get('host')}; wait for it to finish or stop it first"
                ) from None
            log.warning("taking over the stale lock of %s (%s)", run_dir, holder or "unreadable")
            _remove_stale_lock(path, holder)
            continue
        with os.fdopen(fd, "w") as fh:
            json.dump(me, fh)
        return
    raise UserError(f"could not lock run {run_dir}; remove {path} if no process trains it")


def release_lock(run_dir: str | os.PathLike) -> None:
    """Drop the lock if this process holds it."""
    path = Path(run_dir) / LOCK_FILE
    if _read_lock(path) == _me():
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def lock_run(run_dir: str | os.PathLike) -> Iterator[None]:
    """Hold the run's lock for the duration of the block (see acquire_lock)."""
    acquire_lock(run_dir)
    try:
        yield
    finally:
        release_lock(run_dir)


def _me() -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname()}


def _read_lock(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _just_created(path: Path, seconds: float = 5.0) -> bool:
    try:
        return time.time() - path.stat().st_mtime < seconds
    except OSError:
        return False


def _holder_alive(holder: dict[str, Any]) -> bool:
    """Whether the lock's process still runs. A lock from another host cannot be checked
    (shared filesystem) and counts as alive."""
    if holder.get("host") != socket.gethostname() or holder.get("pid") == "?":
        return True
    pid = holder.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def _remove_stale_lock(path: Path, holder: dict[str, Any] | None) -> None:
    """Remove a stale lock unless another process has replaced it in the meantime."""
    if _read_lock(path) == holder:
        path.unlink(missing_ok=True)
