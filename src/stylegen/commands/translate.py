"""`stylegen translate`: translate image files with a trained CycleGAN generator."""

from __future__ import annotations

import argparse
from pathlib import Path

from stylegen.commands.common import Subparsers, check_writable, pick_device
from stylegen.errors import UserError


def register(subparsers: Subparsers) -> None:
    p = subparsers.add_parser("translate", help="translate images with a trained CycleGAN")
    p.add_argument("--network", required=True, help="CycleGAN run, snapshot or generator folder")
    p.add_argument("--direction", required=True, choices=["a2b", "b2a"])
    p.add_argument("--input", required=True, help="an image file or a folder of images")
    p.add_argument("--outdir", required=True, help="where to write the translated PNGs")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--device", default=None)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from stylegen.translate import load_translator, translate_files

    device = pick_device(args.device)
    if args.batch < 1:
        raise UserError(f"--batch {args.batch} must be >= 1")
    G = load_translator(args.network, args.direction, device=device)
    outdir = Path(args.outdir)
    check_writable(outdir)
    written = translate_files(G, args.input, outdir, batch_size=args.batch)
    print(f"wrote {len(written)} images to {outdir}")
    return 0
