"""`stylegen reconstruct`: encode and decode image files with a trained VAE (`--arch vae`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from stylegen.commands.common import Subparsers, check_writable, default_device
from stylegen.errors import UserError


def register(subparsers: Subparsers) -> None:
    p = subparsers.add_parser("reconstruct", help="reconstruct images with a trained VAE")
    p.add_argument("--network", required=True, help="VAE run, snapshot or checkpoint folder")
    p.add_argument("--input", required=True, help="an image file or a folder of images")
    p.add_argument("--outdir", required=True, help="where to write the reconstructions")
    p.add_argument(
        "--class", dest="class_idx", type=int, default=None, help="class of the inputs (cVAE)"
    )
    p.add_argument(
        "--sample",
        action="store_true",
        help="decode a posterior sample z ~ q(z|x) instead of its mean",
    )
    p.add_argument("--seed", type=int, default=0, help="noise seed for --sample")
    p.add_argument("--grid", action="store_true", help="also write grid.png (input | output)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--device", default=None)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from stylegen.reconstruct import load_vae, reconstruct_files

    if args.batch < 1:
        raise UserError(f"--batch {args.batch} must be >= 1")
    device = args.device or default_device()
    vae = load_vae(args.network, device=device)
    outdir = Path(args.outdir)
    check_writable(outdir)
    written = reconstruct_files(
        vae,
        args.input,
        outdir,
        class_idx=args.class_idx,
        sample=args.sample,
        seed=args.seed,
        grid=args.grid,
        batch_size=args.batch,
    )
    print(f"wrote {len(written)} reconstructions to {outdir}")
    return 0
