"""Command-line interface: `stylegen <command>`, one module per command group.

Each command module has `register(subparsers)`, which adds its parser(s) and sets `func` to its
`run(args) -> int`; `run` builds a config from the flags and calls the library. `main` turns a
UserError into one line on stderr and exit code 2, a diverged training run into one line and
exit code 3, and Ctrl-C into exit code 130 (no traceback for any of them).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from stylegen.commands import (
    convert,
    cyclegan,
    dataset,
    demo,
    directions,
    edit,
    ensemble,
    generate,
    interpolate,
    metrics,
    mix,
    project,
    reconstruct,
    serve,
    train,
    translate,
    tune,
    upscale,
    video,
)
from stylegen.commands.common import Parser
from stylegen.errors import (
    EXIT_DIVERGED,
    EXIT_INTERRUPTED,
    EXIT_SYSTEM_ERROR,
    EXIT_USER_ERROR,
    TrainingDivergedError,
    UserError,
)

# In the order `stylegen --help` lists them.
COMMANDS = (
    train,
    tune,
    generate,
    reconstruct,
    upscale,
    dataset,
    demo,
    convert,
    cyclegan,
    translate,
    metrics,
    video,
    mix,
    interpolate,
    project,
    directions,
    edit,
    serve,
    ensemble,
)


def build_parser() -> argparse.ArgumentParser:
    from stylegen.version import __version__

    parser = Parser(prog="stylegen", description="Style-based image synthesis in pure PyTorch.")
    parser.add_argument("--version", action="version", version=f"stylegen {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    subparsers.required = True
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # relaunched by --gpus / --cpu-procs
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        return _error(exc, EXIT_USER_ERROR)
    except TrainingDivergedError as exc:
        return _error(exc, EXIT_DIVERGED)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as exc:  # the machine, not the input: a full disk, a read-only folder, ...
        where = f" ({exc.filename})" if exc.filename else ""
        reason = f"{exc.strerror or exc}{where}"
        return _error(
            f"{reason}; free disk space or fix permissions, then run it again", EXIT_SYSTEM_ERROR
        )


def _error(exc: Exception | str, code: int) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return code
