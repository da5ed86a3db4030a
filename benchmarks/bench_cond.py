"""Class-conditional demo on a CPU-time budget: FID@2k and per-class diversity of the cpu32 recipes
(plain conditional StyleGAN2-ADA, transitional conditioning of Shahbazi et al. 2022, "Collapse by
Conditioning: Training Class-conditional GANs with Limited Data", and the unconditional demo).

Each run trains one thread for --cpu-seconds of its own CPU time (time.process_time; 600 is ten
minutes of one quiet core), then scores G_ema with the demo protocol of bench_demo_fid.py (2,000
samples, classes drawn uniformly, vs 2,000 Fashion-MNIST images). Diversity: for every class, the
mean over pixels of the per-pixel standard deviation of 100 samples (fixed z, noise const),
divided by the same figure for that class's real images; 1 = as varied as the data, near 0 = one
image per class (within-class collapse). The unconditional recipe gets the ratio over all
classes. Appends a row to benchmarks/RESULTS.md and writes samples.png (one row per class).

    python benchmarks/bench_cond.py --recipe cpu32-cond --cpu-seconds 600
    python benchmarks/bench_cond.py --recipe cond-plain --cpu-seconds 600   # collapses
    python benchmarks/bench_cond.py --recipe uncond --cpu-seconds 600
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
from pathlib import Path

import numpy as np
import torch
from bench_demo_fid import RESULTS, fid2k, real_stats
from cpu_budget import train_for_cpu_seconds

from stylegen.data import open_dataset
from stylegen.images import save_image
from stylegen.metrics.features import load_detector
from stylegen.training.stylegan import STYLEGAN
from stylegen.training.stylegan_config import DEMO_CONFIG
from stylegen.training.trainer import new_step

RECIPES = {
    # the demo as `make demo` runs it
    "demo": {},
    # transitional conditioning through the preset, ramp from the preset
    "cpu32-cond": dict(preset="cpu32-cond", cond=True),
    # StyleGAN2-ADA's conditional model from the first step: collapses within classes
    "cond-plain": dict(preset="cpu32", cond=True, cond_start_kimg=None, cond_end_kimg=None),
    "uncond": dict(preset="cpu32", cond=False),
}


@torch.no_grad()
def class_diversity(G: torch.nn.Module, n: int = 100) -> list[float]:
    """Per-class fake/real ratio of the mean per-pixel std (one value when unconditional)."""
    ds = open_dataset("fashion-mnist", use_labels=True)
    idx = np.random.default_rng(0).choice(len(ds), 5000, replace=False)
    real = np.stack([ds[i][0] for i in idx]).astype(np.float32) / 127.5 - 1
    labels = np.array([ds[i][1].argmax() for i in idx])
    gen = torch.Generator().manual_seed(777)
    if not G.c_dim:
        fake = G(torch.randn(500, G.z_dim, generator=gen), None, noise_mode="const").clamp(-1, 1)
        return [float(fake.std(0).mean() / real.std(0).mean())]
    out = []
    for k in range(G.c_dim):
        c = torch.nn.functional.one_hot(torch.full((n,), k), G.c_dim).float()
        fake = G(torch.randn(n, G.z_dim, generator=gen), c, noise_mode="const").clamp(-1, 1)
        out.append(float(fake.std(0).mean() / real[labels == k].std(0).mean()))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", default="demo", choices=list(RECIPES))
    ap.add_argument("--cpu-seconds", type=float, default=600.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--precision", default="fp32", choices=["fp32", "mixed"])
    ap.add_argument("--out", default="runs/bench-cond")
    ap.add_argument("--note", default="")
    args = ap.parse_args()
    out = Path(args.out) / args.recipe
    out.mkdir(parents=True, exist_ok=True)
    cfg = dataclasses.replace(
        DEMO_CONFIG, **RECIPES[args.recipe], threads=1, seed=args.seed, kimg=10_000
    )
    cfg = dataclasses.replace(cfg, precision=args.precision)
    load_before = os.getloadavg()[0]
    step = new_step(STYLEGAN, cfg)
    torch.set_num_threads(1)
    nimg, cpu, wall = train_for_cpu_seconds(step, args.cpu_seconds)
    load_after = os.getloadavg()[0]
    G = step.G_ema
    G.save(out / "G_ema", {"kimg": nimg / 1000, "cpu_seconds": cpu})
    save_image(step.sample_grid(), out / "samples.png")

    torch.set_num_threads(2)
    diversity = class_diversity(G)
    detector = load_detector()
    fid = fid2k(G, real_stats(detector), detector)
    result = {
        "recipe": args.recipe,
        "precision": args.precision,
        "kimg": round(nimg / 1000, 2),
        "cpu_s": round(cpu),
        "wall_s": round(wall),
        "fid2k": round(fid, 2),
        "diversity": [round(d, 3) for d in diversity],
        "load": [round(load_before, 1), round(load_after, 1)],
    }
    print(json.dumps(result))
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    div = f"{np.mean(diversity):.2f} (min {np.min(diversity):.2f})"
    row = (
        f"| {stamp} | {args.recipe} | {args.precision} | {args.seed} | {cpu:.0f} | {wall:.0f} | "
        f"{nimg / 1000:.1f} | {fid:.1f} | {div} | load {load_before:.1f} -> {load_after:.1f}; "
        f"{args.note} |\n"
    )
    with RESULTS.open("a") as f:
        f.write(row)


if __name__ == "__main__":
    main()
