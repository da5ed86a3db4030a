"""`stylegen demo`: the DEMO_CONFIG recipe, built-in Fashion-MNIST for about ten CPU minutes,
then where its samples, checkpoint and loss plot are."""

from __future__ import annotations

import argparse
import dataclasses

from stylegen.commands.common import Subparsers, pick_device, with_progress
from stylegen.training.stylegan_config import DEMO_CONFIG, demo_config


def register(subparsers: Subparsers) -> None:
    p = subparsers.add_parser("demo", help="train on built-in Fashion-MNIST for ~10 CPU minutes")
    p.add_argument("--outdir", default=DEMO_CONFIG.outdir)
    p.add_argument("--kimg", type=float, default=None, help="override the demo length")
    p.add_argument(
        "--minutes",
        type=float,
        default=None,
        help=f"override the training time budget (default {DEMO_CONFIG.minutes:g})",
    )
    p.add_argument("--device", default=None)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from stylegen.models.precision import has_fast_bfloat16  # on use: they import torch
    from stylegen.training.stylegan import train

    device = pick_device(args.device)
    cfg = dataclasses.replace(demo_config(device, has_fast_bfloat16(device)), outdir=args.outdir)
    if args.kimg is not None:
        cfg = dataclasses.replace(cfg, kimg=args.kimg)
    if args.minutes is not None:
        cfg = dataclasses.replace(cfg, minutes=args.minutes)
    snap = with_progress(lambda cb: train(cfg, cb))
    print(f"samples:    {snap / 'samples.png'}")
    print(f"checkpoint: {snap}")
    print(f"loss plot:  {snap.parent / 'losses.png'}")
    # The demo network is class-conditional: `--class all` gives one row per class.
    extra = " --class all" if cfg.cond else ""
    print(f"next: stylegen generate --network {snap} --seeds 0-7{extra} --outdir out --grid")
    return 0
