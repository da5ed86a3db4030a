"""Training speed: seconds per kimg of the full training step (all phases, ADA, EMA) per preset.

Runs `Trainer.train_step` on built-in Fashion-MNIST (32x32, 1 channel; `--data` to change) for
each preset at its default batch, after warm-up steps, and reports the median step time as
sec/kimg. Appends the table to benchmarks/RESULTS.md.

    python benchmarks/bench_train.py [--presets tiny,cpu32] [--steps 10] [--device cpu]
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import time
from pathlib import Path

import torch

from stylegen.training.stylegan import STYLEGAN
from stylegen.training.stylegan_config import TrainConfig
from stylegen.training.trainer import new_step

RESULTS = Path(__file__).with_name("RESULTS.md")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default="tiny,cpu32")
    ap.add_argument("--data", default="fashion-mnist")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--note", default="")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for preset in args.presets.split(","):
        cfg = TrainConfig(
            data=args.data, preset=preset, cond=True, kimg=1000, max_size=2000, device=args.device
        )
        step = new_step(STYLEGAN, cfg)
        for i in range(args.warmup):
            step.train_step(i * step.batch, i)
        times = []
        for i in range(args.warmup, args.warmup + args.steps):
            t = time.perf_counter()
            step.train_step(i * step.batch, i)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t)
        batch = step.batch
        step_sec = statistics.median(times)
        rows.append((preset, batch, step_sec, step_sec / batch * 1000))
        print(
            f"{preset:10s} batch {batch:3d}  {step_sec * 1000:8.0f} ms/step  "
            f"{step_sec / batch * 1000:8.1f} sec/kimg",
            flush=True,
        )
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    lines = [
        f"\n## bench_train.py — {stamp}\n",
        f"Machine: {platform.processor() or platform.machine()}, device {args.device}, "
        f"{args.threads} threads, torch {torch.__version__}, data {args.data} (conditional), "
        f"median of {args.steps} steps after {args.warmup} warm-up. {args.note}\n",
        "| preset | batch | ms/step | sec/kimg |",
        "|---|---:|---:|---:|",
    ] + [f"| {p} | {b} | {s * 1000:.0f} | {k:.1f} |" for p, b, s, k in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    with RESULTS.open("a") as f:
        f.write(text)


if __name__ == "__main__":
    main()
