"""Crash-safe file writing: every writer in stylegen goes through here.

A folder (checkpoint, snapshot, converted network) is built under a temporary name beside its
target, flushed to disk, then renamed into place, so a crash, a full disk or Ctrl-C never leaves a
half-written folder under a final name. Single files (JSON, PNG, zip) use the same
temp-then-rename swap. No paper is implemented here; this is plumbing.

tempfile makes private temporaries (folders 0700, files 0600); before the rename they get the mode
that `open()` / `mkdir` would have given under the current umask (files 0o666 & ~umask, folders
0o777 & ~umask, recursively), so finished snapshots, PNGs and checkpoints are as readable by other
users as any file the user writes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "atomic_dir",
    "atomic_file",
    "atomic_write_text",
    "current_umask",
    "file_in_the_way",
    "fsync_files",
    "publish_permissions",
    "replace_dir",
]


def file_in_the_way(path: str | os.PathLike) -> Path | None:
    """The nearest existing ancestor of `path` when it is not a folder (so `path` can never be
    written), else None; lets a command refuse such an output path before doing any work."""
    for parent in Path(path).parents:  # ends at "." or "/", which exist
        if parent.exists():
            return None if parent.is_dir() else parent
    return None


def current_umask() -> int:
    """The process umask, read without changing it where Linux allows (/proc/self/status), so no
    other thread ever creates a file under a temporarily cleared umask."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def publish_permissions(path: str | os.PathLike) -> None:
    """Give `path` (and, for a folder, everything inside it) the mode a plain `open()` or `mkdir`
    would: 0o666 & ~umask for files, 0o777 & ~umask for folders. Symlinks are left alone."""
    mask = current_umask()
    path = Path(path)
    if path.is_symlink():
        return
    if not path.is_dir():
        os.chmod(path, 0o666 & ~mask)
        return
    for root, dirs, files in os.walk(path):
        for name in files:
            f = os.path.join(root, name)
            if not os.path.islink(f):
                os.chmod(f, 0o666 & ~mask)
        for name in dirs:
            d = os.path.join(root, name)
            if not os.path.islink(d):
                os.chmod(d, 0o777 & ~mask)
    os.chmod(path, 0o777 & ~mask)


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
        publish_permissions(tmp)
        replace_dir(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def atomic_file(final: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside `final` to write to; it replaces `final` when the block ends
    without error and is removed otherwise. `suffix` ends the temporary name, for writers that
    pick the format by extension (ffmpeg)."""
    final = Path(final)
    fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=suffix, dir=final.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        publish_permissions(tmp)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` to `path` through a temporary file and a rename."""
    with atomic_file(path) as tmp:
        tmp.write_text(text)
