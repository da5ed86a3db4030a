"""Style control on the demo network: projection quality and speed, SeFa, mixing and
interpolation speed. Appends one section to benchmarks/RESULTS.md.

Projection (latent/project.py, the official StyleGAN2-ADA schedule, perceptual distance from
latent/perceptual.py): `--num` Fashion-MNIST *test-split* images (never seen in training: the demo
trains on the 10,000-image subset of the training split that ships with stylegen), padded to 32x32
like the built-in dataset, from the Debian package's IDX files (`--fashion-dir`; the package need
not be installed: `apt-get download dataset-fashion-mnist && dpkg -x *.deb DIR`), and the same
number of the generator's own samples (seeds 0..num-1, no truncation: the reachable upper bound),
each in W and W+, `--steps` steps. Reported: mean PSNR / SSIM of the saved uint8 projection and
the mean perceptual distance, seconds per image (targets are projected `--batch` at a time, which
changes nothing but speed), and the floor: the w_avg image against the same targets.

    PYTHONPATH=src python benchmarks/bench_latent.py --network RUN_OR_CHECKPOINT \
        --fashion-dir DIR/usr/share/datasets/fashion-mnist [--num 100] [--steps 1000]

Run it alone; the section records the load average and the busiest other processes.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from stylegen.checkpoint import load
from stylegen.latent.config import ProjectionConfig
from stylegen.latent.directions import sefa
from stylegen.latent.interpolate import interpolation_frames
from stylegen.latent.mixing import style_mix
from stylegen.latent.noise import noise_shapes
from stylegen.latent.perceptual import load_perceptual
from stylegen.latent.project import image_scores, project, w_statistics
from stylegen.latent.ws import render_ws, ws_from_seeds

RESULTS = Path(__file__).with_name("RESULTS.md")


def busy_processes(limit: int = 4) -> str:
    """The busiest other processes (command names only), for the record."""
    try:
        out = subprocess.run(
            ["ps", "-eo", "pid,pcpu,args", "--sort=-pcpu"], capture_output=True, text=True
        ).stdout.splitlines()[1:]
    except OSError:
        return "unknown"
    rows = []
    for line in out:
        pid, cpu, *cmd = line.split(None, 2)
        if int(pid) == os.getpid() or float(cpu) < 5:
            continue
        rows.append(f"{' '.join(cmd)[:60]} ({cpu}% CPU)")
        if len(rows) == limit:
            break
    return "; ".join(rows) or "none above 5% CPU"


def test_images(fashion_dir: Path, num: int) -> torch.Tensor:
    from stylegen.data.builtin import fashion_mnist_arrays

    images, _ = fashion_mnist_arrays(fashion_dir)
    if len(images) != 70000:
        raise SystemExit(f"{fashion_dir} does not hold the 70,000 Fashion-MNIST images")
    return torch.from_numpy(np.array(images[60000 : 60000 + num]))  # the test split


def project_set(G, targets, perceptual, space, steps, batch, seed) -> dict:
    scores = {"psnr": [], "ssim": [], "perceptual": []}
    t0 = time.perf_counter()
    for start in range(0, len(targets), batch):
        cfg = ProjectionConfig(space=space, steps=steps, log_every=steps, seed=seed + start)
        r = project(G, targets[start : start + batch], perceptual, cfg)
        for k in scores:
            scores[k] += r.log[-1][k]
        print(f"  {space} {start + len(r.ws)}/{len(targets)}: {time.perf_counter() - t0:.0f} s")
    seconds = time.perf_counter() - t0
    return {k: float(np.mean(v)) for k, v in scores.items()} | {"sec": seconds / len(targets)}


def generated_targets(G, num: int) -> torch.Tensor:
    """Seeds 0..num-1 as `stylegen generate` renders them; a conditional network draws class
    seed % c_dim for each (the ensembles' convention)."""
    seeds = list(range(num))
    if not G.c_dim:
        return render_ws(G, ws_from_seeds(G, seeds))
    ws = torch.empty(num, G.num_ws, G.w_dim)
    for k in range(G.c_dim):
        chosen = [s for s in seeds if s % G.c_dim == k]
        if chosen:
            ws[chosen] = ws_from_seeds(G, chosen, class_idx=k)
    return render_ws(G, ws)


def noise_sentence(G) -> str:
    if noise_shapes(G):  # the maps project() optimises
        return "The noise buffers are optimised too, with the official noise regularisation."
    return "The generator has no noise inputs (use_noise=False), so only the latent is optimised."


def floor_scores(G, targets, perceptual) -> dict:
    w_avg, _ = w_statistics(G)
    ws = w_avg.view(1, 1, -1).repeat(len(targets), G.num_ws, 1)
    s = image_scores(render_ws(G, ws), targets, perceptual)
    return {k: float(np.mean(v)) for k, v in s.items()}


def median_seconds(fn, reps: int = 3) -> float:
    fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--network", required=True)
    ap.add_argument("--fashion-dir", type=Path, default=None)
    ap.add_argument("--num", type=int, default=100)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=25)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--perceptual-size", type=int, default=64)
    ap.add_argument("--sections", default="projection,sefa,speed")
    ap.add_argument(
        "--sets", default="test,generated", help="projection targets: test and/or generated"
    )
    ap.add_argument("--note", default="", help="appended to the section (e.g. what else ran)")
    args = ap.parse_args()
    sections = set(args.sections.split(","))
    torch.set_num_threads(args.threads)
    load_before, busy = os.getloadavg()[0], busy_processes()
    G = load(args.network)
    started = time.perf_counter()
    lines = []

    if "projection" in sections:
        perceptual = load_perceptual(min_size=args.perceptual_size)
        chosen = args.sets.split(",")
        sets = {}
        if "test" in chosen:
            if args.fashion_dir is None:
                raise SystemExit("--sets test needs --fashion-dir (the Fashion-MNIST IDX files)")
            sets["Fashion-MNIST test split"] = test_images(args.fashion_dir, args.num)
        if "generated" in chosen:
            sets[f"generated (seeds 0-{args.num - 1})"] = None
        lines += [
            f"Projection: {args.num} images per set, {args.steps} steps, batches of "
            f"{args.batch}; perceptual distance: {perceptual.description}. {noise_sentence(G)}"
            + (
                " Conditional network: every projection starts from the w_avg of all classes "
                "(the floor row), so the class is not given."
                if G.c_dim
                else ""
            ),
            "",
            "| targets | space | PSNR dB | SSIM | perceptual | s / image |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for name, targets in sets.items():
            if targets is None:
                targets = generated_targets(G, args.num)
            f = floor_scores(G, targets, perceptual)
            lines.append(
                f"| {name} | w_avg (floor) | {f['psnr']:.2f} | {f['ssim']:.4f} | "
                f"{f['perceptual']:.4f} | - |"
            )
            print(lines[-1], flush=True)  # each row as it comes: a later failure loses none
            for space in ("w", "w+"):
                print(f"projecting {name} in {space}")
                s = project_set(G, targets, perceptual, space, args.steps, args.batch, 303)
                lines.append(
                    f"| {name} | {space.upper()} | {s['psnr']:.2f} | {s['ssim']:.4f} | "
                    f"{s['perceptual']:.4f} | {s['sec']:.2f} |"
                )
                print(lines[-1], flush=True)
        lines.append("")

    if "sefa" in sections:
        from stylegen.models import Generator
        from stylegen.training.stylegan_config import build_configs

        g_cfg, _ = build_configs("cifar", img_resolution=32, img_channels=3)
        G_cifar = Generator(g_cfg).eval().requires_grad_(False)
        sec = median_seconds(lambda: sefa(G_cifar))
        sec_demo = median_seconds(lambda: sefa(G))
        lines += [
            f"SeFa (all layers, eigendecomposition of A^T A): `cifar`-size generator (w_dim "
            f"{G_cifar.w_dim}, {G_cifar.num_ws} ws) {sec:.3f} s; demo generator (w_dim "
            f"{G.w_dim}) {sec_demo:.4f} s (median of 3).",
            "",
        ]

    if "speed" in sections:
        rows, cols = list(range(8)), list(range(100, 108))
        k = 0 if G.c_dim else None  # a conditional network renders one class (class 0)
        cls = None if k is None else [k]
        sec_mix = median_seconds(
            lambda: style_mix(G, rows, cols, [0, 1, 2, 3], class_idx=k, batch_size=32)
        )
        n_mix = len(rows) * len(cols) + len(rows) + len(cols)
        speed = []
        for space in ("z", "w"):
            sec = median_seconds(
                lambda space=space: interpolation_frames(
                    G, [0, 1, 2, 3], 120, space=space, loop=True, classes=cls, batch_size=32
                )
            )
            speed.append(f"{space.upper()} {120 / sec:.0f}")
        lines += [
            f"Speed on the demo generator: style mixing 8x8 grid ({n_mix} images) "
            f"{n_mix / sec_mix:.0f} images/s; interpolation (120 frames, batches of 32) "
            f"{', '.join(speed)} frames/s (median of 3; without video encoding).",
            "",
        ]

    minutes = (time.perf_counter() - started) / 60
    header = [
        f"## bench_latent.py — {datetime.datetime.now():%Y-%m-%d %H:%M}",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, {args.threads} threads, torch "
        f"{torch.__version__}; network {args.network}; {minutes:.0f} min in all. Load average "
        f"{load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end; busiest other "
        f"processes at the start: {busy}. {args.note}".rstrip(),
        "",
        f"Command: `PYTHONPATH=src python benchmarks/bench_latent.py {' '.join(sys.argv[1:])}`",
        "",
    ]
    text = "\n".join(header + lines)
    print(text)
    with open(RESULTS, "a") as f:
        f.write("\n" + text + "\n")


if __name__ == "__main__":
    main()
