"""Crash-safe file writing: every writer in stylegen goes through here.

A folder (checkpoint, snapshot, converted network) is built under a temporary name beside its
target, flushed to disk, then renamed into place, so a crash, a full disk or Ctrl-C never leaves a
half-written folder under a final name. Single files (JSON, PNG, zip) use the same
temp-then-rename swap. No paper is implemented here; this is plumbing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_dir", "atomic_file", "atomic_write_text", "fsync_files", "replace_dir"]


def fsync_files(folder: Path) -> None:
    """Flush every file in `folder` and its sub-folders to disk before it is renamed into place."""
    for f in Path(folder).iterdir():
        if f.is_dir():
            fsync_files(f)
            continue
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())


def replace_dir(src: Path, dst: Path) -> None:
    """Move folder `src` to `dst`; an existing `dst` is swapped out first, then removed."""
    if not dst.exists():
        os.replace(src, dst)
        return
    old = dst.with_name(f".{dst.name}.old-{os.getpid()}")
    os.replace(dst, old)
    os.replace(src, dst)
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_dir(final: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary folder beside `final`; when the block ends without error the folder
    is flushed and swapped into place, otherwise it is removed and `final` stays as it was."""
    final = Path(final)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        yield tmp
        fsync_files(tmp)
        replace_dir(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def atomic_file(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `final` to write to; it replaces `final` when the block ends
    without error and is removed otherwise."""
    final = Path(final)
    fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` to `path` through a temporary file and a rename."""
    with atomic_file(path) as tmp:
        tmp.write_text(text)
