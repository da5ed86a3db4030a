"""Benchmark: FID Inception feature extraction speed (images/s) on this machine.

Measures the whole per-batch path of stylegen.metrics (uint8 256x256 images → TF1 bilinear resize
to 299 → (x-128)/128 → Inception-v3 pool3 features), in inference mode with channels-last
tensors, for the packaged TorchScript network and for the same weights in our pure-PyTorch
FIDInceptionV3. Appends one row per variant to benchmarks/RESULTS.md.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_metrics.py [--batch 16] [--batches 3]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from stylegen.metrics.features import InceptionFeatures, load_detector

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
HEADER = (
    "\n## Metrics: FID Inception feature extraction (benchmarks/bench_metrics.py)\n\n"
    "Input: uint8 3x256x256 images, resized to 299 (TF1 bilinear), Inception-v3 pool3 features.\n\n"
    "| date | machine | torch | variant | batch | threads | img/s | notes |\n"
    "|---|---|---|---|---|---|---|---|\n"
)


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores"


def images_per_second(detector: InceptionFeatures, batch: int, batches: int) -> float:
    images = np.random.default_rng(0).integers(0, 256, size=(batch, 3, 256, 256), dtype=np.uint8)
    for _ in range(2):  # warm-up: TorchScript profiling runs and oneDNN primitive creation
        detector(images)
    start = time.perf_counter()
    for _ in range(batches):
        detector(images)
    return batch * batches / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--batches", type=int, default=3, help="timed batches per variant")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    load_before = os.getloadavg()[0]
    scripted = load_detector(eager=False)
    eager = load_detector()
    rows = []
    for name, det in (("TorchScript default_1.pt", scripted), ("eager FIDInceptionV3", eager)):
        rate = images_per_second(det, args.batch, args.batches)
        print(f"{name}: {rate:.2f} img/s (batch {args.batch}, {args.threads} threads)")
        rows.append((name, rate))
    load_after = os.getloadavg()[0]
    note = f"load avg {load_before:.1f} before / {load_after:.1f} after"
    if max(load_before, load_after) > 0.5:
        note += "; CPU shared with other processes"
    if args.no_write:
        return
    date = datetime.date.today().isoformat()
    new_rows = [
        f"| {date} | {machine()} | {torch.__version__} | {name} | {args.batch} | "
        f"{args.threads} | {rate:.2f} | {note} |"
        for name, rate in rows
    ]
    RESULTS.write_text(append_rows(RESULTS.read_text() if RESULTS.exists() else "", new_rows))
    print(f"appended {len(new_rows)} rows to {RESULTS}")


def append_rows(text: str, rows: list[str]) -> str:
    """Add rows at the end of this benchmark's table, creating the section if needed."""
    if HEADER.strip() not in text:
        text = (text.rstrip("\n") or "# Benchmark results") + "\n" + HEADER
    lines = text.split("\n")
    i = lines.index(HEADER.strip().split("\n")[0])  # this section's heading
    while not lines[i].startswith("|---"):
        i += 1
    i += 1
    while i < len(lines) and lines[i].startswith("|"):
        i += 1
    return "\n".join(lines[:i] + rows + lines[i:])


if __name__ == "__main__":
    main()
