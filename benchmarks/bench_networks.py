"""Network speed: generator forward and one Gmain+Dmain training iteration, images/s.

For each preset (default: cifar, cpu32) at batch 32 on N threads, after `--warmup` untimed calls
(use 3 or more for a fair ratio: the first iterations after building a network run at about half
speed in both implementations), the median of `--reps` timings of (a) G forward without
gradients and (b) one training iteration: G forward, non-saturating G loss backward through D
and G, Adam step on G, then D logistic loss on detached fakes and reals, backward, Adam step on
D. Achieved GFLOP/s are shown next to the measured fp32 matmul peak. FLOPs are what the maths
needs (stylegen/flops.py: counted from the layer shapes, the same figure for every
implementation of the same config; a training iteration is 4 F_G + 8 F_D), so two
implementations' GFLOP/s compare like their images/s. The peak is the best of several large
square matmuls on the same threads.

With `--profile`, one more table says where each implementation's training iteration spends its
time (torch.profiler self time: convolutions forward and backward, matmuls, Adam, all else) and
how fast its convolutions alone run (FLOPs from torch's counter for those calls). The time of
our convolutions alone bounds our iteration from below, so the official iteration time divided
by it is the most any rewrite of the non-convolution work could reach without faster
convolutions or different maths.

With `--nvlabs PATH` (a local checkout of NVlabs/stylegan2-ada-pytorch, never shipped here) the
official networks are timed the same way in the same process, for a side-by-side ratio.

    python benchmarks/bench_networks.py [--presets cifar,cpu32] [--warmup 3] [--nvlabs PATH]

The table is printed and appended to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from bench_metrics import machine
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

from stylegen.flops import count_forward_flops, training_iteration_flops
from stylegen.models import Discriminator, Generator, set_reduced_precision
from stylegen.training.stylegan_config import build_configs

RESULTS = Path(__file__).with_name("RESULTS.md")
KINDS = ("conv", "matmul", "adam", "other")  # --profile's kinds of work


def class_count(preset: str) -> int:
    """Conditioning labels the benchmark feeds a preset: CIFAR-10's ten classes for `cifar`."""
    return 10 if preset == "cifar" else 0


def publish(lines: list[str]) -> None:
    """Print a results section and append it to benchmarks/RESULTS.md."""
    text = "\n".join(lines) + "\n"
    print(text)
    with RESULTS.open("a") as f:
        f.write(text)


def median_time(fn, reps: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def matmul_peak(sizes: tuple[int, ...] = (1024, 2048, 3072, 4096), reps: int = 5) -> float:
    """fp32 GFLOP/s of the fastest large square matmul: the machine's practical ceiling.

    The best (not the median) of each size: the ceiling is what the hardware reaches when
    nothing interferes, and a single size can miss the library's best blocking.
    """
    best = 0.0
    for n in sizes:
        a, b = torch.randn(n, n), torch.randn(n, n)
        a @ b
        for _ in range(reps):
            t = time.perf_counter()
            a @ b
            best = max(best, 2 * n**3 / (time.perf_counter() - t) / 1e9)
    return best


def maths_flops(G, D, z, c, real) -> tuple[float, float]:
    """(G forward, Gmain+Dmain iteration) FLOPs of one batch, from stylegen's copy of the
    networks' config: the count depends on the config only, whichever code runs it."""
    g_fwd = count_forward_flops(G, z, c).total
    d_fwd = count_forward_flops(D, real, c).total
    return g_fwd, training_iteration_flops(g_fwd, d_fwd)


def make_forward(G, z, c, **kw):
    def fwd():
        with torch.no_grad():
            G(z, c, **kw)

    return fwd


def make_train_iter(G, D, z, c, real):
    opt_G = torch.optim.Adam(G.parameters(), lr=0.0025, betas=(0.0, 0.99), eps=1e-8)
    opt_D = torch.optim.Adam(D.parameters(), lr=0.0025, betas=(0.0, 0.99), eps=1e-8)

    def step():
        G.requires_grad_(True)
        D.requires_grad_(False)
        opt_G.zero_grad(set_to_none=True)
        F.softplus(-D(G(z, c), c)).mean().backward()
        opt_G.step()
        G.requires_grad_(False)
        D.requires_grad_(True)
        opt_D.zero_grad(set_to_none=True)
        with torch.no_grad():
            fake = G(z, c)
        loss = F.softplus(D(fake, c)).mean() + F.softplus(-D(real, c)).mean()
        loss.backward()
        opt_D.step()

    return step


def ours(preset: str, c_dim: int, precision: str = "fp32"):
    g, d = build_configs(preset, img_resolution=32, img_channels=3, c_dim=c_dim)
    G, D = Generator(g), Discriminator(d)
    # "mixed": the blocks the preset's num_fp16_res marks (official: 4) run in bfloat16.
    set_reduced_precision(G, precision == "mixed")
    set_reduced_precision(D, precision == "mixed")
    return G, D, g


def official(path: str, preset: str, c_dim: int):
    sys.path.insert(0, path)
    from training import networks  # noqa: PLC0415  (the user's local checkout)

    g, d = build_configs(preset, img_resolution=32, img_channels=3, c_dim=c_dim)
    G = networks.Generator(
        z_dim=g.z_dim,
        c_dim=c_dim,
        w_dim=g.w_dim,
        img_resolution=32,
        img_channels=3,
        mapping_kwargs=dict(num_layers=g.mapping_layers),
        synthesis_kwargs=dict(
            channel_base=g.channel_base,
            channel_max=g.channel_max,
            num_fp16_res=0,
            conv_clamp=g.conv_clamp,
            architecture=g.architecture,
        ),
    )
    D = networks.Discriminator(
        c_dim=c_dim,
        img_resolution=32,
        img_channels=3,
        architecture=d.architecture,
        channel_base=d.channel_base,
        channel_max=d.channel_max,
        num_fp16_res=0,
        conv_clamp=d.conv_clamp,
        epilogue_kwargs=dict(mbstd_group_size=d.mbstd_group_size),
    )
    return G, D, g


def batch_inputs(g, batch: int, c_dim: int):
    """The same seeded latents, one-hot classes (or None) and random "real" images every time."""
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(batch, g.z_dim, generator=gen)
    c = F.one_hot(torch.arange(batch) % c_dim, c_dim).float() if c_dim else None
    real = torch.randn(batch, 3, 32, 32, generator=gen).clamp(-1, 1)
    return z, c, real


def bench(
    impl: str, G, D, g, batch: int, reps: int, c_dim: int, flops, warmup: int = 1
) -> list[dict]:
    z, c, real = batch_inputs(g, batch, c_dim)
    rows = []
    G.eval()
    variants = [("G forward", {})]
    if impl == "official":
        variants.append(("G forward (non-fused)", {"fused_modconv": False}))
    g_flops, iter_flops = flops(z, c, real)
    for name, kw in variants:
        fwd = make_forward(G, z, c, **kw)
        sec = median_time(fwd, reps, warmup)
        rows.append(dict(impl=impl, what=name, img_s=batch / sec, gflops=g_flops / sec / 1e9))
    G.train()
    D.train()
    step = make_train_iter(G, D, z, c, real)
    sec = median_time(step, reps, warmup)
    rows.append(
        dict(
            impl=impl,
            what="Gmain+Dmain iteration",
            img_s=batch / sec,
            gflops=iter_flops / sec / 1e9,
        )
    )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default="cifar,cpu32")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument(
        "--warmup",
        type=int,
        default=1,
        help="untimed calls before each median (the first iterations after building a network "
        "can run at half speed while the allocator grows)",
    )
    ap.add_argument(
        "--precision",
        default="fp32",
        help="ours in fp32 and/or mixed (bfloat16 num_fp16_res blocks), e.g. fp32,mixed",
    )
    ap.add_argument("--nvlabs", default=None, help="local checkout of stylegan2-ada-pytorch")
    ap.add_argument(
        "--profile", action="store_true", help="also profile the fp32 training iteration"
    )
    ap.add_argument("--note", default="", help="free text for the results table")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    peak = matmul_peak()
    rows = []
    for preset in args.presets.split(","):
        c_dim = class_count(preset)
        impls = [
            (f"stylegen {p}" if p != "fp32" else "stylegen", lambda pr, c, p=p: ours(pr, c, p))
            for p in args.precision.split(",")
        ] + ([("official", lambda p, c: official(args.nvlabs, p, c))] if args.nvlabs else [])
        G0, D0, _ = ours(preset, c_dim)
        flops = lambda z, c, real, G0=G0, D0=D0: maths_flops(G0.eval(), D0, z, c, real)  # noqa: E731
        for impl, build in impls:
            G, D, g = build(preset, c_dim)
            for row in bench(impl, G, D, g, args.batch, args.reps, c_dim, flops, args.warmup):
                rows.append(dict(preset=preset, **row))
                print(
                    f"{preset:8s} {impl:9s} {row['what']:24s} {row['img_s']:8.2f} img/s "
                    f"{row['gflops']:7.1f} GFLOP/s",
                    flush=True,
                )
    write_table(rows, peak, args)
    if args.profile:
        profiled = []
        for preset in args.presets.split(","):
            c_dim = class_count(preset)
            builds = [("stylegen", ours)]
            if args.nvlabs:
                builds.append(("official", lambda p, c: official(args.nvlabs, p, c)))
            for impl, build in builds:
                G, D, g = build(preset, c_dim)
                row = profile_iteration(impl, G, D, g, args.batch, c_dim)
                profiled.append(dict(preset=preset, **row))
        write_profile(profiled, peak)


def _category(op: str) -> str:
    if "conv" in op:
        return "conv"
    if op in ("aten::mm", "aten::addmm", "aten::bmm", "aten::matmul", "aten::linear"):
        return "matmul"
    if "foreach" in op or "adam" in op.lower():
        return "adam"
    return "other"


def profile_iteration(impl: str, G, D, g, batch: int, c_dim: int, reps: int = 2) -> dict:
    """Seconds per iteration by kind of work, and the GFLOP/s of the convolutions alone."""
    z, c, real = batch_inputs(g, batch, c_dim)
    G.train()
    D.train()
    step = make_train_iter(G, D, z, c, real)
    step()  # warm-up
    with FlopCounterMode(display=False) as counter:
        step()
    conv_flops = sum(
        n for op, n in counter.get_flop_counts()["Global"].items() if "convolution" in str(op)
    )
    t0 = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(reps):
            step()
    wall = (time.perf_counter() - t0) / reps
    seconds = dict.fromkeys(KINDS, 0.0)
    for event in prof.key_averages():
        seconds[_category(event.key)] += event.self_cpu_time_total / 1e6 / reps
    scale = wall / sum(seconds.values())  # profiler bookkeeping between ops goes to each share
    return dict(
        impl=impl,
        wall=wall,
        **{k: v * scale for k, v in seconds.items()},
        conv_gflops=conv_flops / (seconds["conv"] * scale) / 1e9,
    )


def write_profile(rows: list[dict], peak: float) -> None:
    lines = [
        "\nWhere a fp32 Gmain+Dmain iteration spends its time (torch.profiler self time, scaled "
        "to the iteration's wall time under the profiler; convolution FLOPs from torch's counter "
        "for the convolution calls alone):\n",
        "| preset | implementation | s / iteration | convolutions | matmuls | Adam | all else "
        "| convolutions' GFLOP/s | % of matmul peak |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        share = {k: f"{r[k]:.2f} s ({100 * r[k] / r['wall']:.0f}%)" for k in KINDS}
        lines.append(
            f"| {r['preset']} | {r['impl']} | {r['wall']:.2f} | {share['conv']} | "
            f"{share['matmul']} | {share['adam']} | {share['other']} | "
            f"{r['conv_gflops']:.1f} | {100 * r['conv_gflops'] / peak:.0f}% |"
        )
    ours = {r["preset"]: r for r in rows if r["impl"] == "stylegen"}
    for r in rows:
        mine = ours.get(r["preset"])
        if r["impl"] == "official" and mine:
            lines.append(
                f"\nCeiling, {r['preset']}: official iteration {r['wall']:.2f} s / stylegen's "
                f"convolutions alone {mine['conv']:.2f} s = {r['wall'] / mine['conv']:.2f}x "
                f"(profiled: stylegen {r['wall'] / mine['wall']:.2f}x the official speed)"
            )
    publish(lines)


def write_table(rows: list[dict], peak: float, args: argparse.Namespace) -> None:
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    lines = [
        f"\n## bench_networks.py — {stamp}\n",
        f"Machine: {machine()}, {torch.get_num_threads()} "
        f"threads, torch {torch.__version__}, batch {args.batch}, median of {args.reps} "
        f"after {args.warmup} warm-up call(s). "
        f"fp32 matmul peak {peak:.1f} GFLOP/s (best of 1024-4096 square matmuls). FLOPs: what "
        f"the maths needs (stylegen/flops.py), the same count for both implementations. "
        f"{args.note}\n",
        "| preset | implementation | measurement | images/s | GFLOP/s | % of matmul peak |",
        "|---|---|---|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['preset']} | {r['impl']} | {r['what']} | {r['img_s']:.2f} | "
            f"{r['gflops']:.1f} | {100 * r['gflops'] / peak:.0f}% |"
        )
    base = {(r["preset"], r["what"]): r["img_s"] for r in rows if r["impl"] == "official"}
    for r in rows:
        ref = base.get((r["preset"], r["what"]))
        if r["impl"].startswith("stylegen") and ref:
            lines.append(
                f"\nRatio {r['impl']}/official, {r['preset']} {r['what']}: {r['img_s'] / ref:.2f}x"
            )
    publish(lines)


if __name__ == "__main__":
    main()
