"""The shared trainer: Ctrl-C snapshots, the run lock, failed starts, damaged runs on resume;
skipping a step for a non-finite loss without reading the device."""

import json
import os
import pickle
import signal
import socket

import pytest
import torch

from stylegen import runs
from stylegen.errors import UserError
from stylegen.training import trainer
from stylegen.training.stylegan import StyleGANStep, resume, train
from stylegen.training.stylegan_config import TrainConfig
from stylegen.training.trainer import step_unless

# 'tiny' at batch 8 ticks every 16 images; snap 100 means no periodic snapshot before the end.
BASE = dict(data="fashion-mnist", preset="tiny", max_size=64, snap=100, threads=1)


def _cfg(tmp_path, **kw) -> TrainConfig:
    return TrainConfig(outdir=str(tmp_path / "runs"), **{**BASE, **kw})


def _signal_after(monkeypatch, steps: int, times: int = 1) -> None:
    """Make the step send SIGINT to this process after `steps` minibatches (`times` signals)."""
    real = StyleGANStep.train_step

    def step_then_interrupt(self, cur_nimg, batch_idx):
        skipped = real(self, cur_nimg, batch_idx)
        if batch_idx + 1 == steps:
            for _ in range(times):
                os.kill(os.getpid(), signal.SIGINT)
        return skipped

    monkeypatch.setattr(StyleGANStep, "train_step", step_then_interrupt)


def test_first_ctrl_c_writes_a_final_snapshot_and_resume_is_exact(tmp_path, monkeypatch):
    full = train(_cfg(tmp_path, kimg=0.064))
    # What the process had before training (SIG_IGN when launched in the background by a
    # non-interactive shell), not necessarily Python's default handler.
    before = signal.getsignal(signal.SIGINT)
    with monkeypatch.context() as m:
        _signal_after(m, steps=3)
        with pytest.raises(KeyboardInterrupt):
            train(_cfg(tmp_path, kimg=0.064))
    run = tmp_path / "runs" / "00001-fashion-mnist-tiny"
    assert [p.name for p in runs.list_snapshots(run)] == ["snapshot-000000.024"]
    assert not (run / runs.LOCK_FILE).exists()  # the lock went with the process's run
    assert signal.getsignal(signal.SIGINT) is before  # handler restored
    resumed = resume(run)
    a = torch.load(full / runs.STATE_FILE, weights_only=True)
    b = torch.load(resumed / runs.STATE_FILE, weights_only=True)
    for net in ("G", "D", "G_ema"):
        for k in a[net]:
            assert torch.equal(a[net][k], b[net][k]), (net, k)


def test_second_ctrl_c_stops_at_once_without_a_half_snapshot(tmp_path, monkeypatch):
    real_save = StyleGANStep.save_networks

    def interrupted_save(self, folder, metadata):
        real_save(self, folder, metadata)
        os.kill(os.getpid(), signal.SIGINT)  # the second Ctrl-C, while the snapshot is written

    monkeypatch.setattr(StyleGANStep, "save_networks", interrupted_save)
    _signal_after(monkeypatch, steps=2)
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(tmp_path, kimg=0.064))
    run = tmp_path / "runs" / "00000-fashion-mnist-tiny"
    assert runs.list_snapshots(run) == []
    assert not [p.name for p in run.iterdir() if p.name.startswith(".")]  # no temp, no lock


def test_ctrl_c_exits_130_from_the_cli(tmp_path, monkeypatch, capsys):
    from stylegen.commands import main

    _signal_after(monkeypatch, steps=1)
    argv = ["train", "--data", "fashion-mnist", "--preset", "tiny", "--max-size", "64"]
    argv += ["--kimg", "0.064", "--snap", "100", "--threads", "1"]
    assert main([*argv, "--outdir", str(tmp_path)]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert [p.name for p in runs.list_snapshots(tmp_path / "00000-fashion-mnist-tiny")] == [
        "snapshot-000000.008"
    ]


def test_a_run_that_fails_before_its_first_step_leaves_no_folder(tmp_path, monkeypatch):
    def broken_step(self, cur_nimg, batch_idx):
        raise UserError("no such device")

    monkeypatch.setattr(StyleGANStep, "train_step", broken_step)
    with pytest.raises(UserError, match="no such device"):
        train(_cfg(tmp_path, kimg=0.016))
    assert list((tmp_path / "runs").iterdir()) == []


def test_resume_refuses_a_run_another_process_trains(tmp_path):
    snap = train(_cfg(tmp_path, kimg=0.016))
    holder = {"pid": os.getppid(), "host": socket.gethostname()}
    (snap.parent / runs.LOCK_FILE).write_text(json.dumps(holder))
    with pytest.raises(UserError, match=f"in use by process {os.getppid()}"):
        resume(snap.parent, kimg=0.032)
    assert runs.list_snapshots(snap.parent) == [snap]


class _Payload:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: p.write_bytes(p.read_bytes()[:100]), "training_state.pt cannot be read"),
        (lambda p: p.write_bytes(b""), "training_state.pt cannot be read"),
        (lambda p: p.write_bytes(pickle.dumps(_Payload())), "training_state.pt cannot be read"),
    ],
)
def test_resume_of_a_damaged_state_is_one_line(tmp_path, damage, message):
    snap = train(_cfg(tmp_path, kimg=0.016))
    damage(snap / runs.STATE_FILE)
    with pytest.raises(UserError, match=message) as info:
        resume(snap.parent, kimg=0.032)
    assert "\n" not in str(info.value) and "delete snapshot-000000.016" in str(info.value)


def test_resume_of_damaged_options_is_one_line(tmp_path):
    snap = train(_cfg(tmp_path, kimg=0.016))
    options = snap.parent / runs.OPTIONS_FILE
    options.write_text(options.read_text()[:40])
    with pytest.raises(UserError, match="training_options.json is not readable JSON"):
        resume(snap.parent)
    options.write_text(json.dumps({"kind": "stylegan", "data": "x", "kimg": "lots", "bogus": 1}))
    with pytest.raises(UserError, match="no field.* bogus"):
        resume(snap.parent)


def _adam_with_state(fused: bool) -> tuple[torch.optim.Adam, torch.nn.Parameter]:
    torch.manual_seed(0)
    p = torch.nn.Parameter(torch.randn(5))
    opt = torch.optim.Adam([p], lr=0.1, betas=(0.0, 0.99), fused=fused)
    for _ in range(2):  # moments and step count that a skipped step must leave alone
        p.grad = torch.randn(5)
        opt.step()
    p.grad = torch.randn(5)
    return opt, p


@pytest.mark.parametrize("fused", [True, False])
def test_step_unless_skips_or_steps_like_a_plain_step(fused):
    opt, p = _adam_with_state(fused)
    before = (p.detach().clone(), {k: v.clone() for k, v in opt.state[p].items()})
    assert step_unless(opt, torch.tensor(True)).item() == 1.0
    assert torch.equal(p, before[0])
    assert all(torch.equal(v, before[1][k]) for k, v in opt.state[p].items())
    assert getattr(opt, "found_inf", None) is None  # the next step is not skipped by accident

    expected, q = _adam_with_state(fused)
    expected.step()
    assert step_unless(opt, torch.tensor(False)).item() == 0.0
    assert torch.equal(p, q)
    assert all(torch.equal(v, expected.state[q][k]) for k, v in opt.state[p].items())


def test_device_streak_counts_runs_of_skipped_minibatches():
    streak = trainer._DeviceStreak()
    assert streak.read() is None
    for skipped in [1, 1, 0, 2, 1, 1, 0]:
        streak.add(torch.tensor(float(skipped)), streak=0)
    assert streak.read() == (6, 0, 3)  # total 6, no run now, longest run 3 (2 steps count once)
    streak.add(torch.tensor(1.0), streak=4)  # a run the host already counted goes on
    streak.add(torch.tensor(1.0), streak=99)  # only the first add of a tick takes the host's
    assert streak.read() == (2, 6, 6)
