"""`stylegen ensemble` (a mixture of generators, sampled by weight) and `stylegen average` (the
mean of the weights of a run's newest snapshots); see stylegen/ensembles.py."""

from __future__ import annotations

import argparse

from stylegen.commands.common import Subparsers


def register(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(
        "ensemble", help="a mixture of generators: each seed drawn from one member, by weight"
    )
    p.add_argument(
        "--members", required=True, help="comma-separated checkpoint or run folders (A,B,C)"
    )
    p.add_argument(
        "--weights", default=None, help="one weight per member, e.g. 0.5,0.3,0.2 (default equal)"
    )
    p.add_argument("--out", required=True, help="the ensemble folder to write")
    p.set_defaults(func=run_ensemble)

    p = subparsers.add_parser("average", help="average the weights of a run's newest snapshots")
    p.add_argument("--snapshots", required=True, metavar="RUN", help="a run folder")
    p.add_argument("--last", type=int, default=5, help="how many of the newest (default 5)")
    p.add_argument("--out", required=True, help="the checkpoint folder to write")
    p.set_defaults(func=run_average)


def run_ensemble(args: argparse.Namespace) -> int:
    from stylegen.ensembles import parse_weights, write_ensemble

    members = [m.strip() for m in args.members.split(",") if m.strip()]
    weights = parse_weights(args.weights, len(members))
    out = write_ensemble(members, weights, args.out)
    print(f"wrote ensemble of {len(members)} members to {out}")
    return 0


def run_average(args: argparse.Namespace) -> int:
    from stylegen.ensembles import average_snapshots

    out = average_snapshots(args.snapshots, args.last, args.out)
    print(f"wrote the average of {args.last} snapshot(s) to {out}")
    return 0
