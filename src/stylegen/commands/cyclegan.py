"""`stylegen cyclegan train` / `cyclegan eval`: unpaired image-to-image translation.

`train` trains (or resumes) G_AB and G_BA, then prints the cycle PSNR/SSIM that the library's
`translate.evaluate` measures on the run; `eval` adds FID. Flag defaults and the flags that become
CycleGANConfig fields come from CycleGANConfig itself.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from stylegen.commands.common import (
    Parser,
    Subparsers,
    config_default,
    config_from_args,
    pick_device,
    refuse_flags_resume_ignores,
    with_progress,
)
from stylegen.errors import UserError
from stylegen.training.cyclegan_config import CycleGANConfig

POST_TRAINING_EVAL_NUM = 256  # images per domain for the PSNR/SSIM summary after training


def _default(name: str) -> Any:
    return config_default(CycleGANConfig, name)


def register(subparsers: Subparsers) -> None:
    p = subparsers.add_parser("cyclegan", help="unpaired image-to-image translation (CycleGAN)")
    commands = p.add_subparsers(dest="cyclegan_command", metavar="COMMAND", parser_class=Parser)
    commands.required = True
    _register_train(commands)
    _register_eval(commands)


def _register_train(commands: Subparsers) -> None:
    t = commands.add_parser("train", help="train G_AB, G_BA on two image domains")
    t.add_argument("--data-a", help="domain A: folder, .zip or built-in (fashion-mnist:sneaker)")
    t.add_argument("--data-b", help="domain B: folder, .zip or built-in (fashion-mnist:ankle-boot)")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its last snapshot")
    outdir = _default("outdir")
    t.add_argument("--outdir", default=outdir, help=f"parent folder of runs (default {outdir})")
    t.add_argument("--preset", default=_default("preset"), help="tiny, cpu32, paper128, paper256")
    t.add_argument("--epochs", type=int, default=None, help="epochs at constant lr")
    t.add_argument("--decay-epochs", type=int, default=None, help="epochs of linear lr decay")
    t.add_argument(
        "--minutes",
        type=float,
        default=None,
        help="stop after N minutes of training even before the last epoch (a snapshot is written)",
    )
    t.add_argument("--batch", type=int, default=None)
    t.add_argument("--lr", type=float, default=_default("lr"))
    t.add_argument("--lambda-cycle", type=float, default=_default("lambda_cycle"))
    t.add_argument(
        "--lambda-identity",
        type=float,
        default=_default("lambda_identity"),
        help="times --lambda-cycle",
    )
    t.add_argument(
        "--pool-size",
        type=int,
        default=_default("pool_size"),
        help="history of fakes per D (0 = off)",
    )
    t.add_argument("--load-size", type=int, default=None, help="resize to this, then crop")
    t.add_argument("--crop-size", type=int, default=None, help="training crop (image size)")
    t.add_argument("--no-flip", dest="flip", action="store_false", help="no random mirroring")
    t.add_argument("--max-size", type=int, default=None, help="use at most N images per domain")
    t.add_argument("--tick", dest="tick_kimg", type=float, default=None, help="kimg per tick")
    t.add_argument("--snap", type=int, default=_default("snap"), help="ticks between snapshots")
    t.add_argument("--seed", type=int, default=_default("seed"))
    t.add_argument("--device", default=None)
    t.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    t.set_defaults(func=run, cyclegan_train_parser=t)


def _register_eval(commands: Subparsers) -> None:
    e = commands.add_parser("eval", help="cycle PSNR/SSIM and FID of translations")
    e.add_argument("--network", required=True, help="CycleGAN run or snapshot folder")
    e.add_argument("--data-a", default=None, help="domain A (default: the run's)")
    e.add_argument("--data-b", default=None, help="domain B (default: the run's)")
    e.add_argument("--num", type=int, default=1000, help="images per domain (default 1000)")
    e.add_argument("--no-fid", dest="fid", action="store_false", help="PSNR/SSIM only")
    e.add_argument("--detector", default=None, help="local FID Inception weights file")
    e.add_argument("--device", default=None)
    e.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return {"train": run_train, "eval": run_eval}[args.cyclegan_command](args)


# ---------------------------------------------------------------------------------------------
# cyclegan train


def run_train(args: argparse.Namespace) -> int:
    from stylegen.training.cyclegan import resume_cyclegan, train_cyclegan  # on use: torch

    if args.resume:
        parser = args.cyclegan_train_parser
        ignored = {a.dest for a in parser._actions} - {"help", "resume", *RESUME_FLAGS}
        refuse_flags_resume_ignores(parser, args, ignored, RESUME_FLAGS)
        snap = with_progress(
            lambda cb: resume_cyclegan(
                args.resume,
                cb,
                args.epochs,
                args.decay_epochs,
                args.minutes,
                device=args.device,
                threads=args.threads,
            )
        )
    else:
        cfg = make_config(args, pick_device(args.device))
        snap = with_progress(lambda cb: train_cyclegan(cfg, cb))
    _print_summary(snap)
    return 0


# What `cyclegan train --resume` takes from the command line: a longer schedule, a new time
# budget, another machine; the run keeps its other options.
RESUME_FLAGS = ("epochs", "decay_epochs", "minutes", "device", "threads")


def make_config(args: argparse.Namespace, device: str) -> CycleGANConfig:
    """The CycleGANConfig of a new run: every flag that names a field, and `device`."""
    if not args.data_a or not args.data_b:
        raise UserError(
            "--data-a and --data-b are required (folders, .zips, or built-in classes such "
            "as fashion-mnist:sneaker and fashion-mnist:ankle-boot)"
        )
    return config_from_args(CycleGANConfig, args, device=device)


def _print_summary(snap: Path) -> None:
    """Where the samples, checkpoint and loss plot are, and the run's cycle PSNR/SSIM."""
    from stylegen.translate import evaluate, run_options

    options = run_options(snap)
    scores = evaluate(
        snap, options["data_a"], options["data_b"], num=POST_TRAINING_EVAL_NUM, fid=False
    )
    print(f"samples:    {snap / 'samples.png'} (rows: A | A->B | A->B->A | B | B->A | B->A->B)")
    print(f"checkpoint: {snap} (G_AB/, G_BA/)")
    print(f"loss plot:  {snap.parent / 'losses.png'}")
    # the domains may hold fewer images than POST_TRAINING_EVAL_NUM: say how many were scored
    counts = f"{scores['num_a']:.0f} A / {scores['num_b']:.0f} B images"
    print(f"cycle PSNR/SSIM ({counts}): " + _format_scores(scores))
    print(f"next: stylegen translate --network {snap} --direction a2b --input IMAGES --outdir OUT")
    print(f"      stylegen cyclegan eval --network {snap.parent}  (adds FID)")


def _format_scores(scores: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in scores.items() if not k.startswith("num_"))


# ---------------------------------------------------------------------------------------------
# cyclegan eval


def run_eval(args: argparse.Namespace) -> int:
    from stylegen.translate import evaluate, run_options

    device = pick_device(args.device)
    if args.num < 1:
        raise UserError(f"--num {args.num} must be >= 1")
    data_a, data_b = args.data_a, args.data_b
    if data_a is None or data_b is None:
        options = run_options(args.network)
        data_a, data_b = data_a or options["data_a"], data_b or options["data_b"]
    scores = evaluate(
        args.network,
        data_a,
        data_b,
        num=args.num,
        fid=args.fid,
        detector=_fid_detector(args, device),
        device=device,
    )
    print(json.dumps({"network": str(args.network), "data_a": data_a, "data_b": data_b, **scores}))
    return 0


def _fid_detector(args: argparse.Namespace, device: str):
    """The Inception network for FID, or None with --no-fid."""
    if not args.fid:
        return None
    from stylegen.metrics import load_detector

    return load_detector(args.detector, device=device)
