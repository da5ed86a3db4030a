"""`stylegen metrics`: evaluate a trained network (FID, KID, precision/recall, IS, PPL) and
append the results to the run's metrics file."""

from __future__ import annotations

import argparse
import sys

from stylegen.commands.common import Subparsers, pick_device
from stylegen.errors import UserError


def register(subparsers: Subparsers) -> None:
    p = subparsers.add_parser("metrics", help="evaluate a trained network (FID, KID, PR, IS, PPL)")
    p.add_argument("--network", required=True, help="checkpoint folder or run folder")
    p.add_argument("--data", default=None, help="the dataset the network was trained on")
    p.add_argument("--metrics", default="fid50k_full", help="comma-separated, e.g. fid50k_full")
    p.add_argument(
        "--num", type=int, default=None, help="generated images per metric (overrides the name's)"
    )
    p.add_argument(
        "--max-real",
        type=int,
        default=None,
        help="use at most N dataset images, a fixed random subset (default: all for FID, as "
        "NVIDIA's _full metrics; --num 2000 --max-real 2000 for a quick look)",
    )
    p.add_argument("--detector", default=None, help="FID Inception weights file (.pt / .pth)")
    p.add_argument("--detector-sha1", default=None, help="trust a detector file with this SHA-1")
    p.add_argument("--lpips", default=None, help="LPIPS/VGG16 weights for PPL ($STYLEGEN_LPIPS)")
    p.add_argument("--labels", default="json", choices=["json", "folders"])
    p.add_argument("--mirror", action="store_true", help="add x-flipped copies of the data")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--no-cache", action="store_true", help="do not cache dataset statistics")
    p.add_argument("--device", default=None)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from stylegen.metrics.report import evaluate_network, format_table

    device = pick_device(args.device)
    if args.batch < 1:
        raise UserError(f"--batch {args.batch} must be >= 1")
    if args.num is not None and args.num < 1:
        raise UserError(f"--num {args.num} must be >= 1")
    results, path = evaluate_network(
        args.network,
        args.metrics,
        data=args.data,
        labels=args.labels,
        mirror=args.mirror,
        num=args.num,
        max_real=args.max_real,
        detector_path=args.detector,
        detector_sha1=args.detector_sha1,
        lpips_path=args.lpips,
        batch_size=args.batch,
        use_cache=not args.no_cache,
        device=device,
        progress=sys.stderr.isatty(),
    )
    print(format_table(results))
    print(f"appended {len(results)} line(s) to {path}")
    return 0
