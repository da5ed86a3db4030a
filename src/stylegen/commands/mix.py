"""`stylegen mix`: the style-mixing grid of Karras et al. 2019 (row seeds with some of the column
seeds' styles), as the official style_mixing.py draws it, plus one PNG per cell."""

from __future__ import annotations

import argparse
from pathlib import Path

from stylegen.commands.common import Subparsers, check_writable
from stylegen.commands.latent_common import add_network_args, check_batch, load_generator
from stylegen.latent.layers import STYLE_GROUPS_HELP


def register(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(
        "mix",
        help="style-mixing grid: row seeds with the column seeds' styles",
        description="Style mixing (Karras et al. 2019): cell (r, c) is row seed r with the "
        "styles --styles copied from column seed c; the first row and column are the unmixed "
        f"images. Style layers: {STYLE_GROUPS_HELP}.",
    )
    add_network_args(p)
    p.add_argument("--rows", required=True, help="row seeds, e.g. 85,100,75")
    p.add_argument("--cols", required=True, help="column seeds, e.g. 55,821,1789")
    p.add_argument(
        "--styles",
        default="coarse",
        help="ws indices copied from the column seeds: e.g. 0-6, 0,2,4, coarse, middle,fine, "
        "all (default coarse)",
    )
    p.add_argument("--trunc", type=float, default=1.0, help="truncation psi (default 1)")
    p.add_argument("--class", dest="class_idx", type=int, default=None, help="class label")
    p.add_argument("--noise-mode", default="const", choices=["const", "random", "none"])
    p.add_argument("--outdir", required=True, help="where to write grid.png and ROW-COL.png")
    p.add_argument("--no-singles", action="store_true", help="write only grid.png")
    p.add_argument("--batch", type=int, default=16)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from stylegen.generate import class_labels, parse_seeds
    from stylegen.latent.layers import describe_groups, parse_styles
    from stylegen.latent.mixing import style_mix, write_mixing

    rows, cols = parse_seeds(args.rows), parse_seeds(args.cols)
    check_batch(args.batch)
    G, device = load_generator(args)
    styles = parse_styles(args.styles, G)
    class_labels(G, args.class_idx, 1)
    outdir = Path(args.outdir)
    check_writable(outdir)
    result = style_mix(
        G, rows, cols, styles, args.trunc, args.class_idx, args.noise_mode, args.batch, device
    )
    grid = write_mixing(result, outdir, singles=not args.no_singles)
    print(f"mixed styles {args.styles} ({describe_groups(G)}); wrote {grid}")
    return 0
