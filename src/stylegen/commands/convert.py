"""`stylegen convert`: official StyleGAN2-ADA / StyleGAN3 .pkl snapshots into checkpoint
folders (read without running their code)."""

from __future__ import annotations

import argparse

from stylegen.commands.common import Subparsers


def register(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(
        "convert", help="convert an official StyleGAN2-ADA/StyleGAN3 .pkl into checkpoints"
    )
    p.add_argument("snapshot", help="official network-snapshot-*.pkl (read without running it)")
    p.add_argument("outdir", help="checkpoint folder to write (replaced if it is one)")
    p.add_argument(
        "--which",
        default="G_ema",
        choices=["G_ema", "G", "D", "all"],
        help="network to convert; all writes OUTDIR/G_ema, OUTDIR/G, OUTDIR/D (default G_ema)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from stylegen.interop.nvlabs import convert

    for folder in convert(args.snapshot, args.outdir, which=args.which):
        print(f"wrote {folder}")
    return 0
