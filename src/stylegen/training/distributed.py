"""Multi-process training with torch.distributed: setup, shard layout, reductions, launching.

Data-parallel training as in StyleGAN2-ADA (Karras et al. 2020): every process holds the full
networks, computes gradients on its own part ("shard") of each global minibatch, and the gradients
are summed over processes before every optimiser step, so all processes take identical steps.

Processes are started by `torchrun` (or by :func:`launch`, which calls the same elastic launcher
from Python for `stylegen train --gpus N` / `--cpu-procs N`). Their rank, world size and rendezvous
address come from the environment torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
MASTER_PORT). NCCL is the backend on CUDA and gloo on CPU.

The global batch `batch` is split into `batch / batch_gpu` shards of `batch_gpu` images; process
`rank` runs `rounds = batch / (world_size * batch_gpu)` of them one after another (gradient
accumulation), shard ids `rank * rounds + round`. Every shard has its own random streams, so a
run depends only on (seed, batch, batch_gpu), not on how its shards are spread over processes.

With one process every helper here is a no-op that touches no torch.distributed state.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from stylegen.config import DIST_BACKENDS
from stylegen.errors import EXIT_DIVERGED, EXIT_USER_ERROR, UserError

log = logging.getLogger(__name__)

T = TypeVar("T")

BACKENDS = DIST_BACKENDS
BACKEND_ENV = "STYLEGEN_DIST_BACKEND"
TIMEOUT_ENV = "STYLEGEN_DIST_TIMEOUT"
DEFAULT_TIMEOUT_S = 1800.0  # long enough for rank 0 to write a snapshot while the others wait


# ---------------------------------------------------------------------------------------------
# Who am I


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job; `world_size == 1` means plain single-process training."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def info() -> DistInfo:
    """The current process group's ranks, or a single process when none is initialised."""
    if not (dist.is_available() and dist.is_initialized()):
        return DistInfo()
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def env_world_size() -> int:
    """WORLD_SIZE as set by torchrun, 1 when not started by a launcher."""
    value = os.environ.get("WORLD_SIZE", "1")
    try:
        return int(value)
    except ValueError:
        raise UserError(f"environment WORLD_SIZE={value!r} is not an integer") from None


def _env_int(name: str) -> int:
    value = os.environ.get(name)
    if value is None:
        raise UserError(
            f"WORLD_SIZE is set but {name} is not; start the processes with torchrun, "
            "e.g. `torchrun --nproc-per-node 2 -m stylegen train ...`"
        )
    try:
        return int(value)
    except ValueError:
        raise UserError(f"environment {name}={value!r} is not an integer") from None


# ---------------------------------------------------------------------------------------------
# Checks the CLI runs before starting anything


def cuda_device_count() -> int:
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def resolve_backend(requested: str | None, device: str) -> str:
    """'gloo' or 'nccl' for `requested` ('auto', None -> $STYLEGEN_DIST_BACKEND or auto)."""
    backend = (requested or os.environ.get(BACKEND_ENV) or "auto").lower()
    if backend not in BACKENDS:
        raise UserError(f"unknown --dist-backend {backend!r}; choose one of: {', '.join(BACKENDS)}")
    is_cuda = torch.device(device).type == "cuda"
    if backend == "auto":
        return "nccl" if is_cuda else "gloo"
    if backend == "nccl" and not cuda_device_count():
        raise UserError(
            "NCCL was asked for (--dist-backend nccl or $STYLEGEN_DIST_BACKEND) but no CUDA "
            "device is visible; NCCL needs GPUs: use --dist-backend gloo for CPU processes"
        )
    if backend == "nccl" and not is_cuda:
        raise UserError(
            f"--dist-backend nccl needs --device cuda, not {device!r}; use gloo for CPU training"
        )
    return backend


def check_gpu_count(gpus: int, device: str) -> None:
    """`--gpus N` needs N visible CUDA devices and --device cuda."""
    if gpus < 1:
        raise UserError(f"--gpus {gpus} must be >= 1")
    visible = cuda_device_count()
    if visible == 0:
        raise UserError(
            f"--gpus {gpus} but no CUDA device is visible on this machine; to train with "
            f"{gpus} CPU processes (gloo) use --cpu-procs {gpus}"
        )
    if gpus > visible:
        raise UserError(
            f"--gpus {gpus} but only {visible} CUDA device(s) are visible "
            f"(check CUDA_VISIBLE_DEVICES); use --gpus {visible} or fewer"
        )
    if torch.device(device).type != "cuda":
        raise UserError(f"--gpus needs --device cuda, not {device!r}; use --cpu-procs for CPU")


def process_count(gpus: int | None, cpu_procs: int | None, device: str) -> int:
    """Processes asked for by `--gpus` / `--cpu-procs` (1 if neither), checked against the
    machine and, under torchrun, against the number of processes it started."""
    if gpus is not None and cpu_procs is not None:
        raise UserError("use --gpus N (GPU processes) or --cpu-procs N (CPU processes), not both")
    if gpus is not None:
        check_gpu_count(gpus, device)
        n = gpus
    elif cpu_procs is not None:
        _check_cpu_procs(cpu_procs, device)
        n = cpu_procs
    else:
        return 1
    world = env_world_size()
    if is_worker() and world != n:
        raise UserError(
            f"--gpus/--cpu-procs {n} but torchrun started {world} processes; leave out "
            "--gpus/--cpu-procs under torchrun (--nproc-per-node sets the count)"
        )
    return n


def _check_cpu_procs(cpu_procs: int, device: str) -> None:
    if cpu_procs < 1:
        raise UserError(f"--cpu-procs {cpu_procs} must be >= 1")
    if device != "cpu":
        raise UserError(f"--cpu-procs runs CPU processes; drop --device {device} or use --gpus")


@dataclass(frozen=True)
class ShardLayout:
    """How a global batch is cut into shards and which of them this process runs."""

    batch: int
    batch_gpu: int
    world_size: int
    rank: int

    @property
    def rounds(self) -> int:
        """Shards per process per minibatch (gradient accumulation steps)."""
        return self.batch // (self.world_size * self.batch_gpu)

    @property
    def num_shards(self) -> int:
        return self.batch // self.batch_gpu

    @property
    def local_shards(self) -> list[int]:
        return [self.rank * self.rounds + r for r in range(self.rounds)]


def shard_layout(batch: int, batch_gpu: int | None, world_size: int, rank: int = 0) -> ShardLayout:
    """Check and build the layout; `batch_gpu` None means batch / world_size."""
    if batch_gpu is None:
        if batch % world_size:
            raise UserError(
                f"--batch {batch} is not divisible by the {world_size} processes; "
                f"use a multiple of {world_size} or set --batch-gpu"
            )
        batch_gpu = batch // world_size
    if batch_gpu < 1:
        raise UserError(f"--batch-gpu {batch_gpu} must be >= 1")
    if batch % (world_size * batch_gpu):
        raise UserError(
            f"--batch {batch} is not divisible by processes x --batch-gpu = {world_size} x "
            f"{batch_gpu} = {world_size * batch_gpu}; use a multiple of {world_size * batch_gpu}"
        )
    return ShardLayout(batch, batch_gpu, world_size, rank)


def shard_seed(seed: int, shard: int, stream: int) -> int:
    """Seed of random stream `stream` (0 torch, 1 sampler) of shard `shard` > 0."""
    # Shard 0 keeps the plain `seed` streams, so a one-shard run is the single-process run.
    return (seed * 1_000_003 + shard * 7_919 + stream * 104_729) % (2**63)


# ---------------------------------------------------------------------------------------------
# Process group


def process_device(device: str, dist_info: DistInfo | None = None) -> torch.device:
    """This process's device: 'cuda' becomes cuda:<LOCAL_RANK> when several processes run."""
    dist_info = dist_info or info()
    dev = torch.device(device)
    if dev.type == "cuda" and dist_info.enabled and dev.index is None:
        dev = torch.device("cuda", dist_info.local_rank)
    return dev


def _timeout() -> datetime.timedelta:
    value = os.environ.get(TIMEOUT_ENV, str(DEFAULT_TIMEOUT_S))
    try:
        seconds = float(value)
    except ValueError:
        raise UserError(f"{TIMEOUT_ENV}={value!r} must be a number of seconds") from None
    return datetime.timedelta(seconds=seconds)


def init_from_env(device: str, backend: str | None = None) -> DistInfo:
    """Join the process group described by torchrun's environment variables."""
    world = env_world_size()
    rank, local_rank = _env_int("RANK"), _env_int("LOCAL_RANK")
    if not os.environ.get("MASTER_ADDR"):
        raise UserError("MASTER_ADDR is not set; start the processes with torchrun")
    _env_int("MASTER_PORT")
    chosen = resolve_backend(backend, device)
    if torch.device(device).type == "cuda":
        if local_rank >= cuda_device_count():
            raise UserError(
                f"LOCAL_RANK {local_rank} has no CUDA device ({cuda_device_count()} visible); "
                "start at most one process per GPU (--nproc-per-node)"
            )
        torch.cuda.set_device(local_rank)
    dist.init_process_group(
        backend=chosen, init_method="env://", rank=rank, world_size=world, timeout=_timeout()
    )
    if rank != 0:
        # One copy of the progress logs is enough; warnings and errors still show on every rank.
        logging.getLogger("stylegen").setLevel(logging.WARNING)
    log.info("process group: %d processes, backend %s", world, chosen)
    return info()


@contextlib.contextmanager
def session(device: str, backend: str | None = None) -> Iterator[DistInfo]:
    """Initialise the process group when torchrun started several processes; clean up after.

    An already initialised group (set up by the caller) is used as is and left alone.
    """
    if dist.is_available() and dist.is_initialized():
        yield info()
        return
    if env_world_size() <= 1:
        yield DistInfo()
        return
    dist_info = init_from_env(device, backend)
    try:
        yield dist_info
    finally:
        cleanup()


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


# ---------------------------------------------------------------------------------------------
# Collectives (no-ops with one process)


def all_reduce_sum_(tensor: torch.Tensor) -> torch.Tensor:
    """Sum `tensor` over processes in place and return it."""
    if info().enabled:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def reduce_gradients(
    params: Sequence[torch.nn.Parameter], flag: torch.Tensor | float = 0.0
) -> torch.Tensor:
    """Sum the gradients of `params` over processes (one flat all-reduce); return summed `flag`.

    `flag` rides along in the same message (e.g. 1.0 where a process saw a non-finite loss), so
    every process learns the total without a second round trip. It comes back as a 0-dim
    float32 tensor on the gradients' device and is never read here: the caller decides whether
    to wait for its value. Missing gradients count as zeros in the sum and stay missing.
    """
    device = params[0].device if params else torch.device("cpu")
    flag = torch.as_tensor(flag, dtype=torch.float32).to(device).reshape(())
    if not info().enabled:
        return flag
    pieces = [
        p.grad.flatten() if p.grad is not None else torch.zeros(p.numel(), device=device)
        for p in params
    ]
    pieces.append(flag.reshape(1))
    flat = torch.cat(pieces)
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    offset = 0
    for p in params:
        n = p.numel()
        if p.grad is not None:
            p.grad.copy_(flat[offset : offset + n].view_as(p.grad))
        offset += n
    return flat[-1]


def broadcast_module_(module: torch.nn.Module) -> None:
    """Make every process's parameters and buffers equal rank 0's."""
    if not info().enabled:
        return
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            dist.broadcast(tensor.data, src=0)


def broadcast_object(obj: T) -> T:
    """Rank 0's `obj` on every process (pickled; only for our own trusted objects)."""
    if not info().enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_gather_objects(obj: Any) -> list[Any]:
    """Every process's `obj`, in rank order."""
    dist_info = info()
    if not dist_info.enabled:
        return [obj]
    out: list[Any] = [None] * dist_info.world_size
    dist.all_gather_object(out, obj)
    return out


def rank0_call(fn: Callable[[], T]) -> T:
    """Run `fn` on rank 0 only (file I/O) and hand its result, or its UserError, to every rank."""
    dist_info = info()
    if not dist_info.enabled:
        return fn()
    result, error = None, None
    if dist_info.is_main:
        try:
            result = fn()
        except UserError as exc:
            error = str(exc)
    result, error = broadcast_object((result, error))
    if error is not None:
        raise UserError(error)
    return result


def barrier() -> None:
    if info().enabled:
        dist.barrier()


# ---------------------------------------------------------------------------------------------
# Launching N local processes (`stylegen train --gpus N` / `--cpu-procs N`)


def is_worker() -> bool:
    """True inside a process started by torchrun / the elastic launcher."""
    return "TORCHELASTIC_RUN_ID" in os.environ or env_world_size() > 1


class WorkerFailedError(RuntimeError):
    """A launched training process failed; `exitcode` is its exit code (negative: signal)."""

    def __init__(self, rank: int, exitcode: int) -> None:
        super().__init__(
            f"training process rank {rank} failed with exit code {exitcode}; see its output above"
        )
        self.rank = rank
        self.exitcode = exitcode


def launch(argv: Sequence[str], nprocs: int) -> None:
    """Run `python -m stylegen <argv>` as `nprocs` processes on this machine, as torchrun does.

    Uses torch.distributed's elastic launcher with a local c10d rendezvous on a free port and no
    restarts: if any process fails, the launcher stops the others and this raises
    WorkerFailedError with the first failed rank's exit code.
    """
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    # The workers must import this very stylegen (a source checkout or an install).
    package_root = str(Path(__file__).resolve().parents[2])
    paths = [package_root, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=nprocs,
        run_id=str(uuid.uuid4()),
        rdzv_backend="c10d",
        rdzv_endpoint="127.0.0.1:0",
        max_restarts=0,
        monitor_interval=0.5,
    )
    try:
        elastic_launch(config, sys.executable)("-m", "stylegen", *argv)
    except ChildFailedError as exc:
        rank, failure = exc.get_first_failure()
        raise WorkerFailedError(rank, failure.exitcode) from None
    except SignalException:  # Ctrl-C / SIGTERM: the launcher has stopped the workers
        raise KeyboardInterrupt from None


# A launched process that fails with one of these codes has printed its own one-line error.
REPORTED_EXIT_CODES = (EXIT_USER_ERROR, EXIT_DIVERGED)


def relaunch(argv: Sequence[str], nprocs: int) -> int:
    """Run `python -m stylegen <argv>` as `nprocs` processes (see :func:`launch`); return the
    exit code for the launching process.

    0 when every process succeeds; a process's EXIT_USER_ERROR or EXIT_DIVERGED is passed on
    (that process has reported the error); any other failure raises WorkerFailedError.
    """
    try:
        launch(argv, nprocs)
    except WorkerFailedError as exc:
        if exc.exitcode in REPORTED_EXIT_CODES:
            return exc.exitcode
        raise
    return 0
