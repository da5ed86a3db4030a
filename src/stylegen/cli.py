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

from stylegen.errors import EXIT_DIVERGED, TrainingDivergedError, UserError

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
    p.add_argument(
        "--network", required=True, help="checkpoint folder, run folder or official .pkl"
    )
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
    from stylegen.translate import check_not_cyclegan

    check_not_cyclegan(args.network)
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
    p.add_argument(
        "--metrics", type=_metric_names, default=(), help="e.g. fid10k_full (default none)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument(
        "--precision",
        default="fp32",
        choices=["fp32", "mixed"],
        help="mixed: bfloat16 in the num_fp16_res highest-resolution blocks of G and D",
    )
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    _add_distributed_flags(p)
    p.set_defaults(func=cmd_train)


def _add_distributed_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("multi-process training (see README: Multi-GPU / multi-node)")
    g.add_argument("--gpus", type=int, default=None, help="train on N GPUs (N processes, NCCL)")
    g.add_argument("--cpu-procs", type=int, default=None, help="train with N CPU processes (gloo)")
    g.add_argument(
        "--batch-gpu", type=int, default=None, help="images per process per round (default batch/N)"
    )
    g.add_argument(
        "--dist-backend",
        default=None,
        choices=["auto", "gloo", "nccl"],
        help="default: $STYLEGEN_DIST_BACKEND or auto (nccl on CUDA, gloo on CPU)",
    )


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
    "precision",
    "batch_gpu",
    "dist_backend",
    "metrics",
)


def _metric_names(text: str) -> tuple[str, ...]:
    """'fid10k_full,kid10k_full' → a tuple of names; 'none' → ()."""
    names = tuple(x.strip() for x in text.split(",") if x.strip())
    return () if names == ("none",) else names


def cmd_train(args: argparse.Namespace) -> int:
    import dataclasses
    import json

    from stylegen.config import config_to_dict
    from stylegen.training import distributed
    from stylegen.training.stylegan import resume, train
    from stylegen.training.stylegan_config import TrainConfig

    device = args.device or ("cpu" if args.cpu_procs else default_device())
    nprocs = _process_count(args, device)
    distributed.resolve_backend(args.dist_backend, device)  # e.g. NCCL without CUDA
    launching = nprocs > 1 and not distributed.is_worker()
    if args.resume:
        if launching:
            return _launch(args, nprocs)
        snap = _with_progress(
            lambda cb: resume(
                args.resume,
                cb,
                kimg=args.kimg,
                batch_gpu=args.batch_gpu,
                dist_backend=args.dist_backend,
            )
        )
        _print_done(snap)
        return 0
    if not args.data:
        raise UserError("--data is required (a folder, a .zip, or fashion-mnist / emoji)")
    values = {k: getattr(args, k) for k in _TRAIN_FIELDS}
    cfg = TrainConfig(**values, device=device)
    if args.kimg is not None:
        cfg = dataclasses.replace(cfg, kimg=args.kimg)
    resolved = cfg.resolved()
    if launching:
        _check_before_launch(resolved, nprocs)
    if args.dry_run:
        print(json.dumps(config_to_dict(resolved), indent=2))
        return 0
    if launching:
        return _launch(args, nprocs)
    snap = _with_progress(lambda cb: train(resolved, cb))
    _print_done(snap)
    return 0


def _print_done(snap: object) -> None:
    import os

    if os.environ.get("RANK", "0") == "0":  # one line per job, not per process
        print(f"done: {snap}")


def _process_count(args: argparse.Namespace, device: str) -> int:
    """Processes asked for by --gpus / --cpu-procs (1 if neither), checked against the machine."""
    from stylegen.training import distributed

    if args.gpus is not None and args.cpu_procs is not None:
        raise UserError("use --gpus N (GPU processes) or --cpu-procs N (CPU processes), not both")
    if args.gpus is not None:
        distributed.check_gpu_count(args.gpus, device)
        n = args.gpus
    elif args.cpu_procs is not None:
        if args.cpu_procs < 1:
            raise UserError(f"--cpu-procs {args.cpu_procs} must be >= 1")
        if device != "cpu":
            raise UserError(f"--cpu-procs runs CPU processes; drop --device {device} or use --gpus")
        n = args.cpu_procs
    else:
        return 1
    world = distributed.env_world_size()
    if distributed.is_worker() and world != n:
        raise UserError(
            f"--gpus/--cpu-procs {n} but torchrun started {world} processes; leave out "
            "--gpus/--cpu-procs under torchrun (--nproc-per-node sets the count)"
        )
    return n


def _check_before_launch(cfg, nprocs: int) -> None:
    """Fail in this one process, not in every launched one, on bad data or batch sizes."""
    import dataclasses

    from stylegen.training import distributed
    from stylegen.training.stylegan import build_networks, open_training_data

    layout = distributed.shard_layout(cfg.batch, cfg.batch_gpu, nprocs)
    build_networks(dataclasses.replace(cfg, batch_gpu=layout.batch_gpu), open_training_data(cfg))


def _launch(args: argparse.Namespace, nprocs: int) -> int:
    """Start nprocs copies of this very command through torch.distributed's elastic launcher."""
    from stylegen.training import distributed

    try:
        distributed.launch(args.argv, nprocs)
    except distributed.WorkerFailedError as exc:
        if exc.exitcode == EXIT_USER_ERROR:
            return EXIT_USER_ERROR  # the worker has printed its one-line error
        print(f"error: {exc}", file=sys.stderr)
        return 1
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

    from stylegen.training.stylegan import train
    from stylegen.training.stylegan_config import DEMO_CONFIG

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
    p.add_argument("--channels", type=int, default=None, choices=[1, 3], help="force grey/RGB")
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
        channels=args.channels,
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
# convert (official NVIDIA snapshots)


def _add_convert(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert", help="convert an official StyleGAN2-ADA/StyleGAN3 .pkl into checkpoints"
    )
    p.add_argument("snapshot", help="official network-snapshot-*.pkl (read without running it)")
    p.add_argument("outdir", help="checkpoint folder to write (replaced if it is one)")
    p.add_argument(
        "--which",
        default="G_ema",
        choices=["G_ema", "G", "D", "all"],
        help="network to convert; all writes OUTDIR/G_ema, OUTDIR/G, OUTDIR/D (default G_ema)",
    )
    p.set_defaults(func=cmd_convert)


def cmd_convert(args: argparse.Namespace) -> int:
    from stylegen.interop.nvlabs import convert

    for folder in convert(args.snapshot, args.outdir, which=args.which):
        print(f"wrote {folder}")
    return 0


# ---------------------------------------------------------------------------------------------
# cyclegan / translate


def _add_cyclegan(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cyclegan", help="unpaired image-to-image translation (CycleGAN)")
    cg = p.add_subparsers(dest="cyclegan_command", metavar="COMMAND", parser_class=_Parser)
    cg.required = True
    t = cg.add_parser("train", help="train G_AB, G_BA on two image domains")
    t.add_argument("--data-a", help="domain A: folder, .zip or built-in (fashion-mnist:sneaker)")
    t.add_argument("--data-b", help="domain B: folder, .zip or built-in (fashion-mnist:ankle-boot)")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its last snapshot")
    t.add_argument("--outdir", default="runs", help="parent folder of runs (default runs)")
    t.add_argument("--preset", default="cpu32", help="tiny, cpu32, paper128, paper256")
    t.add_argument("--epochs", type=int, default=None, help="epochs at constant lr")
    t.add_argument("--decay-epochs", type=int, default=None, help="epochs of linear lr decay")
    t.add_argument("--batch", type=int, default=None)
    t.add_argument("--lr", type=float, default=2e-4)
    t.add_argument("--lambda-cycle", type=float, default=10.0)
    t.add_argument("--lambda-identity", type=float, default=0.5, help="times --lambda-cycle")
    t.add_argument("--pool-size", type=int, default=50, help="history of fakes per D (0 = off)")
    t.add_argument("--load-size", type=int, default=None, help="resize to this, then crop")
    t.add_argument("--crop-size", type=int, default=None, help="training crop (image size)")
    t.add_argument("--no-flip", dest="flip", action="store_false", help="no random mirroring")
    t.add_argument("--max-size", type=int, default=None, help="use at most N images per domain")
    t.add_argument("--tick", dest="tick_kimg", type=float, default=None, help="kimg per tick")
    t.add_argument("--snap", type=int, default=4, help="ticks between snapshots")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default=None)
    t.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    t.set_defaults(func=cmd_cyclegan_train)
    e = cg.add_parser("eval", help="cycle PSNR/SSIM and FID of translations")
    e.add_argument("--network", required=True, help="CycleGAN run or snapshot folder")
    e.add_argument("--data-a", default=None, help="domain A (default: the run's)")
    e.add_argument("--data-b", default=None, help="domain B (default: the run's)")
    e.add_argument("--num", type=int, default=1000, help="images per domain (default 1000)")
    e.add_argument("--no-fid", dest="fid", action="store_false", help="PSNR/SSIM only")
    e.add_argument("--detector", default=None, help="local FID Inception weights file")
    e.add_argument("--device", default=None)
    e.set_defaults(func=cmd_cyclegan_eval)


_CYCLEGAN_FIELDS = (
    "data_a",
    "data_b",
    "outdir",
    "preset",
    "epochs",
    "decay_epochs",
    "batch",
    "lr",
    "lambda_cycle",
    "lambda_identity",
    "pool_size",
    "load_size",
    "crop_size",
    "flip",
    "max_size",
    "tick_kimg",
    "snap",
    "seed",
    "threads",
)


def cmd_cyclegan_train(args: argparse.Namespace) -> int:
    from stylegen.training.cyclegan import CycleGANConfig, resume_cyclegan, train_cyclegan
    from stylegen.translate import evaluate, run_options

    if args.resume:
        snap = _with_progress(
            lambda cb: resume_cyclegan(args.resume, cb, args.epochs, args.decay_epochs)
        )
    else:
        if not args.data_a or not args.data_b:
            raise UserError(
                "--data-a and --data-b are required (folders, .zips, or built-in classes such "
                "as fashion-mnist:sneaker and fashion-mnist:ankle-boot)"
            )
        values = {k: getattr(args, k) for k in _CYCLEGAN_FIELDS}
        cfg = CycleGANConfig(**values, device=args.device or default_device())
        snap = _with_progress(lambda cb: train_cyclegan(cfg, cb))
    options = run_options(snap)
    scores = evaluate(snap, options["data_a"], options["data_b"], num=256, fid=False)
    print(f"samples:    {snap / 'samples.png'} (rows: A | A->B | A->B->A | B | B->A | B->A->B)")
    print(f"checkpoint: {snap} (G_AB/, G_BA/)")
    print(f"loss plot:  {snap.parent / 'losses.png'}")
    print("cycle PSNR/SSIM (256 images): " + _format_scores(scores))
    print(f"next: stylegen translate --network {snap} --direction a2b --input IMAGES --outdir OUT")
    print(f"      stylegen cyclegan eval --network {snap.parent}  (adds FID)")
    return 0


def _format_scores(scores: dict) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in scores.items() if not k.startswith("num_"))


def cmd_cyclegan_eval(args: argparse.Namespace) -> int:
    import json

    from stylegen.translate import evaluate, run_options

    data_a, data_b = args.data_a, args.data_b
    if data_a is None or data_b is None:
        options = run_options(args.network)
        data_a, data_b = data_a or options["data_a"], data_b or options["data_b"]
    detector = None
    if args.fid:
        from stylegen.metrics import load_detector

        detector = load_detector(args.detector, device=args.device or default_device())
    scores = evaluate(
        args.network,
        data_a,
        data_b,
        num=args.num,
        fid=args.fid,
        detector=detector,
        device=args.device or default_device(),
    )
    print(json.dumps({"network": str(args.network), "data_a": data_a, "data_b": data_b, **scores}))
    return 0


def _add_translate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("translate", help="translate images with a trained CycleGAN")
    p.add_argument("--network", required=True, help="CycleGAN run, snapshot or generator folder")
    p.add_argument("--direction", required=True, choices=["a2b", "b2a"])
    p.add_argument("--input", required=True, help="an image file or a folder of images")
    p.add_argument("--outdir", required=True, help="where to write the translated PNGs")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--device", default=None)
    p.set_defaults(func=cmd_translate)


def cmd_translate(args: argparse.Namespace) -> int:
    from stylegen.translate import load_translator, translate_files

    if args.batch < 1:
        raise UserError(f"--batch {args.batch} must be >= 1")
    device = args.device or default_device()
    G = load_translator(args.network, args.direction, device=device)
    outdir = Path(args.outdir)
    _check_writable(outdir)
    written = translate_files(G, args.input, outdir, batch_size=args.batch)
    print(f"wrote {len(written)} images to {outdir}")
    return 0


# ---------------------------------------------------------------------------------------------
# metrics


def _add_metrics(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("metrics", help="evaluate a trained network (FID, KID, PR, IS, PPL)")
    p.add_argument("--network", required=True, help="checkpoint folder or run folder")
    p.add_argument("--data", default=None, help="the dataset the network was trained on")
    p.add_argument("--metrics", default="fid50k_full", help="comma-separated, e.g. fid50k_full")
    p.add_argument("--num", type=int, default=None, help="override every metric's image count")
    p.add_argument("--detector", default=None, help="FID Inception weights file (.pt / .pth)")
    p.add_argument("--detector-sha1", default=None, help="trust a detector file with this SHA-1")
    p.add_argument("--lpips", default=None, help="LPIPS/VGG16 weights for PPL ($STYLEGEN_LPIPS)")
    p.add_argument("--labels", default="json", choices=["json", "folders"])
    p.add_argument("--mirror", action="store_true", help="add x-flipped copies of the data")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--no-cache", action="store_true", help="do not cache dataset statistics")
    p.add_argument("--device", default=None)
    p.set_defaults(func=cmd_metrics)


def cmd_metrics(args: argparse.Namespace) -> int:
    from stylegen.metrics.report import evaluate_network, format_table

    if args.batch < 1:
        raise UserError(f"--batch {args.batch} must be >= 1")
    results, path = evaluate_network(
        args.network,
        args.metrics,
        data=args.data,
        labels=args.labels,
        mirror=args.mirror,
        num=args.num,
        detector_path=args.detector,
        detector_sha1=args.detector_sha1,
        lpips_path=args.lpips,
        batch_size=args.batch,
        use_cache=not args.no_cache,
        device=args.device or default_device(),
        progress=sys.stderr.isatty(),
    )
    print(format_table(results))
    print(f"appended {len(results)} line(s) to {path}")
    return 0


# ---------------------------------------------------------------------------------------------
# entry point

COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_train,
    _add_generate,
    _add_dataset,
    _add_demo,
    _add_convert,
    _add_cyclegan,
    _add_translate,
    _add_metrics,
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
    args.argv = list(sys.argv[1:] if argv is None else argv)  # relaunched by --gpus / --cpu-procs
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
    except TrainingDivergedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_DIVERGED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
