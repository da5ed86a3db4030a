"""Train one pip-installable peer GAN for a CPU-time budget and generate images from it.

Run by benchmarks/bench_peers.py with the Python of the peers' virtual environment (see that
script's docstring for the setup); it imports only torch, numpy and the peer's own package, never
stylegen. It uses the peer's public `Trainer` API the way the peer's command line does
(`Trainer(**model_args)`, `set_data_src(folder)`, `train()` in a loop, retried on NanException),
with the peer's command-line defaults read from the signature of its `cli.train_from_folder`.

    python benchmarks/peers_driver.py --peer stylegan2 --setting cpu --data DIR --out DIR \
        --cpu-seconds 1200 --threads 1 --num 2000

Budget: CPU time of this process plus that of its children (the peers' DataLoader worker
processes, live ones read from /proc, exited ones from os.times), checked between training steps;
the step that crosses the budget is finished. Generation afterwards is not counted.

Both peers assert at import time that CUDA is available and move every module and tensor with
`.cuda(rank)`; lightweight-gan also allocates its loss accumulators on `cuda:{rank}`. To run them on
a CPU this script (a) reports CUDA as available only while the peer is imported, (b) turns
`Module.cuda` and `Tensor.cuda` into no-ops, and (c) hands lightweight-gan's module a view of
torch whose `torch.device` always returns the CPU. Nothing else of the peers is changed.

Writes to --out: result.json (steps, images, CPU/wall seconds, settings, parameter counts) and
images.npz (uint8 [num, C, 32, 32] from the peer's EMA generator `GE` ("ema") and from the raw
generator `G` ("raw"), z from a fixed seed, no truncation).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import inspect
import json
import os
import time
import types
from pathlib import Path

import numpy as np
import torch

PACKAGES = {"stylegan2": "stylegan2_pytorch", "lightweight": "lightweight_gan"}

# Settings on top of the peer's command-line defaults. "defaults": what a new user gets from the
# README (`--data DIR --image-size 32`). "cpu": a smaller network and batch, no gradient
# accumulation, no extra regularisers or attention, no DataLoader worker processes.
SETTINGS = {
    "stylegan2": {
        "defaults": {"image_size": 32},
        "cpu": {
            "image_size": 32,
            "batch_size": 8,  # CLI default 5 x 6 accumulation = 30 images per step
            "gradient_accumulate_every": 1,
            "network_capacity": 8,  # CLI default 16; channels 128/64/32/16 at 4/8/16/32 px
            "no_pl_reg": True,  # path-length regulariser (only active after step 5000 anyway)
            "num_workers": 0,
        },
    },
    "lightweight": {
        "defaults": {"image_size": 32},
        "cpu": {
            "image_size": 32,
            "batch_size": 8,  # CLI default 10 x 4 accumulation = 40 images per step
            "gradient_accumulate_every": 1,
            "fmap_max": 128,  # CLI default 512
            "attn_res_layers": [],  # CLI default [32]: linear attention at 32 px in D
            "greyscale": True,  # one output channel instead of RGB
            "num_workers": 0,
        },
    },
}

CLI_TO_TRAINER = {"learning_rate": "lr"}  # the one renamed argument in both peers' cli.py


@contextlib.contextmanager
def cuda_reported_available():
    real = torch.cuda.is_available
    torch.cuda.is_available = lambda: True
    try:
        yield
    finally:
        torch.cuda.is_available = real


def cpu_only_torch() -> types.ModuleType:
    """A stand-in for the torch module whose `device(...)` is always the CPU."""
    view = types.ModuleType("torch")
    view.__dict__.update(torch.__dict__)
    view.device = lambda *args, **kwargs: torch.device("cpu")
    return view


def import_peer(peer: str) -> types.ModuleType:
    torch.nn.Module.cuda = lambda self, *args, **kwargs: self
    torch.Tensor.cuda = lambda self, *args, **kwargs: self
    with cuda_reported_available():
        package = importlib.import_module(PACKAGES[peer])
        cli = importlib.import_module(f"{PACKAGES[peer]}.cli")
    if peer == "lightweight":
        importlib.import_module("lightweight_gan.lightweight_gan").torch = cpu_only_torch()
    package.cli = cli
    return package


def trainer_args(package: types.ModuleType, overrides: dict, out: Path) -> dict:
    """The peer's command-line defaults, as its cli.py hands them to Trainer, plus overrides."""
    cli_defaults = {
        name: p.default
        for name, p in inspect.signature(package.cli.train_from_folder).parameters.items()
    }
    accepted = inspect.signature(package.Trainer).parameters
    args = {}
    for name, value in {**cli_defaults, **overrides}.items():
        name = CLI_TO_TRAINER.get(name, name)
        if name in accepted and name not in ("hparams",):
            args[name] = value
    if "num_image_tiles" in args and args["num_image_tiles"] is None:
        args["num_image_tiles"] = 8  # lightweight-gan's cli: 8 below 512 px
    args.update(name="run", base_dir=str(out))
    if "use_aim" in accepted:
        args["use_aim"] = False  # the cli default; Trainer's own default is True
    return args


def _proc_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _descendants(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            for child in (task / "children").read_text().split():
                out += [int(child), *_descendants(int(child))]
    return out


def tree_cpu_seconds() -> float:
    """CPU seconds of this process, its live descendants and its reaped children."""
    t = os.times()
    total = time.process_time() + t.children_user + t.children_system
    for pid in _descendants(os.getpid()):
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += _proc_cpu_seconds(pid)
    return total


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """The peers' [0, 1] images -> uint8, rounded as torchvision.utils.save_image does."""
    return images.mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8).cpu().numpy()


@torch.no_grad()
def generate(peer: str, package: types.ModuleType, trainer, num: int, seed: int) -> dict:
    """num images from the EMA generator GE and the raw generator G, fixed z, no truncation."""
    trainer.GAN.eval()
    out = {"ema": [], "raw": []}
    torch.manual_seed(seed)
    for start in range(0, num, 50):
        n = min(50, num - start)
        if peer == "stylegan2":
            mod = importlib.import_module("stylegan2_pytorch.stylegan2_pytorch")
            G = trainer.GAN.G
            style = mod.noise_list(n, G.num_layers, G.latent_dim, device=0)
            noise = mod.image_noise(n, G.image_size, device=0)
            for key, (S, Gx) in {
                "ema": (trainer.GAN.SE, trainer.GAN.GE),
                "raw": (trainer.GAN.S, G),
            }.items():
                out[key].append(
                    to_uint8(trainer.generate_truncated(S, Gx, style, noise, trunc_psi=1.0))
                )
        else:
            z = torch.randn(n, trainer.GAN.latent_dim)
            for key, Gx in {"ema": trainer.GAN.GE, "raw": trainer.GAN.G}.items():
                out[key].append(to_uint8(trainer.generate_(Gx, z)))
    return {k: np.concatenate(v) for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--peer", required=True, choices=list(PACKAGES))
    ap.add_argument("--setting", required=True, choices=["defaults", "cpu"])
    ap.add_argument("--data", required=True, help="folder of training images")
    ap.add_argument("--out", required=True, help="run folder (created)")
    ap.add_argument("--cpu-seconds", type=float, default=1200.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--num", type=int, default=2000, help="images to generate")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    package = import_peer(args.peer)
    overrides = SETTINGS[args.peer][args.setting]
    kwargs = trainer_args(package, overrides, out)
    trainer = package.Trainer(**kwargs)
    trainer.set_data_src(args.data)
    trainer.init_GAN()

    cpu0, wall0 = tree_cpu_seconds(), time.perf_counter()
    nan_restarts = 0
    while tree_cpu_seconds() - cpu0 < args.cpu_seconds:
        try:
            trainer.train()
        except package.NanException:  # the cli retries up to 3 times (retry_call)
            nan_restarts += 1
            if nan_restarts > 3:
                raise
    cpu, wall = tree_cpu_seconds() - cpu0, time.perf_counter() - wall0

    images = generate(args.peer, package, trainer, args.num, 1000 + args.seed)
    np.savez(out / "images.npz", **images)
    per_step = trainer.batch_size * trainer.gradient_accumulate_every
    result = {
        "peer": args.peer,
        "package": PACKAGES[args.peer],
        "version": importlib.import_module(f"{PACKAGES[args.peer]}.version").__version__,
        "torch": torch.__version__,
        "setting": args.setting,
        "overrides": overrides,
        "trainer_args": {k: v for k, v in kwargs.items() if k not in ("name", "base_dir")},
        "threads": args.threads,
        "steps": trainer.steps,
        "images_per_step": per_step,
        "kimg": trainer.steps * per_step / 1000,
        "cpu_s": cpu,
        "wall_s": wall,
        "nan_restarts": nan_restarts,
        "params_G": count(trainer.GAN.G),
        "params_D": count(trainer.GAN.D),
        "channels": int(images["ema"].shape[1]),
        "aug_prob": trainer.aug_prob,
    }
    (out / "result.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
