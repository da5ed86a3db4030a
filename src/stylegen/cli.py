"""Command-line interface: `stylegen <command>`. Each command parses its flags, builds a config
and calls the library; user errors become one line on stderr and exit code 2 (no traceback).

Commands live in small functions here; the work lives in the library modules they call.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from stylegen.errors import UserError

log = logging.getLogger("stylegen")

EXIT_USER_ERROR = 2


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad flags in one line with exit code 2 (its usual code)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USER_ERROR, f"error: {message} (see `{self.prog} --help`)\n")


# ---------------------------------------------------------------------------------------------
# generate


def _add_generate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="generate images from a trained network")
    p.add_argument("--network", required=True, help="checkpoint folder or run folder")
    p.add_argument("--seeds", default="0-7", help="e.g. 0-31 or 1,5,9 (default 0-7)")
    p.add_argument("--trunc", type=float, default=1.0, help="truncation psi (default 1)")
    p.add_argument("--trunc-cutoff", type=int, default=None, help="truncate only the first N ws")
    p.add_argument("--class", dest="class_idx", type=int, default=None, help="class label")
    p.add_argument("--noise-mode", default="const", choices=["const", "random", "none"])
    p.add_argument("--outdir", required=True, help="where to write seedNNNN.png")
    p.add_argument("--grid", action="store_true", help="also write grid.png")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--device", default=None)
    p.set_defaults(func=cmd_generate)


def cmd_generate(args: argparse.Namespace) -> int:
    from stylegen.checkpoint import load
    from stylegen.generate import class_labels, iter_images, parse_seeds
    from stylegen.images import make_grid, save_image

    seeds = parse_seeds(args.seeds)
    if args.batch < 1:
        raise UserError(f"--batch {args.batch} must be >= 1")
    device = args.device or default_device()
    G = load(args.network, device=device)
    class_labels(G, args.class_idx, 1)  # check --class before anything is written
    outdir = Path(args.outdir)
    _check_writable(outdir)
    images = []
    batches = iter_images(
        G,
        seeds,
        truncation_psi=args.trunc,
        truncation_cutoff=args.trunc_cutoff,
        class_idx=args.class_idx,
        noise_mode=args.noise_mode,
        batch_size=args.batch,
        device=device,
    )
    from tqdm import tqdm

    with tqdm(total=len(seeds), desc="generate", unit="img", disable=None) as bar:
        for chunk, imgs in batches:
            for seed, img in zip(chunk, imgs):
                save_image(img, outdir / f"seed{seed:04d}.png")
            if args.grid:
                images.append(imgs)
            bar.update(len(chunk))
    if args.grid:
        import torch

        save_image(make_grid(torch.cat(images)), outdir / "grid.png")
    print(f"wrote {len(seeds)} images to {outdir}")
    return 0


def _check_writable(outdir: Path) -> None:
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
# entry point

COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_add_generate]


def build_parser() -> argparse.ArgumentParser:
    from stylegen import __version__

    parser = _Parser(prog="stylegen", description="Style-based image synthesis in pure PyTorch.")
    parser.add_argument("--version", action="version", version=f"stylegen {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
