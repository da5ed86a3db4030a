"""Transfer learning measured: fine-tuning a pretrained StyleGAN2 (`stylegen train --init`) against
training from scratch on a small dataset, at equal kimg (issue 18; FreezeD, Mo et al. 2020, and
the official `--resume` workflow of StyleGAN2-ADA, Karras et al. 2020).

1. Pretrain the recipe on one group of Fashion-MNIST classes (default: the tops, T-shirt/top,
   pullover, coat, shirt; all ~28,000 of them) for --pretrain-kimg, or reuse --pretrained RUN.
2. On a small set of another group (default: 1,000 random sandals, sneakers and ankle boots),
   train two runs side by side, one thread each, for --kimg: one `--init` from the pretrained
   run, one from scratch with the same preset and seed. Snapshots every --every kimg.
3. FID@2k of every snapshot's G_ema (2,000 samples, noise const) against 2,000 images of the whole
   target group (of its ~21,000, most never in the small training set), and of the starting
   points (the pretrained generator; a fresh one for scratch). Plot both curves.

All training goes through the CLI, exactly as a user would type it (the commands are printed).

    python benchmarks/bench_transfer.py --pretrain-kimg 20 --kimg 8 --every 2

Writes docs/transfer.png (the curves) and appends a table to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch
from bench_demo_fid import NUM, RESULTS, fid2k, real_stats

import stylegen
from stylegen.metrics.features import load_detector

ROOT = Path(__file__).resolve().parents[1]
TOPS = "t-shirt-top,pullover,coat,shirt"
SHOES = "sandal,sneaker,ankle-boot"


def run_cli(args: list[str], log: Path) -> subprocess.Popen:
    """Start `stylegen ARGS` with one torch thread; its output goes to `log`."""
    cmd = [sys.executable, "-m", "stylegen", *args]
    print("$ stylegen " + " ".join(args), flush=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env)


def wait_all(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.wait() != 0:
            raise SystemExit(f"a training run failed (exit {p.returncode}); see its log")


def newest_run(outdir: Path) -> Path:
    runs = sorted(p for p in outdir.iterdir() if (p / "training_options.json").is_file())
    if not runs:
        raise SystemExit(f"no run folder in {outdir}")
    return runs[-1]


def snapshots(run: Path) -> list[Path]:
    return sorted(p for p in run.iterdir() if p.name.startswith("snapshot-"))


def train_runs(args, out: Path, common: list[str], t0: float) -> tuple[Path, float]:
    """Pretrain (unless --pretrained), then the fine-tuned and the scratch run side by side."""
    if args.pretrained:
        source = Path(args.pretrained)
    else:
        data = f"fashion-mnist:{args.source_classes}"
        wait_all(
            [
                run_cli(
                    ["train", "--data", data, "--outdir", str(out / "pretrain"), *common,
                     "--kimg", str(args.pretrain_kimg), "--snap", "100"],
                    out / "pretrain.log",
                )
            ]
        )  # fmt: skip
        source = newest_run(out / "pretrain")

    small = [
        "--data",
        f"fashion-mnist:{args.target_classes}",
        "--max-size",
        str(args.target_size),
        "--kimg",
        str(args.kimg),
        "--snap",
        str(args.every),
        *common,
    ]
    finetune = ["train", *small, "--outdir", str(out / "finetune"), "--init", str(source)]
    if args.freeze_d:
        finetune += ["--freeze-d", str(args.freeze_d)]
    scratch = ["train", *small, "--outdir", str(out / "scratch")]
    wait_all([run_cli(finetune, out / "finetune.log"), run_cli(scratch, out / "scratch.log")])
    return source, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source-classes", default=TOPS)
    ap.add_argument("--target-classes", default=SHOES)
    ap.add_argument("--target-size", type=int, default=1000, help="images in the small set")
    ap.add_argument("--preset", default="cpu32")
    ap.add_argument("--pretrain-kimg", type=float, default=20.0)
    ap.add_argument("--pretrained", default=None, help="reuse this run folder as the source")
    ap.add_argument("--kimg", type=float, default=8.0, help="kimg of each small-set run")
    ap.add_argument("--every", type=int, default=2, help="snapshot every N kimg (ticks of 1)")
    ap.add_argument("--freeze-d", type=int, default=0)
    ap.add_argument("--out", default="runs/bench-transfer")
    ap.add_argument("--plot", default=str(ROOT / "docs" / "transfer.png"))
    ap.add_argument("--num", type=int, default=NUM, help="images per FID side (2,000: FID@2k)")
    ap.add_argument("--score-only", action="store_true", help="reuse the runs already in --out")
    ap.add_argument("--marks", default=None, help="score only snapshots at these kimg, e.g. 2,10")
    ap.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    common = ["--preset", args.preset, "--threads", "1", "--tick", "1", "--seed", "0"]
    t0 = time.perf_counter()

    if args.score_only:
        source = Path(args.pretrained) if args.pretrained else newest_run(out / "pretrain")
        train_wall = 0.0
    else:
        source, train_wall = train_runs(args, out, common, t0)
    torch.set_num_threads(2)
    detector = load_detector()
    real = real_stats(detector, args.num, f"fashion-mnist:{args.target_classes}")
    curves: dict[str, list[tuple[float, float]]] = {}
    marks = {int(m) for m in args.marks.split(",")} if args.marks else None
    start = stylegen.load(source)
    curves["fine-tuned (--init)"] = [(0.0, fid2k(start, real, detector, args.num))]
    fresh_run = newest_run(out / "scratch")
    curves["from scratch"] = []
    for name, run in (
        ("fine-tuned (--init)", newest_run(out / "finetune")),
        ("from scratch", fresh_run),
    ):
        for snap in snapshots(run):
            G = stylegen.load(snap)
            kimg = float(G.checkpoint_metadata.get("kimg", 0))
            if marks is not None and round(kimg) not in marks:
                continue
            curves[name].append((kimg, fid2k(G, real, detector, args.num)))
            row = {"run": name, "snapshot": snap.name, "fid2k": round(curves[name][-1][1], 2)}
            print(json.dumps(row), flush=True)
    plot(curves, Path(args.plot), args)
    if not args.no_record:
        record(curves, args, source, train_wall)


def plot(curves: dict[str, list[tuple[float, float]]], path: Path, args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    for name, pts in curves.items():
        ax.plot([k for k, _ in pts], [f for _, f in pts], marker="o", label=name)
    ax.set_xlabel(f"kimg on {args.target_size} images of {args.target_classes}")
    ax.set_ylabel(f"FID@2k vs {args.target_classes}")
    ax.set_title(f"{args.preset}: fine-tuning from {args.source_classes} vs scratch", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    print(f"wrote {path}")


def record(curves, args, source: Path, train_wall: float) -> None:
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    kimgs = sorted({round(k, 1) for pts in curves.values() for k, _ in pts})
    lines = [
        f"\n## bench_transfer.py — {stamp} ({args.preset}, {args.target_size} images of "
        f"{args.target_classes}, source {source}, freeze-d {args.freeze_d}; "
        + (f"training wall {train_wall / 60:.1f} min, " if train_wall else "scored afterwards, ")
        + "1 thread per run, two runs side by side)\n",
        "| run | " + " | ".join(f"{k} kimg" for k in kimgs) + " |",
        "|---|" + "---:|" * len(kimgs),
    ]
    for name, pts in curves.items():
        by_k = {round(k, 1): f for k, f in pts}
        lines.append(
            f"| {name} | " + " | ".join(f"{by_k[k]:.1f}" if k in by_k else "" for k in kimgs) + " |"
        )
    with RESULTS.open("a") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
