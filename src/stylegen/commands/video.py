"""`stylegen video`: a GIF of one StyleGAN3 seed while its input pans and rotates."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from stylegen.commands.common import Subparsers, pick_device
from stylegen.errors import UserError


def register(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(
        "video", help="StyleGAN3: GIF of one seed while the input pans and rotates"
    )
    p.add_argument("--network", required=True, help="checkpoint folder or run folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--frames", type=int, default=48)
    p.add_argument("--out", required=True, help="output .gif")
    p.add_argument("--fps", type=float, default=15.0)
    p.add_argument("--translate-max", type=float, default=0.125, help="pan radius, image widths")
    p.add_argument("--rotate-max", type=float, default=15.0, help="rotation amplitude, degrees")
    p.add_argument("--trunc", type=float, default=1.0, help="truncation psi (default 1)")
    p.add_argument("--class", dest="class_idx", type=int, default=None, help="class label")
    p.add_argument("--device", default=None)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from stylegen.checkpoint import load
    from stylegen.config import check_number
    from stylegen.generate import transform_frames
    from stylegen.images import save_gif

    device = pick_device(args.device)
    out = Path(args.out)
    _check_out(out, args.fps)
    check_number("--frames", args.frames, integer=True, low=1)
    check_number("--seed", args.seed, integer=True, low=0, high=2**32 - 1)
    for flag, value in (
        ("--trunc", args.trunc),
        ("--translate-max", args.translate_max),
        ("--rotate-max", args.rotate_max),
    ):
        check_number(flag, value)
    G = load(args.network, device=device)
    frames = transform_frames(
        G,
        args.seed,
        args.frames,
        translate_max=args.translate_max,
        rotate_max=args.rotate_max,
        truncation_psi=args.trunc,
        class_idx=args.class_idx,
        device=device,
    )
    save_gif(frames, out, fps=args.fps)
    print(f"wrote {len(frames)} frames to {out}")
    return 0


def _check_out(out: Path, fps: float) -> None:
    if out.suffix.lower() != ".gif":
        raise UserError(f"--out {out} must end in .gif")
    if out.is_dir():
        raise UserError(f"--out {out} is a folder; pass a file name ending in .gif")
    if not (math.isfinite(fps) and fps > 0):
        raise UserError(f"--fps {fps} must be a finite number > 0")
