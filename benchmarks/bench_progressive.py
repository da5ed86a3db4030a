"""ProGAN (Karras et al. 2018), StyleGAN (Karras et al. 2019) and the StyleGAN2 demo side by side on
Fashion-MNIST 32x32: train each CPU recipe for the same budget, then FID@2k with the demo protocol
(benchmarks/bench_demo_fid.py: 2,000 G_ema samples, noise const, no truncation, vs 2,000 training
images).

The budget is *CPU time of the training process* (time.process_time, one torch thread), not wall
time, so that runs on a shared machine compare fairly: 600 CPU-seconds is ten minutes of one
quiet core. Each run writes its G_ema checkpoint and an 8x8 sample grid (current resolution,
up-sampled) under --out and appends a row to benchmarks/RESULTS.md.

    python benchmarks/bench_progressive.py --arch progan --cpu-seconds 600
    python benchmarks/bench_progressive.py --arch stylegan1 --cpu-seconds 600
    python benchmarks/bench_progressive.py --arch stylegan2 --cpu-seconds 600   # the demo recipe
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
from pathlib import Path

import torch
from bench_demo_fid import RESULTS, fid2k, real_stats
from cpu_budget import train_for_cpu_seconds

from stylegen.images import save_image
from stylegen.metrics.features import load_detector
from stylegen.training.trainer import new_step


def build(arch: str, seed: int):
    if arch == "stylegan2":
        from stylegen.training.stylegan import STYLEGAN
        from stylegen.training.stylegan_config import DEMO_CONFIG

        cfg = dataclasses.replace(DEMO_CONFIG, threads=1, seed=seed, kimg=10_000)
        return new_step(STYLEGAN, cfg), "stylegan2 demo (cpu32, uncond)"
    from stylegen.training.progressive import PROGRESSIVE
    from stylegen.training.progressive_config import ProgressiveConfig

    cfg = ProgressiveConfig(data="fashion-mnist", arch=arch, preset="cpu32", seed=seed, kimg=1e4)
    return new_step(PROGRESSIVE, cfg), f"{arch} cpu32"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", required=True, choices=["progan", "stylegan1", "stylegan2"])
    ap.add_argument("--cpu-seconds", type=float, default=600.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/bench-progressive")
    ap.add_argument("--note", default="")
    args = ap.parse_args()
    out = Path(args.out) / args.arch
    out.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()[0]
    step, label = build(args.arch, args.seed)
    torch.set_num_threads(1)
    nimg, cpu, wall = train_for_cpu_seconds(step, args.cpu_seconds)
    load_after = os.getloadavg()[0]
    G = step.G_ema
    G.save(out / "G_ema", {"kimg": nimg / 1000, "cpu_seconds": cpu})
    save_image(step.sample_grid(), out / "samples.png")
    growth = getattr(step, "growth", None)
    where = f"lod {growth.lod:.2f} ({growth.resolution}px)" if growth is not None else "32px"

    torch.set_num_threads(2)
    detector = load_detector()
    fid = fid2k(G, real_stats(detector), detector)
    result = {
        "arch": label,
        "kimg": round(nimg / 1000, 2),
        "cpu_s": round(cpu),
        "wall_s": round(wall),
        "where": where,
        "fid2k": round(fid, 2),
        "load": [round(load_before, 1), round(load_after, 1)],
    }
    print(json.dumps(result))
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    row = (
        f"| {stamp} | {label} | {args.seed} | {cpu:.0f} | {wall:.0f} | {nimg / 1000:.1f} | "
        f"{where} | {fid:.1f} | load {load_before:.1f} -> {load_after:.1f}; {args.note} |\n"
    )
    with RESULTS.open("a") as f:
        f.write(row)


if __name__ == "__main__":
    main()
