"""`stylegen edit`: move seeds' (or saved) latents along a direction on chosen style layers and
write a grid (latents x degrees) and optionally a sweep GIF (GANSpace / SeFa layer-wise edits)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from stylegen.commands.common import Subparsers, check_writable
from stylegen.commands.latent_common import add_network_args, check_batch, load_generator
from stylegen.errors import UserError
from stylegen.latent.layers import STYLE_GROUPS_HELP


def register(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(
        "edit",
        help="edit latents along a direction: grid of latents x degrees",
        description="ws' = ws + degree * direction on the --layers rows of ws (degree 0 is the "
        f"original). Style layers: {STYLE_GROUPS_HELP}.",
    )
    add_network_args(p)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--seeds", help="seeds to edit, e.g. 0-3")
    src.add_argument("--ws", help="a ws file to edit (projected_w.safetensors)")
    p.add_argument("--directions", required=True, help="file from `stylegen directions`")
    p.add_argument("--index", type=int, default=0, help="which direction (default 0)")
    p.add_argument(
        "--from-class", type=int, default=None, help="class directions: go from this class"
    )
    p.add_argument("--degrees", default="-5,-2.5,0,2.5,5", help="steps along the direction")
    # argparse takes "-5,-2.5,0" for a flag (only "-5" or "-2.5" pass as negative numbers); the
    # command has no flag that looks like a number, so a list of them is a value.
    p._negative_number_matcher = re.compile(r"^-\.?\d[\d.,eE+-]*$")
    p.add_argument(
        "--layers",
        default=None,
        help="ws indices to edit, e.g. 0-5 or coarse (default: those the directions came from)",
    )
    p.add_argument("--trunc", type=float, default=1.0, help="truncation psi for --seeds")
    p.add_argument("--class", dest="class_idx", type=int, default=None, help="class for --seeds")
    p.add_argument("--noise-mode", default="const", choices=["const", "random", "none"])
    p.add_argument("--outdir", required=True, help="where to write grid.png and the images")
    p.add_argument("--gif", action="store_true", help="also write sweep.gif")
    p.add_argument("--batch", type=int, default=16)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from stylegen.generate import parse_seeds
    from stylegen.latent.directions import load_directions, pick_direction
    from stylegen.latent.edit import edit_images, parse_degrees, write_edit
    from stylegen.latent.layers import format_indices, parse_styles
    from stylegen.latent.ws import load_ws, ws_from_seeds

    degrees = parse_degrees(args.degrees)
    seeds = parse_seeds(args.seeds) if args.seeds is not None else None
    if args.ws is not None and (args.trunc != 1.0 or args.class_idx is not None):
        raise UserError("--trunc and --class apply to --seeds; a --ws file is edited as saved")
    check_batch(args.batch)
    G, device = load_generator(args)
    dirs = load_directions(args.directions, G)
    direction = pick_direction(dirs, args.index, args.from_class)
    layers = parse_styles(args.layers if args.layers else dirs.layers or "all", G, "--layers")
    noise = None
    if seeds is not None:
        ws = ws_from_seeds(G, seeds, args.trunc, class_idx=args.class_idx, device=device)
        names = [f"seed{s:04d}" for s in seeds]
    else:
        latents = load_ws(args.ws, G)
        ws, noise = latents.ws, latents.noise
        names = [f"ws{i:04d}" for i in range(len(ws))]
    outdir = Path(args.outdir)
    check_writable(outdir)
    images = edit_images(
        G, ws.cpu(), direction, degrees, layers, noise, args.noise_mode, args.batch, device
    )
    write_edit(outdir, images, names, degrees, gif=args.gif)
    print(
        f"edited {len(names)} latent(s) along {dirs.method} direction {args.index} on ws "
        f"{format_indices(layers)} at degrees {args.degrees}; wrote {outdir / 'grid.png'}"
    )
    return 0
