"""The web explorer's latency: request-to-image time of `stylegen serve`, as a slider move sees it.

For each network: start `stylegen serve --network N --port 0` in a subprocess, send `--reps`
render requests over one kept-alive HTTP connection (as the page does: one request in flight,
each with a new seed and psi, like a dragged slider), and time each from sending the request to
holding the whole PNG. Reported: median and slowest of the client times, and the median of the
server's own render time (its X-Render-Ms header: compose the latent, synthesise, encode the
PNG). Then, for the first network, the same while a projection of one of its images runs in the
background (the page must stay responsive), with the projection's steps per second.

Networks: `--demo` (the `make demo` network, runs/demo/...) and an *untrained* network of the
`cifar` preset (32x32 RGB, the official StyleGAN2-ADA CIFAR-10 config) built here: the weights do
not change the arithmetic, so untrained weights time it exactly.

    PYTHONPATH=src python benchmarks/bench_serve.py --demo runs/demo/00000-fashion-mnist-cpu32 \
        [--reps 15] [--threads N]

Appends a section to benchmarks/RESULTS.md with the load average and the busiest other
processes (the timings are only as quiet as the machine was).
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import os
import platform
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from urllib.parse import urlsplit

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.web.browser: the launcher

from benchmarks.bench_latent import busy_processes  # noqa: E402
from tests.web.browser import start_server  # noqa: E402

RESULTS = Path(__file__).with_name("RESULTS.md")


def cifar_network(root: Path) -> Path:
    """An untrained generator of the `cifar` preset, saved as a checkpoint folder."""
    from stylegen.models.registry import build_model
    from stylegen.training.stylegan_config import build_configs

    g, _ = build_configs("cifar", img_resolution=32, img_channels=3)
    torch.manual_seed(0)
    return Path(build_model(g).eval().save(root / "cifar-untrained"))


class Client:
    """One kept-alive HTTP connection to the explorer, as the page's fetches use."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=600)

    def call(self, method: str, path: str, body: bytes | None = None, ctype: str = "") -> tuple:
        headers = {"Content-Type": ctype} if ctype else {}
        self.conn.request(method, path, body=body, headers=headers)
        r = self.conn.getresponse()
        data = r.read()
        if r.status >= 300:
            raise SystemExit(f"{method} {path}: HTTP {r.status}: {data[:300]!r}")
        return r, data

    def render(self, net: str, seed: int, psi: float) -> tuple[float, float, bytes]:
        """(client ms, server ms, PNG bytes) of one image."""
        body = json.dumps({"seed": seed, "psi": psi}).encode()
        t0 = time.perf_counter()
        r, data = self.call("POST", f"/api/networks/{net}/image", body, "application/json")
        ms = (time.perf_counter() - t0) * 1000
        return ms, float(r.getheader("X-Render-Ms")), data


def measure(client: Client, net: str, reps: int, first_seed: int = 0) -> dict:
    for seed in range(2):  # warm-up: first-call allocations, lazy imports
        client.render(net, 1000 + seed, 0.7)
    client_ms, server_ms = [], []
    for i in range(reps):
        c, s, _ = client.render(net, first_seed + i, round(0.5 + 0.5 * i / max(reps, 1), 2))
        client_ms.append(c)
        server_ms.append(s)
    return {
        "median": statistics.median(client_ms),
        "max": max(client_ms),
        "server": statistics.median(server_ms),
        "n": reps,
    }


def during_projection(client: Client, net: str, reps: int, steps: int) -> tuple[dict, str]:
    """Render latencies while a projection of one of the network's own images runs."""
    _, _, png = client.render(net, 7, 0.7)
    r, data = client.call(
        "POST", f"/api/networks/{net}/projections?steps={steps}", png, "image/png"
    )
    job = json.loads(data)["id"]
    deadline = time.monotonic() + 600
    while json.loads(client.call("GET", f"/api/projections/{job}")[1])["step"] < 2:
        if time.monotonic() > deadline:
            raise SystemExit("the projection did not start in 600 s")
        time.sleep(0.2)  # a benchmark polling a server, not a test
    t0, step0 = time.perf_counter(), json.loads(client.call("GET", f"/api/projections/{job}")[1])
    stats = measure(client, net, reps, first_seed=100)
    status = json.loads(client.call("GET", f"/api/projections/{job}")[1])
    rate = (status["step"] - step0["step"]) / (time.perf_counter() - t0)
    still = status["state"] == "running"
    client.call("DELETE", f"/api/projections/{job}")
    note = f"projection {'still running' if still else status['state']} after, {rate:.1f} steps/s"
    return stats, note


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--demo", required=True, help="the demo network (run folder or checkpoint)")
    p.add_argument("--reps", type=int, default=15)
    p.add_argument("--threads", type=int, default=None, help="torch threads of the server")
    p.add_argument("--project-steps", type=int, default=1000)
    p.add_argument("--no-append", action="store_true", help="print only")
    args = p.parse_args()

    rows = []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        networks = [("demo (cpu32, trained)", Path(args.demo)), ("cifar (untrained)", None)]
        for i, (label, path) in enumerate(networks):
            path = path or cifar_network(Path(tmp))
            log = Path(tmp) / f"serve{i}.log"
            extra = ["--threads", str(args.threads)] if args.threads else []
            server = start_server(["--network", str(path), "--port", "0", *extra], log)
            try:
                client = Client(server.url)
                (info,) = json.loads(client.call("GET", "/api/networks")[1])
                shape = f"{info['resolution']}x{info['resolution']}x{info['channels']}"
                stats = measure(client, info["id"], args.reps)
                rows.append((label, shape, "no projection", stats, ""))
                print(rows[-1], flush=True)
                if i == 0:
                    stats, note = during_projection(
                        client, info["id"], args.reps, args.project_steps
                    )
                    rows.append((label, shape, "projection running", stats, note))
                    print(rows[-1], flush=True)
                client.conn.close()
            finally:
                server.stop()
    load_after = os.getloadavg()

    now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    threads = args.threads or torch.get_num_threads()
    about = (
        f"`stylegen serve` on {platform.machine()} ({os.cpu_count()} CPUs), torch "
        f"{torch.__version__}, {threads} torch thread(s); {args.reps} requests per row over one "
        "kept-alive connection, each a new seed and psi (a slider move): client time from "
        "sending the request to holding the whole PNG, and the server's own render time "
        "(X-Render-Ms). The cifar network is untrained (same arithmetic as trained weights). "
        f"Load average {load_before[0]:.1f} before, {load_after[0]:.1f} after; the machine was "
        f"shared with other jobs (busiest: {busy_processes()})."
    )
    lines = [
        f"## bench_serve.py — explorer request-to-image time, {now}",
        "",
        textwrap.fill(about, 100),
        "",
        "| network | image | while | median ms | slowest ms | server median ms | notes |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    for label, shape, cond, s, note in rows:
        lines.append(
            f"| {label} | {shape} | {cond} | {s['median']:.0f} | {s['max']:.0f} | "
            f"{s['server']:.0f} | {note} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_append:
        with open(RESULTS, "a") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    main()
