"""What the style-control commands (mix, interpolate, project, directions, edit) share: the
network flags, loading a StyleGAN generator, and parsing integer lists. Imports no torch at
module level (the parsers are built for every `stylegen --help`)."""

from __future__ import annotations

import argparse

from stylegen.commands.common import pick_device
from stylegen.errors import UserError

NETWORK_HELP = "checkpoint folder, run folder (newest snapshot) or official .pkl"


def add_network_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--network", required=True, help=NETWORK_HELP)
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda if available)")


def load_generator(args: argparse.Namespace):
    """(G, device): the StyleGAN2/3 generator of --network on --device."""
    from stylegen.checkpoint import load
    from stylegen.latent.layers import family

    device = pick_device(args.device)
    G = load(args.network, device=device)
    family(G)  # a UserError for anything but a StyleGAN2/3 generator
    return G, device


def parse_ints(text: str, what: str) -> list[int]:
    """'3,5' -> [3, 5] with a one-line error naming the flag."""
    try:
        values = [int(part) for part in str(text).split(",")]
    except ValueError:
        raise UserError(f"{what} {text!r} must be integers separated by commas, e.g. 3,5") from None
    return values


def check_batch(batch: int) -> None:
    if batch < 1:
        raise UserError(f"--batch {batch} must be >= 1")
