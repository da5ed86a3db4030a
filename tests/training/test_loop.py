"""Training loop: exact resume, snapshot contents and atomicity, non-finite losses, bad input."""

import json

import pytest
import torch

from stylegen import checkpoint
from stylegen import load as stylegen_load
from stylegen.errors import TrainingDivergedError, UserError
from stylegen.generate import generate_images
from stylegen.runs import STATE_FILE
from stylegen.training import losses, trainer
from stylegen.training.stylegan import STYLEGAN, resume, train
from stylegen.training.stylegan_config import TrainConfig
from stylegen.training.trainer import new_step

# 'tiny' ticks every 16 images; 4 ticks = 0.064 kimg, a few seconds on 2 cores.
BASE = dict(
    data="fashion-mnist",
    preset="tiny",
    cond=True,
    max_size=256,
    snap=1,
    pl_weight=2.0,
    style_mixing_prob=0.9,
    aug="ada",
    aug_p=0.2,
    threads=2,
)


def _cfg(tmp_path, **kw) -> TrainConfig:
    return TrainConfig(outdir=str(tmp_path / "runs"), **{**BASE, **kw})


def _state(snap):
    return torch.load(snap / STATE_FILE, weights_only=True)


@pytest.mark.parametrize("shared_fakes", [False, True], ids=["official", "shared-fakes"])
def test_resumed_run_equals_uninterrupted_run(tmp_path, shared_fakes):
    full = train(_cfg(tmp_path, kimg=0.064, shared_fakes=shared_fakes))
    half = train(_cfg(tmp_path, kimg=0.032, shared_fakes=shared_fakes))
    resumed = resume(half.parent, kimg=0.064)
    a, b = _state(full), _state(resumed)
    for net in ("G", "D", "G_ema"):
        for k in a[net]:
            diff = (a[net][k].float() - b[net][k].float()).abs().max().item()
            assert diff < 1e-6, (net, k, diff)
    assert a["augment"] == b["augment"]
    # The resumed run dropped nothing and repeated nothing in its stats.
    kimgs = [json.loads(x)["Progress/kimg"] for x in (half.parent / "stats.jsonl").open()]
    assert kimgs == sorted(set(kimgs)) and len(kimgs) == 4


def test_snapshot_contents_and_generation(tmp_path):
    snap = train(_cfg(tmp_path, kimg=0.032))
    run = snap.parent
    for name in ("training_options.json", "stats.jsonl", "losses.png", "reals.png"):
        assert (run / name).exists(), name
    assert sorted(p.name for p in snap.iterdir()) == [
        "config.json",
        "model.safetensors",
        "samples.png",
        STATE_FILE,
    ]
    assert not list(run.glob(".*"))  # no temp folders left behind
    G = checkpoint.load(run)  # a run folder resolves to its newest snapshot
    assert G.c_dim == 10 and G.img_channels == 1 and G.img_resolution == 32
    assert generate_images(G, [0, 1], class_idx=3).shape == (2, 1, 32, 32)
    stats = [json.loads(x) for x in (run / "stats.jsonl").open()]
    assert all(s["Progress/augment"] >= 0 for s in stats)
    assert {"Loss/G/loss", "Loss/D/loss", "Loss/r1_penalty", "Loss/pl_penalty"} <= set(stats[0])


def test_failed_snapshot_leaves_previous_intact(tmp_path, monkeypatch):
    first = train(_cfg(tmp_path, kimg=0.016))
    before = (first / "model.safetensors").read_bytes()
    calls = {"n": 0}
    real_save = torch.save

    def failing_save(obj, f, *a, **k):
        calls["n"] += 1
        if calls["n"] >= 1:
            raise OSError(28, "No space left on device")
        return real_save(obj, f, *a, **k)

    monkeypatch.setattr(trainer.torch, "save", failing_save)
    with pytest.raises(UserError, match="could not write snapshot .* free disk space"):
        resume(first.parent, kimg=0.048)
    assert (first / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in first.parent.glob("snapshot-*")) == [first.name]
    assert not list(first.parent.glob(".snapshot*"))


def test_nonfinite_steps_are_skipped_then_stop_the_run(tmp_path, monkeypatch):
    real_loss = losses.g_nonsaturating_loss
    bad = {"left": 3}

    def sometimes_nan(logits):
        if bad["left"] > 0:
            bad["left"] -= 1
            return real_loss(logits) * float("nan")
        return real_loss(logits)

    monkeypatch.setattr(losses, "g_nonsaturating_loss", sometimes_nan)
    snap = train(_cfg(tmp_path, kimg=0.032))
    stats = [json.loads(x) for x in (snap.parent / "stats.jsonl").open()]
    assert stats[-1]["Progress/nonfinite_steps"] == 3
    assert all(torch.isfinite(v).all() for v in checkpoint.load(snap).state_dict().values())

    bad["left"] = 10**9
    with pytest.raises(TrainingDivergedError, match="not finite for 20 steps in a row"):
        resume(snap.parent, kimg=0.5)
    # Skipped steps never write non-finite weights: the newest snapshot is still usable.
    newest = checkpoint.load(snap.parent)
    assert all(torch.isfinite(v).all() for v in newest.state_dict().values())


def test_bad_training_input(tmp_path):
    with pytest.raises(UserError, match="not a run folder"):
        resume(tmp_path)
    with pytest.raises(UserError, match="--batch 6 is not divisible by the minibatch-std group"):
        train(_cfg(tmp_path, batch=6, pl_weight=0.0))
    with pytest.raises(UserError, match="unknown --aug mode 'sometimes'"):
        train(_cfg(tmp_path, aug="sometimes"))
    folder = tmp_path / "imgs"
    folder.mkdir()
    from PIL import Image

    for i in range(4):
        Image.new("L", (8, 8), i * 40).save(folder / f"{i}.png")
    with pytest.raises(UserError, match="labels"):
        train(_cfg(tmp_path, data=str(folder)))
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_mixed_precision_trains_reduced_blocks_and_keeps_g_ema_float32(tmp_path):
    cfg = _cfg(
        tmp_path,
        kimg=0.016,
        precision="mixed",
        G_overrides={"num_fp16_res": 2},
        D_overrides={"num_fp16_res": 2},
    )
    step = new_step(STYLEGAN, cfg)
    assert step.G.synthesis.b32.reduced_precision
    assert not step.G.synthesis.b8.reduced_precision
    assert step.D.b32.reduced_precision
    assert not step.G_ema.synthesis.b32.reduced_precision
    before = {k: v.clone() for k, v in step.G.state_dict().items()}
    assert step.train_step(0, 0) == 0  # no optimiser step skipped
    changed = [k for k, v in step.G.state_dict().items() if not torch.equal(v, before[k])]
    assert "synthesis.b32.conv1.weight" in changed
    assert all(
        v.dtype == torch.float32 for v in step.G.state_dict().values() if v.is_floating_point()
    )


def test_minutes_budget_stops_early_with_a_snapshot(tmp_path, fake_clock):
    # 6 s per clock reading and a 0.25-minute budget: spent within a few minibatches, long
    # before the 0.064 kimg (8 minibatches of 8) that --kimg asks for.
    fake_clock(6.0)
    snap = train(_cfg(tmp_path, kimg=0.064, minutes=0.25))
    nimg = int(snap.name.split("-")[1].replace(".", ""))  # snapshot-000000.024: 24 images
    assert 0 < nimg < 64 and nimg % 8 == 0
    G = stylegen_load(snap)
    assert G.checkpoint_metadata["kimg"] == nimg / 1000


def test_minutes_budget_not_reached_trains_to_kimg(tmp_path, fake_clock):
    fake_clock(0.001)
    snap = train(_cfg(tmp_path, kimg=0.032, minutes=10.0))
    assert snap.name == "snapshot-000000.032"


def _two_process_trainer(tmp_path, monkeypatch, rank, others_votes):
    """A Trainer that believes it is `rank` of two; the other process adds `others_votes`
    to the minibatch's all-reduce. Returns the trainer and the list of tensors reduced."""
    cfg = _cfg(tmp_path, minutes=0.25).resolved()
    t = trainer.Trainer(new_step(STYLEGAN, cfg), cfg, tmp_path)
    t.dist, t.main = trainer.distributed.DistInfo(rank=rank, world_size=2), rank == 0
    reduced = []

    def all_reduce_sum_(votes):
        reduced.append(votes)
        own = torch.zeros(2) if votes.device.type == "meta" else votes  # meta holds no values
        return own + torch.tensor(others_votes)

    monkeypatch.setattr(trainer.distributed, "all_reduce_sum_", all_reduce_sum_)
    return t, reduced


@pytest.mark.parametrize(
    "rank, others_votes, expected",
    [
        (0, [0.0, 0.0], (True, False)),  # rank 0's clock says spent: everyone stops
        (1, [0.0, 0.0], (False, False)),  # only rank 0's clock counts
        (1, [1.0, 0.0], (True, False)),  # rank 0 sent "spent"
        (1, [0.0, 1.0], (False, True)),  # rank 0 was interrupted (Ctrl-C / SIGTERM)
        (0, [0.0, 1.0], (True, True)),  # rank 1 was interrupted
    ],
)
def test_stop_votes_take_rank_0s_clock_and_any_interrupt(
    tmp_path, fake_clock, monkeypatch, rank, others_votes, expected
):
    t, reduced = _two_process_trainer(tmp_path, monkeypatch, rank, others_votes)
    clock = fake_clock(20.0)  # each reading 20 s on: the 15 s budget is spent by the next one
    assert t._stop_votes(start_time=clock()) == expected
    assert len(reduced) == 1  # budget and interrupt share one collective per minibatch


def test_stop_votes_are_reduced_on_the_steps_device(tmp_path, fake_clock, monkeypatch):
    # NCCL has no collectives for CPU tensors: the vote must be made on the step's device
    # (a "meta" device stands in for the GPU here).
    t, reduced = _two_process_trainer(tmp_path, monkeypatch, 0, [0.0, 0.0])
    t.step.device = torch.device("meta")
    fake_clock(20.0)
    assert t._stop_votes(start_time=0.0) == (False, False)
    assert [v.device.type for v in reduced] == ["meta"]
