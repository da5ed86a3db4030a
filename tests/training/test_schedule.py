"""--lr-rampdown (training/schedule.py): the factor, and the trainer's optimisers following it."""

import pytest
import torch

from stylegen.commands import main
from stylegen.training.schedule import rampdown_factor
from stylegen.training.stylegan import STYLEGAN
from stylegen.training.stylegan_config import TrainConfig
from stylegen.training.trainer import new_step


def test_factor_is_one_then_falls_linearly_to_zero():
    # A run of 1000 images ramping down over its last quarter: flat until 750, 0 at 1000.
    assert rampdown_factor(0, 1000, 0.25) == 1.0
    assert rampdown_factor(750, 1000, 0.25) == 1.0
    assert rampdown_factor(800, 1000, 0.25) == pytest.approx(0.8)
    assert rampdown_factor(875, 1000, 0.25) == pytest.approx(0.5)
    assert rampdown_factor(1000, 1000, 0.25) == 0.0
    assert rampdown_factor(1200, 1000, 0.25) == 0.0  # past the end (a resumed, shortened run)
    assert rampdown_factor(0, 1000, 1.0) == 1.0 and rampdown_factor(
        500, 1000, 1.0
    ) == pytest.approx(0.5)
    assert rampdown_factor(999, 1000, 0.0) == 1.0  # off: constant, as the official code


def _step(rampdown: float):
    cfg = TrainConfig(
        data="fashion-mnist",
        preset="tiny",
        max_size=64,
        batch=8,
        kimg=0.1,  # 100 images
        aug="none",
        pl_weight=2.0,  # lazy path-length regularisation scales G's base rate
        style_mixing_prob=0.0,
        lr_rampdown=rampdown,
        threads=1,
    )
    torch.manual_seed(0)
    return new_step(STYLEGAN, cfg)


def test_optimisers_follow_the_schedule_from_their_lazy_regularised_base():
    step = _step(0.5)
    base_g, base_d = step.opt_G.param_groups[0]["lr"], step.opt_D.param_groups[0]["lr"]
    assert base_g == pytest.approx(0.0025 * 4 / 5) and base_d == pytest.approx(0.0025 * 16 / 17)
    step.train_step(40, 1)  # before the ramp: unchanged
    assert step.opt_G.param_groups[0]["lr"] == pytest.approx(base_g)
    step.train_step(80, 2)  # 80 of 100 images, ramp from 50: 0.4 of the rate left
    assert step.opt_G.param_groups[0]["lr"] == pytest.approx(0.4 * base_g)
    assert step.opt_D.param_groups[0]["lr"] == pytest.approx(0.4 * base_d)
    off = _step(0.0)
    off.train_step(96, 2)
    assert off.opt_G.param_groups[0]["lr"] == pytest.approx(base_g)


def test_flag_reaches_the_config_and_bad_values_exit_2(capsys):
    base = ["train", "--data", "fashion-mnist", "--dry-run"]
    assert main([*base, "--lr-rampdown", "0.3"]) == 0
    assert '"lr_rampdown": 0.3' in capsys.readouterr().out
    assert main(base) == 0
    assert '"lr_rampdown": 0.0' in capsys.readouterr().out  # cpu32's default: constant
    assert main([*base, "--lr-rampdown", "1.5"]) == 2
    assert "--lr-rampdown 1.5 must be between 0 and 1" in capsys.readouterr().err
