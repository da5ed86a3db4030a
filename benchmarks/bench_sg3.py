"""StyleGAN3 generator speed: G forward images/s (no gradients) for stylegan3-t.

Default: the paper's stylegan3-t network at 32x32 (channel_base 32768, channel_max 512, z/w 512),
batch 4, 2 threads: after a warm-up, the median of `--reps` timings of G(z). Multiply-accumulates
per image are counted with torch.utils.flop_counter (the official code needs 79.3 GMAC per image
at this size and measured 0.18 img/s on the 2-core CPU the project targets).

    python benchmarks/bench_sg3.py [--arch stylegan3-t] [--resolution 32] [--batch 4] [--reps 5]

Prints one line; the lead copies measured numbers into RESULTS.md.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from stylegen.training.stylegan_config import stylegan3_config


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="stylegan3-t", choices=["stylegan3-t", "stylegan3-r"])
    ap.add_argument("--resolution", type=int, default=32)
    ap.add_argument("--channel-base", type=int, default=32768)
    ap.add_argument("--channel-max", type=int, default=512)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    from stylegen.models.stylegan3 import Generator

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = stylegan3_config(
        args.arch,
        img_resolution=args.resolution,
        channel_base=args.channel_base,
        channel_max=args.channel_max,
    )
    G = Generator(cfg).eval().requires_grad_(False)
    z = torch.randn(args.batch, G.z_dim)

    def forward() -> torch.Tensor:
        with torch.no_grad():
            return G(z)

    with FlopCounterMode(display=False) as counter:
        forward()
    gmac = counter.get_total_flops() / 2 / args.batch / 1e9
    times = []
    for _ in range(args.reps):
        t = time.perf_counter()
        forward()
        times.append(time.perf_counter() - t)
    sec = statistics.median(times)
    print(
        f"{args.arch} {args.resolution}x{args.resolution} cbase {args.channel_base} "
        f"batch {args.batch} threads {args.threads}: {args.batch / sec:.3f} img/s "
        f"({sec:.2f} s/batch, median of {args.reps}; {gmac:.1f} GMAC/img counted)"
    )


if __name__ == "__main__":
    main()
