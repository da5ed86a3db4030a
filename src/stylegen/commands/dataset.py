"""`stylegen dataset`: pack a folder (or .zip) of images into a training zip."""

from __future__ import annotations

import argparse

from stylegen.commands.common import Subparsers


def register(subparsers: Subparsers) -> None:
    p = subparsers.add_parser("dataset", help="pack a folder of images into a training zip")
    p.add_argument("--source", required=True, help="folder or .zip of images")
    p.add_argument("--dest", required=True, help="output .zip")
    p.add_argument("--resolution", type=int, required=True, help="e.g. 64, 128, 256")
    p.add_argument(
        "--transform", default="center-crop", choices=["center-crop", "center-crop-wide", "resize"]
    )
    p.add_argument("--labels", default=None, choices=["json", "folders"])
    p.add_argument("--skip-bad", action="store_true", help="skip unreadable images")
    p.add_argument("--channels", type=int, default=None, choices=[1, 3], help="force grey/RGB")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from stylegen.data.prepare import convert_dataset

    n = convert_dataset(
        args.source,
        args.dest,
        args.resolution,
        transform=args.transform,
        labels=args.labels,
        skip_bad=args.skip_bad,
        channels=args.channels,
    )
    print(f"wrote {n} images to {args.dest}")
    return 0
