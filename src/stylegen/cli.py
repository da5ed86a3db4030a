"""Command-line interface: `stylegen <command>`. Each command parses its flags, builds a config
and calls the library; user errors become one line on stderr and exit code 2 (no traceback).

Commands live in small functions here; the work lives in the library modules they call.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from stylegen.errors import UserError

log = logging.getLogger("stylegen")

EXIT_USER_ERROR = 2
BAR_FORMAT = "{l_bar}{bar}| {n:.1f}/{total:.1f} kimg [{elapsed}<{remaining}{postfix}]"


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad flags in one line with exit code 2 (its usual code)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USER_ERROR, f"error: {message} (see `{self.prog} --help`)\n")


# ---------------------------------------------------------------------------------------------
# generate


def _add_generate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="generate images from a trained network")
    p.add_argument("--network", required=True, help="checkpoint folder or run folder")
    p.add_argument("--seeds", default="0-7", help="e.g. 0-31 or 1,5,9 (default 0-7)")
    p.add_argument("--trunc", type=float, default=1.0, help="truncation psi (default 1)")
    p.add_argument("--trunc-cutoff", type=int, default=None, help="truncate only the first N ws")
    p.add_argument("--class", dest="class_idx", type=int, default=None, help="class label")
    p.add_argument("--noise-mode", default="const", choices=["const", "random", "none"])
    p.add_argument("--outdir", required=True, help="where to write seedNNNN.png")
    p.add_argument("--grid", action="store_true", help="also write grid.png")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--device", default=None)
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
    p.set_defaults(func=cmd_generate)


def cmd_generate(args: argparse.Namespace) -> int:
    from stylegen.checkpoint import load
    from stylegen.generate import class_labels, iter_images, parse_seeds
    from stylegen.images import make_grid, save_image

    seeds = parse_seeds(args.seeds)
    if args.batch < 1:
        raise UserError(f"--batch {args.batch} must be >= 1")
    device = args.device or default_device()
    G = load(args.network, device=device)
    class_labels(G, args.class_idx, 1)  # check --class before anything is written
    if args.translate is not None or args.rotate is not None:
        from stylegen.generate import parse_translate, set_input_transform

        translate = parse_translate(args.translate) if args.translate else (0.0, 0.0)
        set_input_transform(G, translate, args.rotate or 0.0)
    outdir = Path(args.outdir)
    _check_writable(outdir)
    images = []
    batches = iter_images(
        G,
        seeds,
        truncation_psi=args.trunc,
        truncation_cutoff=args.trunc_cutoff,
        class_idx=args.class_idx,
        noise_mode=args.noise_mode,
        batch_size=args.batch,
        device=device,
    )
    from tqdm import tqdm

    with tqdm(total=len(seeds), desc="generate", unit="img", disable=None) as bar:
        for chunk, imgs in batches:
            for seed, img in zip(chunk, imgs):
                save_image(img, outdir / f"seed{seed:04d}.png")
            if args.grid:
                images.append(imgs)
            bar.update(len(chunk))
    if args.grid:
        import torch

        save_image(make_grid(torch.cat(images)), outdir / "grid.png")
    print(f"wrote {len(seeds)} images to {outdir}")
    return 0


def _check_writable(outdir: Path) -> None:
    """Fail early, before any file is written, when the output folder cannot be used."""
    if outdir.exists() and not outdir.is_dir():
        raise UserError(f"--outdir {outdir} is a file; pass a folder")
    try:
        outdir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=outdir):
            pass
    except OSError as exc:
        raise UserError(
            f"cannot write to --outdir {outdir} ({exc.strerror}); pick another folder"
        ) from None


# ---------------------------------------------------------------------------------------------
# train / demo


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a StyleGAN2 generator")
    p.add_argument("--data", help="image folder, .zip, or built-in: fashion-mnist, emoji")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its last snapshot")
    p.add_argument("--outdir", default="runs", help="parent folder of runs (default runs)")
    p.add_argument(
        "--preset",
        default="cpu32",
        help="tiny, cpu32, cifar, paper256, stylegan3-t, stylegan3-t-cpu, ...",
    )
    p.add_argument("--cond", action="store_true", help="class-conditional training")
    p.add_argument("--labels", default="json", choices=["json", "folders"])
    p.add_argument("--mirror", action="store_true", help="add x-flipped copies of the data")
    p.add_argument("--max-size", type=int, default=None, help="use at most N images")
    p.add_argument("--skip-bad", action="store_true", help="skip unreadable images")
    p.add_argument("--kimg", type=float, default=None, help="train for N thousand images")
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--glr", type=float, default=None, help="G learning rate")
    p.add_argument("--dlr", type=float, default=None, help="D learning rate")
    p.add_argument("--gamma", type=float, default=None, help="R1 weight")
    p.add_argument("--ema", dest="ema_kimg", type=float, default=None, help="EMA half-life, kimg")
    p.add_argument("--pl-weight", type=float, default=None, help="path-length weight (0 = off)")
    p.add_argument("--mixing", dest="style_mixing_prob", type=float, default=None)
    p.add_argument(
        "--arch",
        default=None,
        choices=["stylegan2", "stylegan3-t", "stylegan3-r"],
        help="generator family (default: the preset's)",
    )
    p.add_argument(
        "--blur-sigma",
        dest="blur_init_sigma",
        type=float,
        default=None,
        help="initial D input blur (default 10 for stylegan3-r, else 0)",
    )
    p.add_argument(
        "--blur-kimg",
        dest="blur_fade_kimg",
        type=float,
        default=None,
        help="kimg over which the D blur fades out (default batch * 200 / 32)",
    )
    p.add_argument("--aug", default=None, choices=["ada", "fixed", "diffaug", "none"])
    p.add_argument("--p", dest="aug_p", type=float, default=0.0, help="augment p (start/fixed)")
    p.add_argument("--target", dest="ada_target", type=float, default=0.6, help="ADA r_t target")
    p.add_argument("--tick", dest="tick_kimg", type=float, default=None, help="kimg per tick")
    p.add_argument("--snap", type=int, default=50, help="ticks between snapshots")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    p.set_defaults(func=cmd_train)


_TRAIN_FIELDS = (
    "data",
    "outdir",
    "preset",
    "cond",
    "labels",
    "mirror",
    "max_size",
    "skip_bad",
    "batch",
    "glr",
    "dlr",
    "gamma",
    "ema_kimg",
    "pl_weight",
    "style_mixing_prob",
    "arch",
    "blur_init_sigma",
    "blur_fade_kimg",
    "aug",
    "aug_p",
    "ada_target",
    "tick_kimg",
    "snap",
    "seed",
    "threads",
)


def cmd_train(args: argparse.Namespace) -> int:
    import dataclasses
    import json

    from stylegen.config import TrainConfig, config_to_dict
    from stylegen.training.loop import resume, train

    if args.resume:
        snap = _with_progress(lambda cb: resume(args.resume, cb, kimg=args.kimg))
        print(f"done: {snap}")
        return 0
    if not args.data:
        raise UserError("--data is required (a folder, a .zip, or fashion-mnist / emoji)")
    values = {k: getattr(args, k) for k in _TRAIN_FIELDS}
    cfg = TrainConfig(**values, device=args.device or default_device())
    if args.kimg is not None:
        cfg = dataclasses.replace(cfg, kimg=args.kimg)
    resolved = cfg.resolved()
    if args.dry_run:
        print(json.dumps(config_to_dict(resolved), indent=2))
        return 0
    snap = _with_progress(lambda cb: train(resolved, cb))
    print(f"done: {snap}")
    return 0


def _with_progress(run: Callable) -> object:
    """Run training with a tqdm bar in kimg; tick stats go into the bar's postfix."""
    from tqdm import tqdm

    bar = None

    def on_progress(p) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(
                total=p.total_nimg / 1000,
                initial=p.cur_nimg / 1000,
                unit="kimg",
                desc="train",
                disable=None,
                bar_format=BAR_FORMAT,
            )
        bar.n = p.cur_nimg / 1000
        if p.stats:
            s = p.stats
            bar.set_postfix_str(
                f"sec/kimg {s.get('Timing/sec_per_kimg', 0):.1f} G {s.get('Loss/G/loss', 0):.2f} "
                f"D {s.get('Loss/D/loss', 0):.2f} aug {s.get('Progress/augment', 0):.3f}",
                refresh=False,
            )
        bar.refresh()

    try:
        return run(on_progress)
    finally:
        if bar is not None:
            bar.close()


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="train on built-in Fashion-MNIST for ~10 CPU minutes")
    p.add_argument("--outdir", default="runs/demo")
    p.add_argument("--kimg", type=float, default=None, help="override the demo length")
    p.add_argument("--device", default=None)
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    import dataclasses

    from stylegen.config import DEMO_CONFIG
    from stylegen.training.loop import train

    cfg = dataclasses.replace(
        DEMO_CONFIG, outdir=args.outdir, device=args.device or default_device()
    )
    if args.kimg is not None:
        cfg = dataclasses.replace(cfg, kimg=args.kimg)
    snap = _with_progress(lambda cb: train(cfg, cb))
    run_dir = snap.parent
    print(f"samples:    {snap / 'samples.png'}")
    print(f"checkpoint: {snap}")
    print(f"loss plot:  {run_dir / 'losses.png'}")
    print(f"next: stylegen generate --network {snap} --seeds 0-15 --outdir out --grid")
    return 0


# ---------------------------------------------------------------------------------------------
# dataset


def _add_dataset(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dataset", help="pack a folder of images into a training zip")
    p.add_argument("--source", required=True, help="folder or .zip of images")
    p.add_argument("--dest", required=True, help="output .zip")
    p.add_argument("--resolution", type=int, required=True, help="e.g. 64, 128, 256")
    p.add_argument(
        "--transform", default="center-crop", choices=["center-crop", "center-crop-wide", "resize"]
    )
    p.add_argument("--labels", default=None, choices=["json", "folders"])
    p.add_argument("--skip-bad", action="store_true", help="skip unreadable images")
    p.set_defaults(func=cmd_dataset)


def cmd_dataset(args: argparse.Namespace) -> int:
    from stylegen.data.prepare import convert_dataset

    n = convert_dataset(
        args.source,
        args.dest,
        args.resolution,
        transform=args.transform,
        labels=args.labels,
        skip_bad=args.skip_bad,
    )
    print(f"wrote {n} images to {args.dest}")
    return 0


# ---------------------------------------------------------------------------------------------
# video


def _add_video(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("video", help="StyleGAN3: GIF of one seed while the input pans and rotates")
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
    p.set_defaults(func=cmd_video)


def cmd_video(args: argparse.Namespace) -> int:
    from stylegen.checkpoint import load
    from stylegen.generate import transform_frames
    from stylegen.images import save_gif

    out = Path(args.out)
    if out.suffix.lower() != ".gif":
        raise UserError(f"--out {out} must end in .gif")
    if out.is_dir():
        raise UserError(f"--out {out} is a folder; pass a file name ending in .gif")
    if args.fps <= 0:
        raise UserError(f"--fps {args.fps} must be > 0")
    device = args.device or default_device()
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


# ---------------------------------------------------------------------------------------------
# entry point

COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_train,
    _add_generate,
    _add_dataset,
    _add_demo,
    _add_video,
]


def build_parser() -> argparse.ArgumentParser:
    from stylegen import __version__

    parser = _Parser(prog="stylegen", description="Style-based image synthesis in pure PyTorch.")
    parser.add_argument("--version", action="version", version=f"stylegen {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
