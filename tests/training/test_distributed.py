"""Multi-process training on CPU with gloo: equality with one process, a killed rank, 2 nodes.

The slow tests start real process groups on 127.0.0.1 (torchrun or `stylegen train --cpu-procs`),
each on a 16-image 16x16 dataset with the `tiny` preset for 4 minibatches of 8 images.
"""

import datetime
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import stylegen
from stylegen import checkpoint
from stylegen.commands import main
from stylegen.errors import UserError
from stylegen.runs import STATE_FILE, latest_snapshot
from stylegen.training import distributed
from stylegen.training.stats import StatsCollector

KILL_WORKER = Path(__file__).with_name("dist_kill_worker.py")
TIMEOUT_S = 240  # a hung job fails the test instead of blocking the suite
# 4 minibatches of 8 = 2 ticks; lazy R1 and path length run at step 0, ADA adjusts at step 4.
TRAIN = ["--preset", "tiny", "--cond", "--batch", "8", "--p", "0.2", "--threads", "1"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """16 random 16x16 RGB images in 2 classes."""
    root = tmp_path_factory.mktemp("dist") / "data"
    root.mkdir()
    rng = np.random.default_rng(0)
    labels = []
    for i in range(16):
        img = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
        Image.fromarray(img).save(root / f"{i:02d}.png")
        labels.append([f"{i:02d}.png", i % 2])
    (root / "dataset.json").write_text(json.dumps({"labels": labels}))
    return root


def _env() -> dict[str, str]:
    env = dict(os.environ)
    src = str(Path(stylegen.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    env["OMP_NUM_THREADS"] = "1"
    env["STYLEGEN_DIST_TIMEOUT"] = "120"
    env.pop("WORLD_SIZE", None)
    return env


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        cmd, env=_env(), capture_output=True, text=True, timeout=TIMEOUT_S, check=False, **kw
    )


def _torchrun(*args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", *args]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _reference(data: Path, out: Path, kimg: str = "0.032", extra: tuple[str, ...] = ()) -> dict:
    """One process, global batch 8 as two accumulated rounds of --batch-gpu 4."""
    threads = torch.get_num_threads()
    try:
        args = ["train", "--data", str(data), "--kimg", kimg, "--outdir", str(out), *TRAIN, *extra]
        assert main([*args, "--batch-gpu", "4"]) == 0
    finally:
        torch.set_num_threads(threads)
    return _final_state(out)


def _final_state(outdir: Path) -> dict:
    (run,) = outdir.iterdir()
    return torch.load(latest_snapshot(run) / STATE_FILE, weights_only=True)


def _assert_same_weights(a: dict, b: dict) -> None:
    for net in ("G", "D", "G_ema"):
        assert a[net].keys() == b[net].keys()
        for k in a[net]:
            diff = (a[net][k].float() - b[net][k].float()).abs().max().item()
            assert diff <= 1e-5, (net, k, diff)
    assert a["augment"] == b["augment"]
    assert torch.allclose(a["pl_mean"], b["pl_mean"], atol=1e-6)


# ---------------------------------------------------------------------------------------------
# Pieces, in one process


def test_shard_layout():
    lay = distributed.shard_layout(batch=32, batch_gpu=4, world_size=2, rank=1)
    assert (lay.rounds, lay.num_shards, lay.local_shards) == (4, 8, [4, 5, 6, 7])
    assert distributed.shard_layout(8, None, 2, 0).batch_gpu == 4
    with pytest.raises(UserError, match=r"--batch 8 is not divisible by processes x --batch-gpu"):
        distributed.shard_layout(8, 3, 2)
    with pytest.raises(UserError, match="--batch 9 is not divisible by the 2 processes"):
        distributed.shard_layout(9, None, 2)


def test_single_process_helpers_are_no_ops():
    assert distributed.info() == distributed.DistInfo(0, 1, 0)
    t = torch.arange(3.0)
    assert distributed.all_reduce_sum_(t) is t and t.tolist() == [0, 1, 2]
    p = torch.nn.Parameter(torch.ones(2))
    p.grad = torch.full((2,), 3.0)
    assert distributed.reduce_gradients([p], 1.0).item() == 1.0 and p.grad.tolist() == [3, 3]
    assert distributed.rank0_call(lambda: 7) == 7
    assert distributed.all_gather_objects("x") == ["x"]


def test_stats_reduce_sums_moments_over_processes():
    stats = StatsCollector()
    stats.report("a", torch.tensor([1.0, 3.0]))
    # A fake all-reduce over 2 processes; the other one also reported "b" = [10].
    other = torch.tensor([[0, 0, 0], [1, 10, 100]], dtype=torch.float64)
    stats.reduce(["a", "b"], lambda t: t + other)
    out = stats.tick(with_std=True)
    assert out["a"] == 2.0 and out["a/std"] == 1.0 and out["b"] == 10.0


def test_backend_choice(monkeypatch):
    monkeypatch.delenv(distributed.BACKEND_ENV, raising=False)
    monkeypatch.setattr(distributed, "cuda_device_count", lambda: 0)
    assert distributed.resolve_backend(None, "cpu") == "gloo"
    assert distributed.resolve_backend("auto", "cuda") == "nccl"
    with pytest.raises(UserError, match="NCCL was asked for .* no CUDA device is visible"):
        distributed.resolve_backend("nccl", "cpu")
    monkeypatch.setenv(distributed.BACKEND_ENV, "nccl")
    with pytest.raises(UserError, match="NCCL was asked for"):
        distributed.resolve_backend(None, "cpu")


def _collectives_worker(rank: int, port: int) -> None:
    dist = torch.distributed
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=2,
        timeout=datetime.timedelta(seconds=60),  # a failed peer must not hang the suite
    )
    try:
        assert distributed.info() == distributed.DistInfo(rank, 2, 0)
        p, q = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(1))
        p.grad = torch.tensor([1.0, 2.0]) * (rank + 1)  # q has no gradient on either rank
        flag = torch.tensor(float(rank))  # a device tensor in training; a float also works
        assert distributed.reduce_gradients([p, q], flag=flag).item() == 1.0
        assert p.grad.tolist() == [3.0, 6.0] and q.grad is None
        assert distributed.all_gather_objects(rank * 10) == [0, 10]
        assert distributed.broadcast_object(f"rank {rank}") == "rank 0"
        assert distributed.rank0_call(lambda: Path(f"run-{rank}")) == Path("run-0")

        def fails_on_rank0():
            raise UserError("cannot create --outdir x")

        # The error of rank 0's I/O reaches every rank, so all of them stop with exit code 2.
        with pytest.raises(UserError, match="cannot create --outdir x"):
            distributed.rank0_call(fails_on_rank0)
        stats = StatsCollector()
        stats.report("only_on_rank1" if rank else "both", float(rank + 1))
        stats.report("both", 5.0)
        stats.reduce(["both", "only_on_rank1"], distributed.all_reduce_sum_)
        assert stats.tick() == {"both": (1 + 5 + 5) / 3, "only_on_rank1": 2.0}
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_collectives_with_two_processes():
    torch.multiprocessing.spawn(_collectives_worker, args=(_free_port(),), nprocs=2)


# ---------------------------------------------------------------------------------------------
# Bad input through the CLI: one line, exit 2


def _cli_error(capsys, *args: str) -> str:
    assert main(["train", "--data", "fashion-mnist", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


def test_cli_bad_distributed_input(capsys, monkeypatch):
    monkeypatch.delenv(distributed.BACKEND_ENV, raising=False)
    monkeypatch.setattr(distributed, "cuda_device_count", lambda: 0)
    err = _cli_error(capsys, "--gpus", "2")
    assert "no CUDA device is visible" in err and "--cpu-procs 2" in err
    monkeypatch.setattr(distributed, "cuda_device_count", lambda: 1)
    assert "only 1 CUDA device(s) are visible" in _cli_error(capsys, "--gpus", "2")
    monkeypatch.setattr(distributed, "cuda_device_count", lambda: 0)
    err = _cli_error(capsys, "--cpu-procs", "2", "--batch", "8", "--batch-gpu", "3")
    assert "--batch 8 is not divisible by processes x --batch-gpu = 2 x 3 = 6" in err
    assert "NCCL was asked for" in _cli_error(capsys, "--dist-backend", "nccl")
    monkeypatch.setenv(distributed.BACKEND_ENV, "nccl")
    assert "NCCL was asked for" in _cli_error(capsys, "--cpu-procs", "2")
    monkeypatch.delenv(distributed.BACKEND_ENV)
    monkeypatch.setenv("WORLD_SIZE", "3")  # as if started by torchrun with 3 processes
    assert "torchrun started 3 processes" in _cli_error(capsys, "--cpu-procs", "2")


# ---------------------------------------------------------------------------------------------
# Real process groups (gloo on 127.0.0.1)


@pytest.mark.slow
@pytest.mark.parametrize("extra", [(), ("--shared-fakes",)], ids=["official", "shared-fakes"])
def test_two_processes_equal_one_process(data, tmp_path, extra):
    out = tmp_path / "dist"
    cmd = [sys.executable, "-m", "stylegen", "train", "--data", str(data), "--kimg", "0.032"]
    proc = _run([*cmd, "--outdir", str(out), *TRAIN, *extra, "--cpu-procs", "2"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("done: ") == 1  # rank 0 alone reports
    _assert_same_weights(_final_state(out), _reference(data, tmp_path / "ref", extra=extra))
    (run,) = out.iterdir()
    assert len(list(run.glob("events.out.tfevents*"))) == 1  # rank 0 alone writes
    kimgs = [json.loads(x)["Progress/kimg"] for x in (run / "stats.jsonl").open()]
    assert kimgs == [0.016, 0.032]


@pytest.mark.slow
def test_two_nodes_with_c10d_rendezvous(data, tmp_path):
    out = tmp_path / "nodes"
    port = _free_port()
    node = _torchrun(
        "--nnodes",
        "2",
        "--nproc-per-node",
        "1",
        "--rdzv-backend",
        "c10d",
        "--rdzv-endpoint",
        f"127.0.0.1:{port}",
        "--rdzv-id",
        f"test-{port}",
        "-m",
        "stylegen",
        "train",
        "--data",
        str(data),
        "--kimg",
        "0.032",
        "--outdir",
        str(out),
        *TRAIN,
    )
    nodes = [subprocess.Popen(node, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)]
    nodes.append(subprocess.Popen(node, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    try:
        logs = [p.communicate(timeout=TIMEOUT_S) for p in nodes]
    finally:
        for p in nodes:
            p.kill()
    for p, (_, err) in zip(nodes, logs):
        assert p.returncode == 0, err.decode()[-3000:]
    _assert_same_weights(_final_state(out), _reference(data, tmp_path / "ref"))


@pytest.mark.slow
def test_killed_rank_stops_the_job_and_resume_continues(data, tmp_path):
    out = tmp_path / "runs"
    train = ["train", "--data", str(data), "--kimg", "0.048", "--outdir", str(out), "--snap", "1"]
    # Rank 1 dies with SIGKILL after 4 minibatches (32 images), before the tick that would have
    # written snapshot 0.032: only 0.016 exists.
    job = _torchrun("--standalone", "--nproc-per-node", "2", str(KILL_WORKER), "1", "32")
    proc = _run([*job, *train, *TRAIN])  # subprocess.run's timeout bounds the time
    assert proc.returncode != 0
    assert "SIGKILL" in proc.stderr or f"-{int(signal.SIGKILL)}" in proc.stderr
    (run,) = out.iterdir()
    snap = latest_snapshot(run)
    assert snap.name == "snapshot-000000.016"
    state = torch.load(snap / STATE_FILE, weights_only=True)
    assert state["counters"][0].item() == 16 and len(state["rng_shards"]) == 2
    assert checkpoint.load(snap).img_resolution == 16

    # Resume through `stylegen train --cpu-procs 2`, the launcher path torchrun did not cover.
    cmd = [sys.executable, "-m", "stylegen", "train", "--resume", str(run), "--cpu-procs", "2"]
    resumed = _run(cmd)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert latest_snapshot(run).name == "snapshot-000000.048"
    assert not list(run.glob(".snapshot-*"))
    kimgs = [json.loads(x)["Progress/kimg"] for x in (run / "stats.jsonl").open()]
    assert kimgs == [0.016, 0.032, 0.048]
    # Every rank resumed from the same state: the result is that of an uninterrupted run.
    _assert_same_weights(_final_state(out), _reference(data, tmp_path / "ref", kimg="0.048"))
