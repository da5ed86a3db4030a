"""`stylegen interpolate`: a video walking through seeds, slerp in Z or lerp in W (Karras et al.
2019), optionally looping, as a grid of independent walks, or between the classes of a
conditional network; MP4 or GIF by the file suffix."""

from __future__ import annotations

import argparse

from stylegen.commands.common import Subparsers
from stylegen.commands.latent_common import (
    add_network_args,
    check_batch,
    load_generator,
    parse_ints,
)
from stylegen.errors import UserError


def register(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(
        "interpolate",
        help="video of a walk through seeds (slerp in Z, lerp in W)",
        description="A walk through the seeds' latents: spherical interpolation in Z or linear "
        "interpolation in W. Writes MP4 (needs imageio-ffmpeg) or GIF, chosen by --out.",
    )
    add_network_args(p)
    p.add_argument("--seeds", required=True, help="keyframe seeds in order, e.g. 0,1,2,3")
    p.add_argument("--frames", type=int, default=60, help="frames in the video (default 60)")
    p.add_argument("--space", default="z", help="z (slerp) or w (lerp) (default z)")
    p.add_argument("--loop", action="store_true", help="return to the first seed, seamlessly")
    p.add_argument(
        "--grid",
        default="1x1",
        help="ROWSxCOLS independent walks; each cell takes the next len(seeds)/cells seeds",
    )
    p.add_argument(
        "--class",
        dest="classes",
        default=None,
        help="conditional networks: a class for every seed, or A,B,... to walk between classes",
    )
    p.add_argument("--trunc", type=float, default=1.0, help="truncation psi (default 1)")
    p.add_argument("--noise-mode", default="const", choices=["const", "random", "none"])
    p.add_argument("--out", required=True, help="output video: .mp4 or .gif")
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--scale", type=int, default=1, help="enlarge frames N times (nearest)")
    p.add_argument("--batch", type=int, default=16)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import time

    from stylegen.generate import parse_seeds
    from stylegen.latent.config import check_space
    from stylegen.latent.interpolate import frame_positions, interpolation_frames, parse_grid
    from stylegen.latent.video import check_video_path, write_video

    out = check_video_path(args.out)
    seeds = parse_seeds(args.seeds)
    space = check_space(args.space, ("z", "w"))
    grid = parse_grid(args.grid)
    classes = parse_ints(args.classes, "--class") if args.classes is not None else None
    if args.fps <= 0 or args.scale < 1:
        raise UserError(f"--fps {args.fps} must be > 0 and --scale {args.scale} >= 1")
    frame_positions(2, args.frames, args.loop)  # --frames checked before loading anything
    check_batch(args.batch)
    G, device = load_generator(args)
    t0 = time.perf_counter()
    frames = interpolation_frames(
        G,
        seeds,
        args.frames,
        space,
        args.loop,
        classes,
        grid,
        args.trunc,
        args.noise_mode,
        args.batch,
        device,
    )
    seconds = time.perf_counter() - t0
    write_video(frames, out, fps=args.fps, scale=args.scale)
    print(f"wrote {len(frames)} frames to {out} ({len(frames) / seconds:.1f} frames/s)")
    return 0
