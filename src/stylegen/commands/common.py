"""What the command modules share: the parser class that reports bad flags in one line, the
default device and the device check (`pick_device`), the output-folder check, the training
progress bar, and the two helpers that tie flags to the config dataclasses (`config_default` for
a flag's default, `config_from_args` to build the config from parsed flags), so that no default
or field list is typed twice.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from collections.abc import Callable, Container, Sequence
from pathlib import Path
from typing import Any, TypeVar

from stylegen.errors import EXIT_USER_ERROR, UserError

Subparsers = argparse._SubParsersAction  # what `register(subparsers)` receives
C = TypeVar("C")
T = TypeVar("T")

BAR_FORMAT = "{l_bar}{bar}| {n:.1f}/{total:.1f} kimg [{elapsed}<{remaining}{postfix}]"


class Parser(argparse.ArgumentParser):
    """argparse that reports bad flags in one line with exit code 2 (its usual code)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USER_ERROR, f"error: {message} (see `{self.prog} --help`)\n")


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def pick_device(requested: str | None) -> str:
    """The device a command runs on: `requested` (--device) checked against this machine, or the
    default (cuda when available, else cpu). A device the machine lacks is one line, exit 2."""
    from stylegen.devices import check_device  # on use: it imports torch

    return str(check_device(requested or default_device()))


def check_writable(outdir: Path) -> None:
    """Fail early, before any file is written, when the output folder cannot be used."""
    if outdir.exists() and not outdir.is_dir():
        raise UserError(f"--outdir {outdir} is a file; pass a folder")
    try:
        outdir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=outdir):
            pass
    except OSError as exc:
        raise UserError(
            f"cannot write to --outdir {outdir} ({exc.strerror}); pick another folder"
        ) from None


# ---------------------------------------------------------------------------------------------
# Flags <-> config dataclasses


def given_flag(
    parser: argparse.ArgumentParser, args: argparse.Namespace, dests: Container[str]
) -> str | None:
    """The first flag of `parser` set on the command line (to other than its default) whose
    destination is in `dests`, as the user spells it (e.g. --tick for tick_kimg); else None."""
    for action in parser._actions:
        dest = action.dest
        if dest in dests and getattr(args, dest, None) not in (None, parser.get_default(dest)):
            return action.option_strings[0] if action.option_strings else dest
    return None


def refuse_flags_resume_ignores(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    ignored: Container[str],
    taken: Sequence[str],
) -> None:
    """With --resume, a flag whose destination is in `ignored` (the resumed run would not use
    it) is refused in one line rather than dropped; `taken` names the destinations it uses."""
    flag = given_flag(parser, args, ignored)
    if flag:
        names = ["--" + name.replace("_", "-") for name in taken]
        raise UserError(
            f"{flag} cannot change on --resume: the run keeps the options it started with "
            f"(--resume takes {', '.join(names[:-1])} and {names[-1]}); leave {flag} out, or "
            "start a new run"
        )


def config_default(config: type, name: str) -> Any:
    """The default of field `name` of the dataclass `config`, for a flag's default or help."""
    for f in dataclasses.fields(config):
        if f.name != name:
            continue
        if f.default is not dataclasses.MISSING:
            return f.default
        if f.default_factory is not dataclasses.MISSING:
            return f.default_factory()
        raise ValueError(f"{config.__name__}.{name} has no default")
    raise ValueError(f"{config.__name__} has no field {name!r}")


def config_from_args(config: type[C], args: argparse.Namespace, **overrides: Any) -> C:
    """`config` built from every parsed flag whose dest is one of its fields, then `overrides`.

    A flag left at None gives its field the dataclass default (for fields whose default is None
    that is the same None; e.g. `train --kimg`, None so that `--resume` keeps the run's length,
    gives TrainConfig's kimg).
    """
    values = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(config)
        if getattr(args, f.name, None) is not None
    }
    return config(**{**values, **overrides})


# ---------------------------------------------------------------------------------------------
# Training progress


def with_progress(run: Callable[[Callable], T]) -> T:
    """Run training with a tqdm bar in kimg; tick stats go into the bar's postfix.

    `run(on_progress)` starts the training, which calls `on_progress(progress)` as it goes.
    """
    bar = None

    def on_progress(p) -> None:
        nonlocal bar
        if bar is None:
            bar = _progress_bar(p)
        bar.n = p.cur_nimg / 1000
        if p.stats:
            bar.set_postfix_str(_tick_summary(p.stats), refresh=False)
        bar.refresh()

    try:
        return run(on_progress)
    finally:
        if bar is not None:
            bar.close()


def _progress_bar(p):
    from tqdm import tqdm

    return tqdm(
        total=p.total_nimg / 1000,
        initial=p.cur_nimg / 1000,
        unit="kimg",
        desc="train",
        disable=None,
        bar_format=BAR_FORMAT,
    )


# (label, stats key, decimals) shown in the progress bar when the family reports the key
SUMMARY_KEYS = (
    ("sec/kimg", "Timing/sec_per_kimg", 1),
    ("G", "Loss/G/loss", 2),
    ("D", "Loss/D/loss", 2),
    ("aug", "Progress/augment", 3),
    ("ELBO", "Loss/VAE/elbo", 1),
)


def _tick_summary(s: dict[str, float]) -> str:
    return " ".join(
        f"{label} {s[key]:.{decimals}f}"
        for label, key, decimals in SUMMARY_KEYS
        if isinstance(s.get(key), (int, float))
    )
