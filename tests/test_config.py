"""Training config resolution and validation."""

import dataclasses

import pytest

from stylegen.config import config_from_dict, config_to_dict
from stylegen.errors import UserError
from stylegen.models.stylegan2 import GeneratorConfig
from stylegen.training.stylegan_config import (
    DEMO_CONFIG,
    PRESETS,
    TrainConfig,
    build_configs,
    demo_config,
)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_resolves_and_builds_its_networks(name):
    # One table holds each recipe's networks and training defaults: every name must give both.
    r = TrainConfig(data="x", preset=name).resolved()
    assert r.batch == PRESETS[name].train.batch and r.arch == PRESETS[name].arch
    g, d = build_configs(name)
    assert g.img_resolution == d.img_resolution == (PRESETS[name].resolution or 32)


def test_resolved_fills_preset_defaults_and_keeps_overrides():
    r = TrainConfig(data="x", preset="cifar", gamma=0.5).resolved()
    assert (r.batch, r.glr, r.ema_kimg, r.ema_rampup) == (64, 0.0025, 500, 0.05)
    assert r.gamma == 0.5 and r.pl_weight == 0 and r.style_mixing_prob == 0
    p = TrainConfig(data="x", preset="paper256").resolved()
    assert (p.gamma, p.pl_weight, p.style_mixing_prob, p.ema_kimg) == (1.0, 2.0, 0.9, 20)


def test_demo_config_resolves():
    r = DEMO_CONFIG.resolved()
    assert r.data == "fashion-mnist" and r.cond and r.precision == "auto"
    assert (r.kimg, r.minutes) == (120.0, 10.0)  # ten minutes at most, on any CPU


def test_demo_batch_is_the_presets_where_a_cpu_trains_in_float32():
    assert demo_config("cpu", bfloat16_hardware=True).batch == DEMO_CONFIG.batch == 16
    assert demo_config("cuda", bfloat16_hardware=False).batch == 16
    slow = demo_config("cpu", bfloat16_hardware=False)
    assert slow.batch == 8 and slow.resolved().batch == 8
    assert DEMO_CONFIG.batch == 16  # demo_config returned a copy


@pytest.mark.parametrize(
    "kw,msg",
    [
        (dict(preset="huge"), "unknown preset 'huge'"),
        (dict(aug="maybe"), "unknown --aug mode 'maybe'"),
        (dict(batch=0), "--batch 0 must be >= 1"),
        (dict(batch=7, pl_weight=2.0), "--batch 7 is not divisible by the path-length"),
        (dict(kimg=0), "--kimg 0 must be > 0"),
        (dict(minutes=0), "--minutes 0 must be > 0"),
        (dict(gamma=-1.0), "--gamma -1.0 must be >= 0"),
        (dict(aug_p=1.5), "--p 1.5 must be between 0 and 1"),
        (dict(snap=0), "--snap 0 must be >= 1"),
    ],
)
def test_bad_train_config(kw, msg):
    with pytest.raises(UserError, match=msg):
        TrainConfig(data="x", **kw).resolved()


def test_config_json_round_trip_and_unknown_keys():
    g = GeneratorConfig(c_dim=3, architecture="resnet")
    assert config_from_dict(GeneratorConfig, config_to_dict(g)) == g
    with pytest.raises(UserError, match="no field.* frobs"):
        config_from_dict(GeneratorConfig, {**dataclasses.asdict(g), "frobs": 1})
