"""`stylegen directions`: editing directions in W: SeFa (Shen & Zhou 2021, closed form from the
style-affine weights), GANSpace (Härkönen et al. 2020, PCA of sampled w) or, for a conditional
network, class directions (class mean w minus the mean over classes)."""

from __future__ import annotations

import argparse
from pathlib import Path

from stylegen.commands.common import Subparsers
from stylegen.commands.latent_common import add_network_args, load_generator
from stylegen.errors import UserError
from stylegen.latent.layers import STYLE_GROUPS_HELP

METHODS = ("sefa", "ganspace", "class")


def register(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(
        "directions",
        help="find editing directions (SeFa, GANSpace, class means)",
        description="Editing directions in W, strongest first, written as safetensors for "
        "`stylegen edit`. SeFa: eigenvectors of A^T A for the style affines A of --layers. "
        "GANSpace: principal components of --samples sampled w. class: per class, its mean w "
        "minus the mean over classes (edit with --index B --from-class A to go from A to B). "
        f"Style layers: {STYLE_GROUPS_HELP}.",
    )
    add_network_args(p)
    p.add_argument("--method", required=True, help="sefa, ganspace or class")
    p.add_argument("--out", required=True, help="output file, e.g. dirs.safetensors")
    p.add_argument(
        "--layers", default="all", help="SeFa: style layers to factorise, e.g. coarse or 0-3"
    )
    p.add_argument("--samples", type=int, default=None, help="GANSpace: 20000, class: 2000")
    p.add_argument("--components", type=int, default=None, help="GANSpace: keep the first N")
    p.add_argument("--class", dest="class_idx", type=int, default=None, help="GANSpace: class")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (GANSpace, class)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import time

    from stylegen.latent import directions as d

    method = args.method.strip().lower()
    if method not in METHODS:
        raise UserError(f"--method {args.method!r} is unknown; use {', '.join(METHODS)}")
    out = Path(args.out)
    if out.suffix != ".safetensors" or out.is_dir():
        raise UserError(f"--out {out} must be a file name ending in .safetensors")
    if method != "sefa" and args.layers != "all":
        raise UserError(f"--layers applies to SeFa; {method} looks at w itself: drop it")
    G, device = load_generator(args)
    t0 = time.perf_counter()
    network = str(args.network)
    if method == "sefa":
        result = d.sefa(G, args.layers, network=network)
    elif method == "ganspace":
        result = d.ganspace(
            G, args.samples or 20000, args.components, args.class_idx, args.seed, device, network
        )
    else:
        result = d.class_directions(G, args.samples or 2000, args.seed, device, network)
    seconds = time.perf_counter() - t0
    d.save_directions(out, result)
    top = ", ".join(f"{v:.3g}" for v in result.values[:5].tolist())
    count = len(result.vectors)
    print(f"{method}: {count} directions in {seconds:.2f} s (values {top}, ...); wrote {out}")
    return 0
