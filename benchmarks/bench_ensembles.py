"""Ensembles against their members on Fashion-MNIST 32x32: three runs of one recipe with
different seeds, their mixture (`stylegen ensemble`, equal weights) and the average of the last
five snapshots of the first run (`stylegen average`), scored by FID@2k and precision/recall (k = 3)
as benchmarks/bench_families.py scores the families (its recipes and network choice are reused).

Each run trains through its family's step (`trainer.new_step`) for `--minutes` of CPU time
(time.process_time, so a shared machine does not shorten the budget); the first run keeps a
snapshot every `--minutes / 10` of CPU time in a run folder, so the average covers its last half.
Generated images come from seeds 0 .. N-1 (stylegen.generate's z per seed): the mixture's image for
seed s is the chosen member's image for seed s, so the mixture's features are the members'
features picked per seed, without running the detector again (the same images, not an estimate).

    PYTHONPATH=src .venv/bin/python benchmarks/bench_ensembles.py [--recipe dcgan|stylegan2]
        [--minutes 3] [--num 2000] [--outdir runs/bench_ensembles]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_families import _networks, _setup  # noqa: E402  (the families' recipes)

from stylegen import runs  # noqa: E402
from stylegen.checkpoint import load  # noqa: E402
from stylegen.data import open_dataset  # noqa: E402
from stylegen.ensembles import average_snapshots, write_ensemble  # noqa: E402
from stylegen.generate import z_from_seeds  # noqa: E402
from stylegen.images import float_to_uint8  # noqa: E402
from stylegen.metrics.compute import (  # noqa: E402
    compute_features_for_dataset,
    compute_features_for_generator,
)
from stylegen.metrics.features import load_detector  # noqa: E402
from stylegen.metrics.fid import frechet_distance  # noqa: E402
from stylegen.metrics.pr import precision_recall  # noqa: E402
from stylegen.metrics.stats_cache import FeatureStats  # noqa: E402
from stylegen.training.trainer import new_step  # noqa: E402

SEEDS = (0, 1, 2)
SNAPSHOTS = 5


def train_member(recipe: str, seed: int, minutes: float, outdir: Path, keep: bool) -> Path:
    """Train one run; save its network (and, with `keep`, snapshots in a run folder)."""
    family, cfg = _setup(recipe, threads=1)
    step = new_step(family, dataclasses.replace(cfg, seed=seed))
    run = outdir / f"run{seed}"
    run.mkdir(parents=True, exist_ok=True)
    (run / runs.OPTIONS_FILE).write_text("{}\n")  # a run folder, for `average`
    budget, every = minutes * 60, minutes * 6
    start, i, next_snap = time.process_time(), 0, minutes * 6
    while (used := time.process_time() - start) < budget:
        step.train_step(i * step.batch, i)
        i += 1
        if keep and used >= next_snap:
            G, _ = _networks(step)
            G.save(run / runs.snapshot_name(i * step.batch), {"kimg": i * step.batch / 1000})
            next_snap += every
    G, _ = _networks(step)
    return G.save(outdir / f"member{seed}", {"kimg": i * step.batch / 1000})


def seed_features(G: torch.nn.Module, num: int, detector) -> np.ndarray:
    """Detector features [num, D] of the images of seeds 0 .. num - 1."""

    def sample(n: int, start: int) -> torch.Tensor:
        seeds = list(range(start, start + n))
        z = z_from_seeds(seeds, G.z_dim)
        c = None
        if G.c_dim:
            c = torch.nn.functional.one_hot(torch.tensor(seeds) % G.c_dim, G.c_dim).float()
        with torch.no_grad():
            return float_to_uint8(G(z, c, noise_mode="const"))

    return compute_features_for_generator(
        sample, num, 50, detector, capture_all=True
    ).all_features()


def scores(fake: np.ndarray, real: FeatureStats) -> dict[str, float]:
    stats = FeatureStats(capture_all=True)
    stats.append(fake)
    fid = frechet_distance(*stats.mean_cov(), *real.mean_cov())
    precision, recall = precision_recall(real.all_features(), fake, k=3)
    return {"fid": fid, "precision": precision, "recall": recall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", default="dcgan", help="dcgan (cpu32) or stylegan2 (make demo)")
    ap.add_argument("--minutes", type=float, default=3.0, help="CPU minutes per run")
    ap.add_argument("--num", type=int, default=2000, help="images per FID / PR")
    ap.add_argument("--outdir", default="runs/bench_ensembles")
    ap.add_argument("--members", default=None, help="score these networks instead of training")
    ap.add_argument("--average-run", default=None, help="with --members: run folder to average")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    outdir = Path(args.outdir)
    if args.members:
        members = [Path(m) for m in args.members.split(",")]
        avg_run = Path(args.average_run) if args.average_run else None
        names = [f"member {m}" for m in members]
    else:
        members = [train_member(args.recipe, s, args.minutes, outdir, s == SEEDS[0]) for s in SEEDS]
        avg_run = outdir / f"run{SEEDS[0]}"
        names = [f"run seed {s}" for s in SEEDS]
    ens = write_ensemble(members, [1.0] * len(members), outdir / "ensemble")
    avg = average_snapshots(avg_run, SNAPSHOTS, outdir / "average") if avg_run else None

    detector = load_detector()
    real = compute_features_for_dataset(
        open_dataset("fashion-mnist"), detector, max_items=args.num, capture_all=True
    )
    feats = [seed_features(load(m), args.num, detector) for m in members]
    mixture = load(ens)
    which = mixture.member_of(z_from_seeds(list(range(args.num)), mixture.z_dim)).numpy()
    mixed = np.stack([feats[k][s] for s, k in enumerate(which)])
    rows = [(name, scores(f, real)) for name, f in zip(names, feats)]
    rows.append((f"mixture of the {len(members)} (equal weights)", scores(mixed, real)))
    if avg is not None:
        rows.append(
            (
                f"average of {avg_run}'s last {SNAPSHOTS} snapshots",
                scores(seed_features(load(avg), args.num, detector), real),
            )
        )
    lines = [
        f"## bench_ensembles.py — {datetime.datetime.now():%Y-%m-%d %H:%M} ({platform.machine()}, "
        f"torch {torch.__version__}, "
        + (f"{args.recipe}, {args.minutes:g} CPU min per run, " if not args.members else "")
        + f"{args.threads} thread(s), "
        f"load avg {os.getloadavg()[0]:.1f})",
        "",
        f"| network | FID@{args.num // 1000}k | precision | recall |",
        "|---|---:|---:|---:|",
    ]
    lines += [
        f"| {n} | {r['fid']:.1f} | {r['precision']:.3f} | {r['recall']:.3f} |" for n, r in rows
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
