"""CycleGAN training: lr schedule, load/crop/flip, the generator loss composition, snapshots,
exact resume after an interruption, bad input."""

import json

import pytest
import torch

import stylegen
from stylegen.errors import UserError
from stylegen.models.cyclegan import ResnetGenerator
from stylegen.runs import STATE_FILE
from stylegen.training import losses
from stylegen.training.cyclegan import (
    CYCLEGAN,
    CycleGANConfig,
    load_crop_flip,
    resume_cyclegan,
    train_cyclegan,
)
from stylegen.training.schedule import linear_decay
from stylegen.training.trainer import Trainer, new_step

A, B = "fashion-mnist:sneaker", "fashion-mnist:ankle-boot"


def _cfg(tmp_path, **kw) -> CycleGANConfig:
    # tiny: batch 2, 8 images per domain -> 4 iterations per epoch, 1 + 1 epochs, a tick per
    # 2 iterations: 4 ticks, a snapshot after each.
    base = dict(data_a=A, data_b=B, preset="tiny", max_size=8, snap=1, threads=1)
    return CycleGANConfig(outdir=str(tmp_path / "runs"), **{**base, **kw})


def test_lr_factor_constant_then_linear_to_zero():
    assert [linear_decay(e, 3, 2) for e in (0, 1.5, 2.99, 3)] == [1, 1, 1, 1]
    assert linear_decay(3.5, 3, 2) == pytest.approx(0.75)
    assert linear_decay(4, 3, 2) == pytest.approx(0.5)
    assert linear_decay(5, 3, 2) == 0 and linear_decay(6, 3, 2) == 0
    assert linear_decay(10, 3, 0) == 1  # no decay phase


def test_load_crop_flip_takes_windows_of_the_resized_image():
    img = torch.arange(2 * 1 * 8 * 8, dtype=torch.float32).view(2, 1, 8, 8)
    rng = torch.Generator().manual_seed(0)
    out = load_crop_flip(img, load_size=8, crop_size=6, flip=True, rng=rng)
    assert out.shape == (2, 1, 6, 6)
    for x, y in zip(img, out):
        windows = [
            x[:, i : i + 6, j : j + 6].flip(-1) if f else x[:, i : i + 6, j : j + 6]
            for i in range(3)
            for j in range(3)
            for f in (False, True)
        ]
        assert any(torch.equal(y, w) for w in windows)
    again = load_crop_flip(img, 8, 6, True, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)
    assert load_crop_flip(img, 12, 8, False, rng).shape == (2, 1, 8, 8)


def test_generator_loss_is_the_papers_weighted_sum(tmp_path):
    step = new_step(CYCLEGAN, _cfg(tmp_path))
    assert step.train_step(0, 0) == 0  # no optimiser step skipped
    s = step.stats.tick()
    want = s["Loss/G/gan_a2b"] + s["Loss/G/gan_b2a"] + 10 * s["Loss/G/cycle"]
    want += 0.5 * 10 * s["Loss/G/identity"]
    assert s["Loss/G/loss"] == pytest.approx(want, rel=1e-5)
    assert s["Loss/D/loss"] == pytest.approx(s["Loss/D/a"] + s["Loss/D/b"], rel=1e-5)
    assert s["Progress/lr"] == pytest.approx(2e-4)
    assert step.opt_G.defaults["betas"] == (0.5, 0.999)


def test_loss_terms_on_hand_values():
    pred = torch.tensor([[0.5, -1.0], [2.0, 1.0]])
    assert losses.lsgan_loss(pred, True).item() == pytest.approx((0.25 + 4 + 1 + 0) / 4)
    assert losses.lsgan_loss(pred, False).item() == pytest.approx((0.25 + 1 + 4 + 1) / 4)
    x, y = torch.tensor([1.0, -1.0, 0.5]), torch.tensor([0.0, 1.0, 0.5])
    assert losses.cycle_loss(x, y).item() == pytest.approx(1.0)
    assert losses.identity_loss(x, y).item() == pytest.approx(1.0)


def _interrupt_after_tick(n):
    def progress(p):
        if p.stats is not None and p.tick == n:
            raise KeyboardInterrupt

    return progress


def test_interrupted_and_resumed_equals_uninterrupted(tmp_path):
    full = train_cyclegan(_cfg(tmp_path, snap=2))
    with pytest.raises(KeyboardInterrupt):  # stopped after the snapshot at tick 2 of 4
        train_cyclegan(_cfg(tmp_path, snap=2), progress=_interrupt_after_tick(2))
    run = sorted((tmp_path / "runs").iterdir())[-1]
    resumed = resume_cyclegan(run)
    assert resumed.name == full.name
    a = torch.load(full / STATE_FILE, weights_only=True)
    b = torch.load(resumed / STATE_FILE, weights_only=True)
    for net in ("G_AB", "G_BA", "D_A", "D_B"):
        for k in a[net]:
            diff = (a[net][k] - b[net][k]).abs().max().item()
            assert diff < 1e-6, (net, k, diff)
    for pool in ("pool_A", "pool_B"):
        assert torch.allclose(a[pool]["images"], b[pool]["images"], atol=1e-6)
    assert torch.equal(a["counters"], b["counters"])
    kimgs = [json.loads(x)["Progress/kimg"] for x in (run / "stats.jsonl").open()]
    assert kimgs == sorted(set(kimgs)) and len(kimgs) == 4
    lrs = [json.loads(x)["Progress/lr"] for x in (run / "stats.jsonl").open()]
    assert lrs[0] == pytest.approx(2e-4) and lrs[-1] < lrs[1]  # decaying in the second epoch


def test_snapshot_holds_two_loadable_generators(tmp_path):
    snap = train_cyclegan(_cfg(tmp_path, epochs=1, decay_epochs=0))
    assert sorted(p.name for p in snap.iterdir()) == [
        "G_AB",
        "G_BA",
        "samples.png",
        "training_state.pt",
    ]
    run = snap.parent
    for name in ("training_options.json", "stats.jsonl", "losses.png"):
        assert (run / name).exists(), name
    state = torch.load(snap / STATE_FILE, weights_only=True)
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    for sub, direction in (("G_AB", "a2b"), ("G_BA", "b2a")):
        G = stylegen.load(snap / sub)
        assert isinstance(G, ResnetGenerator) and G.config.direction == direction
        ref = ResnetGenerator(G.config)
        ref.load_state_dict(state[sub])
        assert torch.equal(G(x), ref.eval()(x))


def test_bad_input(tmp_path):
    with pytest.raises(UserError, match="--data-a: dataset .*nothing"):
        train_cyclegan(_cfg(tmp_path, data_a=str(tmp_path / "nothing")))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="--data-b: no images"):
        train_cyclegan(_cfg(tmp_path, data_b=str(tmp_path / "empty")))
    with pytest.raises(UserError, match="no class 'boot'"):
        train_cyclegan(_cfg(tmp_path, data_b="fashion-mnist:boot"))
    with pytest.raises(UserError, match="unknown CycleGAN preset"):
        train_cyclegan(_cfg(tmp_path, preset="huge"))
    with pytest.raises(UserError, match="--load-size 16 must be >= --crop-size 32"):
        train_cyclegan(_cfg(tmp_path, load_size=16))
    with pytest.raises(UserError, match="not a run folder"):
        resume_cyclegan(tmp_path)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_failed_snapshot_keeps_the_previous_one(tmp_path, monkeypatch):
    snap = train_cyclegan(_cfg(tmp_path, epochs=1, decay_epochs=0))
    run = snap.parent
    cfg = _cfg(tmp_path, epochs=1, decay_epochs=0).resolved()
    trainer = Trainer(new_step(CYCLEGAN, cfg), cfg, run)
    before = (snap / "G_AB" / "model.safetensors").read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    trainer.cur_nimg = 8  # the same kimg as the existing snapshot: it must survive
    with pytest.raises(UserError, match="could not write snapshot .*No space left"):
        trainer.snapshot()
    assert (snap / "G_AB" / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in run.iterdir() if p.name.startswith(".")) == []


def test_loss_plot_panels_for_cyclegan_keys():
    from stylegen.training.cyclegan import LOSS_PANELS
    from stylegen.training.stats import _panels

    records = [{"Loss/G/loss": 1.0, "Loss/G/cycle": 0.5, "Progress/kimg": 0.1}]
    titles = [title for title, _ in _panels(records, LOSS_PANELS)]
    assert titles == ["Losses", "Cycle / identity"]
