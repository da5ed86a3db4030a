"""Training speed: seconds per kimg of the full training step (all phases, ADA, EMA) per preset.

Runs `Trainer.train_step` for each preset (and precision) at its default batch after warm-up
steps, on built-in Fashion-MNIST (32x32, 1 channel) or `--data synthetic`: random 3-channel images
at the preset's own resolution (paper256 needs 256x256 data; the speed does not depend on the
pixels). Reports the median step time and, over all timed steps (so the periodic R1 and
path-length steps count), sec/kimg, kimg/s and images/s. CUDA is synchronised before every timer
read. A configuration that fails (e.g. CUDA out of memory) is reported in one line and the others
still run. Appends the table to benchmarks/RESULTS.md unless --no-append; --table FILE also writes
it to FILE (rewritten after every configuration, so a killed run keeps the finished rows).

    python benchmarks/bench_train.py [--presets tiny,cpu32] [--steps 10] [--device cpu]
    python benchmarks/bench_train.py --presets cifar,paper256 --precision fp32,mixed \
        --data synthetic --device cuda --seconds 20 --no-append --table gpu_table.md
"""

from __future__ import annotations

import argparse
import datetime
import gc
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from stylegen.data.datasets import InMemoryDataset
from stylegen.training.stylegan import STYLEGAN
from stylegen.training.stylegan_config import TrainConfig, get_preset
from stylegen.training.trainer import new_step

RESULTS = Path(__file__).with_name("RESULTS.md")
SYNTHETIC_IMAGES = 256
SYNTHETIC_CLASSES = 10


def synthetic_data(resolution: int) -> InMemoryDataset:
    """Random uint8 RGB images with random class labels, `resolution` x `resolution`."""
    rng = np.random.default_rng(0)
    shape = (SYNTHETIC_IMAGES, 3, resolution, resolution)
    images = rng.integers(0, 256, size=shape, dtype=np.uint8)
    labels = rng.integers(0, SYNTHETIC_CLASSES, size=SYNTHETIC_IMAGES).astype(np.int64)
    classes = [f"class{i}" for i in range(SYNTHETIC_CLASSES)]
    return InMemoryDataset(
        f"synthetic{resolution}", images, labels, class_names=classes, use_labels=True
    )


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return platform.processor() or platform.machine()


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(torch.device(device))


def measure(args: argparse.Namespace, preset: str, precision: str | None) -> dict:
    """Build the step, warm up, time it; returns one table row."""
    cfg = TrainConfig(
        data=args.data,
        preset=preset,
        cond=True,
        kimg=1000,
        max_size=2000,
        device=args.device,
        precision=precision,
        batch=args.batch,
    )
    data = None
    if args.data == "synthetic":
        data = synthetic_data(get_preset(preset).resolution or 32)
    step = new_step(STYLEGAN, cfg, data)
    batch = step.batch
    for i in range(args.warmup):
        step.train_step(i * batch, i)
    times = []
    skipped = 0
    i = args.warmup
    sync(args.device)
    start = time.perf_counter()
    while True:
        t = time.perf_counter()
        skipped += step.train_step(i * batch, i)
        sync(args.device)
        now = time.perf_counter()
        times.append(now - t)
        i += 1
        if (args.seconds and now - start >= args.seconds) or (
            not args.seconds and len(times) >= args.steps
        ):
            break
    total = time.perf_counter() - start
    images = len(times) * batch
    return dict(
        preset=preset,
        precision=step.precision,
        batch=batch,
        steps=len(times),
        ms_step=statistics.median(times) * 1000,
        sec_kimg=total / images * 1000,
        kimg_s=images / total / 1000,
        img_s=images / total,
        skipped=skipped,
    )


def table(args: argparse.Namespace, rows: list[dict], gpu: str) -> str:
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    window = f"{args.seconds:g} s timed window" if args.seconds else f"{args.steps} timed steps"
    tf32 = ""
    if args.device.startswith("cuda"):
        tf32 = (
            f", CUDA {torch.version.cuda}, cuDNN TF32 {torch.backends.cudnn.allow_tf32}, "
            f"matmul TF32 {torch.backends.cuda.matmul.allow_tf32}"
        )
    lines = [
        f"\n## bench_train.py — {stamp}\n",
        f"Machine: {platform.machine()}, device {args.device} ({gpu}), {args.threads} threads, "
        f"torch {torch.__version__}{tf32}, data {args.data} (conditional), {window} after "
        f"{args.warmup} warm-up steps; ms/step is the median step, sec/kimg, kimg/s and images/s "
        f"the mean over the timed steps (R1 and path-length steps included). {args.note}".rstrip()
        + "\n",
        "| preset | precision | batch | steps | ms/step | sec/kimg | kimg/s | images/s | device |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(
                f"| {r['preset']} | {r['precision']} | | | failed: {r['error']} | | | | {gpu} |"
            )
        else:
            lines.append(
                f"| {r['preset']} | {r['precision']} | {r['batch']} | {r['steps']} | "
                f"{r['ms_step']:.0f} | {r['sec_kimg']:.2f} | {r['kimg_s']:.3f} | "
                f"{r['img_s']:.1f} | {gpu} |"
            )
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default="tiny,cpu32")
    ap.add_argument(
        "--precision",
        default="preset",
        help="comma-separated fp32 / mixed, each run for every preset; 'preset': its own",
    )
    ap.add_argument("--data", default="fashion-mnist", help="a dataset, or 'synthetic'")
    ap.add_argument("--batch", type=int, default=None, help="default: the preset's")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument(
        "--seconds", type=float, default=0, help="time the steps that fit in S s instead"
    )
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--note", default="")
    ap.add_argument("--table", type=Path, default=None, help="also write the table here")
    ap.add_argument("--no-append", action="store_true", help="leave RESULTS.md alone")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    gpu = device_name(args.device)
    precisions = [None if p == "preset" else p for p in args.precision.split(",")]
    rows: list[dict] = []
    for preset in args.presets.split(","):
        for precision in precisions:
            label = f"{preset} {precision or 'preset default'}"
            try:
                r = measure(args, preset, precision)
            except Exception as exc:  # e.g. torch.cuda.OutOfMemoryError: report, go on
                first = (str(exc).splitlines() or [""])[0][:160]
                reason = f"{type(exc).__name__}: {first}"
                print(f"FAILED {label}: {reason}", flush=True)
                r = dict(preset=preset, precision=precision or "preset", error=type(exc).__name__)
            else:
                print(
                    f"{preset:10s} {r['precision']:5s} batch {r['batch']:3d}  "
                    f"{r['ms_step']:8.0f} ms/step  {r['sec_kimg']:8.2f} sec/kimg  "
                    f"{r['kimg_s']:7.3f} kimg/s  {r['img_s']:8.1f} img/s  ({r['steps']} steps"
                    f"{', ' + str(r['skipped']) + ' skipped' if r['skipped'] else ''})",
                    flush=True,
                )
            rows.append(r)
            gc.collect()  # the failed step's tensors, before the next configuration
            if args.device.startswith("cuda"):
                torch.cuda.empty_cache()
            if args.table:
                args.table.write_text(table(args, rows, gpu))
    text = table(args, rows, gpu)
    print(text)
    if not args.no_append:
        with RESULTS.open("a") as f:
            f.write(text)
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
