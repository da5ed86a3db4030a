"""The fp32 training iteration against the official code, in separate processes, alternating.

bench_networks.py times both implementations one after the other in one process; there the
official `cifar` iteration's figure halved from one run of the same command to the next while
ours moved ~15%, with most of the wall time spent in the kernel (page faults of freshly
allocated large buffers). This script is the quieter A/B for issue 20 item 4: each
measurement is its own fresh process (nothing one implementation allocated is left for the
other), the order alternates every round (official first, then stylegen first, ...), and the
table shows every round's figure with the child's user and system CPU seconds, then the median
of the rounds and the range of the per-round ratios.

The iteration is bench_networks.make_train_iter (G forward, non-saturating G loss backward
through D and G, Adam on G; D logistic loss on detached fakes and reals, backward, Adam on D),
same config, batch, threads and maths for both; FLOPs from stylegen/flops.py as there.

    python benchmarks/bench_iteration_ab.py --nvlabs PATH [--preset cifar] [--rounds 3]

The environment (e.g. MALLOC_* variables) is passed to every child unchanged and printed with
the table, so a run with allocator settings is one command with them set for both. The table
is printed and appended to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import statistics
import subprocess
import sys

import torch
from bench_metrics import machine
from bench_networks import (
    batch_inputs,
    class_count,
    make_train_iter,
    maths_flops,
    matmul_peak,
    median_time,
    official,
    ours,
    publish,
)

IMPLS = ("official", "stylegen")


def child(args: argparse.Namespace) -> None:
    """One implementation's median iteration time (seconds), as one JSON line on stdout."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    c_dim = class_count(args.preset)
    build = (lambda p, c: official(args.nvlabs, p, c)) if args.child == "official" else ours
    G, D, g = build(args.preset, c_dim)
    z, c, real = batch_inputs(g, args.batch, c_dim)
    G.train()
    D.train()
    step = make_train_iter(G, D, z, c, real)
    print(json.dumps({"sec": median_time(step, args.reps, args.warmup)}))


def run_child(impl: str, args: argparse.Namespace) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    cmd = [sys.executable, __file__, "--child", impl, "--preset", args.preset]
    cmd += ["--batch", str(args.batch), "--threads", str(args.threads)]
    cmd += ["--reps", str(args.reps), "--warmup", str(args.warmup)]
    if args.nvlabs:
        cmd += ["--nvlabs", args.nvlabs]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return dict(
        impl=impl,
        sec=json.loads(out.strip().splitlines()[-1])["sec"],
        user=after.ru_utime - before.ru_utime,
        sys=after.ru_stime - before.ru_stime,
    )


def iteration_flops(preset: str, batch: int) -> float:
    c_dim = class_count(preset)
    G, D, g = ours(preset, c_dim)
    z, c, real = batch_inputs(g, batch, c_dim)
    return maths_flops(G.eval(), D, z, c, real)[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nvlabs", default=None, help="local checkout of stylegan2-ada-pytorch")
    ap.add_argument("--preset", default="cifar")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=3, help="timed iterations per process")
    ap.add_argument("--warmup", type=int, default=3, help="untimed iterations per process")
    ap.add_argument("--child", choices=IMPLS, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    if not args.nvlabs:
        sys.exit("--nvlabs PATH is required: a local checkout of NVlabs/stylegan2-ada-pytorch")
    torch.set_num_threads(args.threads)
    peak = matmul_peak()
    flops = iteration_flops(args.preset, args.batch)
    rows = []
    for r in range(args.rounds):
        order = IMPLS if r % 2 == 0 else IMPLS[::-1]
        for impl in order:
            row = dict(round=r + 1, **run_child(impl, args))
            rows.append(row)
            print(
                f"round {row['round']} {impl:9s} {args.batch / row['sec']:6.2f} img/s "
                f"user {row['user']:6.0f} s sys {row['sys']:6.0f} s",
                flush=True,
            )
    write_table(rows, args, peak, flops)


def write_table(rows: list[dict], args: argparse.Namespace, peak: float, flops: float) -> None:
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    malloc = " ".join(f"{k}={v}" for k, v in sorted(os.environ.items()) if k.startswith("MALLOC"))
    lines = [
        f"\n## bench_iteration_ab.py — {stamp}\n",
        f"Machine: {machine()}, {args.threads} threads, torch "
        f"{torch.__version__}, preset {args.preset}, batch {args.batch}, fp32; each row one fresh "
        f"process: median of {args.reps} iterations after {args.warmup} warm-up; order "
        f"alternating by round. fp32 matmul peak {peak:.1f} GFLOP/s. "
        f"Allocator environment: {malloc or 'default (no MALLOC_* set)'}.\n",
        "| round | implementation | images/s | GFLOP/s | % of peak | user CPU s | sys CPU s |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        gflops = flops / r["sec"] / 1e9
        lines.append(
            f"| {r['round']} | {r['impl']} | {args.batch / r['sec']:.2f} | {gflops:.1f} | "
            f"{100 * gflops / peak:.0f}% | {r['user']:.0f} | {r['sys']:.0f} |"
        )
    med = {i: statistics.median(r["sec"] for r in rows if r["impl"] == i) for i in IMPLS}
    sec = {(r["round"], r["impl"]): r["sec"] for r in rows}
    per_round = [sec[k, "official"] / sec[k, "stylegen"] for k in range(1, args.rounds + 1)]
    lines.append(
        f"\nMedian over rounds: official {args.batch / med['official']:.2f} images/s, stylegen "
        f"{args.batch / med['stylegen']:.2f}: **{med['official'] / med['stylegen']:.2f}x**; "
        f"per-round ratios {min(per_round):.2f}x to {max(per_round):.2f}x."
    )
    publish(lines)


if __name__ == "__main__":
    main()
