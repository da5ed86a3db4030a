"""`stylegen generate`: images (and optionally a grid) from a trained generator or ensemble, one
PNG per seed or per latent of a ws file (`--ws`, e.g. a projection's); StyleGAN3 networks can be
translated and rotated; `--upscale SR` enlarges every image with a trained upscaler."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from stylegen.commands.common import Subparsers, check_writable, pick_device
from stylegen.errors import UserError


def register(subparsers: Subparsers) -> None:
    p = subparsers.add_parser("generate", help="generate images from a trained network")
    p.add_argument(
        "--network", required=True, help="checkpoint folder, run folder or official .pkl"
    )
    p.add_argument("--seeds", default=None, help="e.g. 0-31 or 1,5,9 (default 0-7)")
    p.add_argument(
        "--ws",
        default=None,
        metavar="FILE",
        help="render the latents of a ws file (projected_w.safetensors) instead of seeds",
    )
    p.add_argument("--trunc", type=float, default=1.0, help="truncation psi (default 1)")
    p.add_argument("--trunc-cutoff", type=int, default=None, help="truncate only the first N ws")
    p.add_argument(
        "--class",
        dest="class_idx",
        type=class_arg,
        default=None,
        help="class label of a conditional network, or 'all': each seed once per class "
        "(grid.png: a row per class)",
    )
    p.add_argument("--noise-mode", default="const", choices=["const", "random", "none"])
    p.add_argument("--outdir", required=True, help="where to write seedNNNN.png")
    p.add_argument("--grid", action="store_true", help="also write grid.png")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--device", default=None)
    p.add_argument(
        "--allow-nonfinite",
        action="store_true",
        help="load NaN/inf weights and write non-finite images anyway (with a warning)",
    )
    p.add_argument(
        "--translate",
        default=None,
        metavar="X,Y",
        help="StyleGAN3 only: translate by X,Y image widths (e.g. 0.1,0)",
    )
    p.add_argument(
        "--rotate",
        type=float,
        default=None,
        metavar="DEG",
        help="StyleGAN3 only: rotate by DEG degrees",
    )
    p.add_argument(
        "--upscale",
        default=None,
        metavar="SR",
        help="enlarge every image with a trained upscaler (stylegen train --arch srcnn|espcn)",
    )
    p.set_defaults(func=run)


def class_arg(text: str) -> int | str:
    """--class N or --class all."""
    if text == "all":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a class number or 'all'") from None


def run(args: argparse.Namespace) -> int:
    from stylegen.generate import check_generation_args, parse_seeds, parse_translate
    from stylegen.translate import check_not_cyclegan

    device = pick_device(args.device)
    check_not_cyclegan(args.network)
    if args.ws is not None:
        return _run_ws(args, device)
    seeds = parse_seeds(args.seeds if args.seeds is not None else "0-7")
    check_generation_args(args.trunc, args.trunc_cutoff, args.batch)
    if args.rotate is not None and not math.isfinite(args.rotate):
        raise UserError(f"--rotate {args.rotate} must be a finite number of degrees")
    if args.translate is not None:
        parse_translate(args.translate)  # checked before the network is loaded
    G = _load_generator(args, device)
    outdir = Path(args.outdir)
    check_writable(outdir)
    if args.class_idx == "all":
        count = _write_class_rows(G, seeds, args, device, outdir)
    else:
        count = _write_images(G, seeds, args, device, outdir)
    print(f"wrote {count} images to {outdir}")
    return 0


def _run_ws(args: argparse.Namespace, device: str) -> int:
    """--ws FILE: one ws0000.png per latent, rendered as saved (with the file's noise maps)."""
    from stylegen.images import make_grid, save_image
    from stylegen.latent.ws import render_ws_file

    given = [
        flag
        for flag, unset in (
            ("--seeds", args.seeds is None),
            ("--trunc", args.trunc == 1.0),
            ("--trunc-cutoff", args.trunc_cutoff is None),
            ("--class", args.class_idx is None),
        )
        if not unset
    ]
    if given:
        raise UserError(f"--ws renders saved latents as they are; drop {', '.join(given)}")
    if args.batch < 1:
        raise UserError(f"--batch {args.batch} must be >= 1")
    G = _load_generator(args, device, check_class=False)
    images = args.enlarge(
        render_ws_file(G, args.ws, args.noise_mode, args.batch, device, args.allow_nonfinite)
    )
    outdir = Path(args.outdir)
    check_writable(outdir)
    for i, img in enumerate(images):
        save_image(img, outdir / f"ws{i:04d}.png")
    if args.grid:
        save_image(make_grid(images), outdir / "grid.png")
    print(f"wrote {len(images)} images from {args.ws} to {outdir}")
    return 0


def _load_generator(args: argparse.Namespace, device: str, check_class: bool = True):
    """The network, with --class checked and the StyleGAN3 input transform set."""
    from stylegen.checkpoint import load
    from stylegen.generate import class_labels

    G = load(args.network, device=device, allow_nonfinite=args.allow_nonfinite)
    if not hasattr(G, "z_dim"):
        raise UserError(
            f"--network {args.network} holds a {type(G).__name__}, which does not generate from "
            "seeds (an upscaler? use `stylegen upscale`)"
        )
    if check_class and args.class_idx == "all":
        if not getattr(G, "c_dim", 0):
            raise UserError(
                "--class all needs a conditional network; this one is not: drop --class"
            )
    elif check_class:
        class_labels(G, args.class_idx, 1)  # check --class before anything is written
    if args.translate is not None or args.rotate is not None:
        from stylegen.generate import parse_translate, set_input_transform

        translate = parse_translate(args.translate) if args.translate else (0.0, 0.0)
        set_input_transform(G, translate, args.rotate or 0.0)
    args.enlarge = _upscaler(args, G, device)
    return G


def _upscaler(args: argparse.Namespace, G, device: str):
    """--upscale SR: a function uint8 images -> uint8 images `scale` times larger (checked
    against the generator's channels before any image is made), else the identity."""
    if args.upscale is None:
        return lambda images: images
    from stylegen.upscale import check_channels, load_upscaler, upscale_uint8

    net = load_upscaler(args.upscale, device=device)
    check_channels(net, int(G.img_channels), f"--network {args.network}")
    return lambda images: upscale_uint8(net, images)


def _write_images(G, seeds: list[int], args: argparse.Namespace, device: str, outdir: Path) -> int:
    import torch
    from tqdm import tqdm

    from stylegen.generate import iter_images
    from stylegen.images import make_grid, save_image

    batches = iter_images(
        G,
        seeds,
        truncation_psi=args.trunc,
        truncation_cutoff=args.trunc_cutoff,
        class_idx=args.class_idx,
        noise_mode=args.noise_mode,
        batch_size=args.batch,
        device=device,
        allow_nonfinite=args.allow_nonfinite,
    )
    images = []
    with tqdm(total=len(seeds), desc="generate", unit="img", disable=None) as bar:
        for chunk, imgs in batches:
            imgs = args.enlarge(imgs)
            for seed, img in zip(chunk, imgs):
                save_image(img, outdir / f"seed{seed:04d}.png")
            if args.grid:
                images.append(imgs)
            bar.update(len(chunk))
    if args.grid:
        save_image(make_grid(torch.cat(images)), outdir / "grid.png")
    return len(seeds)


def _write_class_rows(
    G, seeds: list[int], args: argparse.Namespace, device: str, outdir: Path
) -> int:
    """--class all: seedNNNN-classKK.png for every seed and class; grid.png a row per class."""
    import torch

    from stylegen.generate import class_rows
    from stylegen.images import make_grid, save_image

    rows = class_rows(
        G,
        seeds,
        truncation_psi=args.trunc,
        truncation_cutoff=args.trunc_cutoff,
        noise_mode=args.noise_mode,
        batch_size=args.batch,
        device=device,
        allow_nonfinite=args.allow_nonfinite,
    )
    rows = torch.stack([args.enlarge(row) for row in rows])
    for k, row in enumerate(rows):
        for seed, img in zip(seeds, row):
            save_image(img, outdir / f"seed{seed:04d}-class{k:02d}.png")
    if args.grid:
        save_image(make_grid(rows.flatten(0, 1), ncols=len(seeds)), outdir / "grid.png")
    return rows.shape[0] * rows.shape[1]
