"""`stylegen upscale`: enlarge image files with a trained upscaler (`stylegen train --arch
srcnn|espcn`); any size, large images tiled."""

from __future__ import annotations

import argparse
from pathlib import Path

from stylegen.commands.common import Subparsers, check_writable, pick_device
from stylegen.errors import UserError


def register(subparsers: Subparsers) -> None:
    p = subparsers.add_parser("upscale", help="enlarge images with a trained SRCNN / ESPCN")
    p.add_argument("--network", required=True, help="upscaler run, snapshot or checkpoint folder")
    p.add_argument("--input", required=True, help="an image file or a folder of images")
    p.add_argument("--outdir", required=True, help="where to write the enlarged PNGs")
    p.add_argument(
        "--tile", type=int, default=None, help="low-resolution tile side for large images"
    )
    p.add_argument("--device", default=None)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from stylegen.upscale import DEFAULT_TILE, load_upscaler, upscale_files

    tile = DEFAULT_TILE if args.tile is None else args.tile
    if tile < 16:
        raise UserError(f"--tile {tile} is too small; use 16 or more (default {DEFAULT_TILE})")
    device = pick_device(args.device)
    net = load_upscaler(args.network, device=device)
    outdir = Path(args.outdir)
    check_writable(outdir)
    written = upscale_files(net, args.input, outdir, tile)
    print(f"wrote {len(written)} images {net.scale}x larger to {outdir}")
    return 0
