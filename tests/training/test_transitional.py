"""Transitional conditioning (Shahbazi et al. 2022, "Collapse by Conditioning"): the ramp
lambda(t), D's class-agnostic head, lambda = 1 as the plain conditional model, resume mid-ramp."""

import dataclasses
import subprocess
import sys

import pytest
import torch

from stylegen.errors import UserError
from stylegen.models.discriminator import Discriminator, DiscriminatorConfig
from stylegen.models.mapping import MappingNetwork
from stylegen.runs import STATE_FILE
from stylegen.training.stylegan import STYLEGAN, resume, train
from stylegen.training.stylegan_config import TrainConfig, transition_weight
from stylegen.training.trainer import new_step

BASE = dict(data="fashion-mnist", preset="tiny", cond=True, max_size=256, snap=1, threads=1)


def _cfg(tmp_path, **kw) -> TrainConfig:
    return TrainConfig(outdir=str(tmp_path / "runs"), **{**BASE, **kw})


def test_transition_weight_ramps_linearly_between_the_marks():
    assert transition_weight(0.0, 2.0, 6.0) == 0.0
    assert transition_weight(2.0, 2.0, 6.0) == 0.0
    assert transition_weight(3.0, 2.0, 6.0) == 0.25
    assert transition_weight(5.0, 2.0, 6.0) == 0.75
    assert transition_weight(6.0, 2.0, 6.0) == 1.0
    assert transition_weight(60.0, 2.0, 6.0) == 1.0
    # equal marks: a step; no ramp: always conditional
    assert transition_weight(1.9, 2.0, 2.0) == 0.0
    assert transition_weight(2.0, 2.0, 2.0) == 1.0
    assert transition_weight(0.0, None, None) == 1.0


def _d_pair() -> tuple[Discriminator, Discriminator]:
    common = dict(c_dim=10, img_resolution=16, img_channels=1, channel_base=128, channel_max=16)
    torch.manual_seed(0)
    plain = Discriminator(DiscriminatorConfig(**common, mapping_layers=2))
    both = Discriminator(DiscriminatorConfig(**common, mapping_layers=2, uncond_head=True))
    missing = both.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert sorted(missing) == ["b4.out_uncond.bias", "b4.out_uncond.weight"]
    return plain, both


def test_d_logit_is_class_agnostic_head_plus_weighted_projection():
    plain, both = _d_pair()
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(8, 1, 16, 16, generator=gen)
    c = torch.eye(10)[torch.randint(10, (8,), generator=gen)]
    feats = {}
    both.b4.fc.register_forward_hook(lambda m, i, o: feats.__setitem__("fc", o))
    with torch.no_grad():
        proj = plain(x, c)
        for lam in (0.0, 0.3, 1.0):
            got = both(x, c, cond_weight=lam)
            head = both.b4.out_uncond(feats["fc"])
            torch.testing.assert_close(got, head + lam * proj, rtol=1e-5, atol=1e-6)
        # lambda 0: the label does not matter
        other = torch.roll(c, 1, dims=1)
        torch.testing.assert_close(both(x, c, cond_weight=0.0), both(x, other, cond_weight=0.0))
        # without the head the plain projection D is untouched, bit for bit
        assert torch.equal(plain(x, c, cond_weight=1.0), proj)
        assert torch.equal(plain(x, c, cond_weight=0.5), proj * 0.5)


def test_mapping_cond_weight_scales_the_embedding_and_one_is_the_plain_mapping():
    torch.manual_seed(0)
    m = MappingNetwork(z_dim=8, c_dim=4, w_dim=8, num_ws=3, num_layers=2)
    z, c = torch.randn(5, 8), torch.eye(4)[[0, 1, 2, 3, 0]]
    with torch.no_grad():
        plain = m(z, c)
        assert m.cond_weight == 1.0
        m.cond_weight = 0.0
        zero = m(z, c)
        assert torch.equal(zero, m(z, torch.roll(c, 1, dims=1)))  # the label is ignored
        assert not torch.equal(zero, plain)
        m.cond_weight = 1.0
        assert torch.equal(m(z, c), plain)


def test_old_configs_load_without_the_new_field():
    d = dataclasses.asdict(DiscriminatorConfig(c_dim=3))
    del d["uncond_head"]
    assert DiscriminatorConfig(**d).uncond_head is False


def test_lambda_one_throughout_is_the_current_conditional_model(tmp_path):
    """A ramp that has ended before step 0, with D's extra head switched off, trains exactly
    the plain conditional StyleGAN2-ADA (same weights bit for bit after several steps)."""
    plain = new_step(STYLEGAN, _cfg(tmp_path))
    ramped = new_step(
        STYLEGAN,
        _cfg(tmp_path, cond_start_kimg=0.0, cond_end_kimg=0.0, D_overrides={"uncond_head": False}),
    )
    for step in (plain, ramped):
        for i in range(5):
            step.train_step(i * 8, i)
    assert ramped.cond_weight == 1.0
    for name in ("G", "D", "G_ema"):
        a, b = getattr(plain, name).state_dict(), getattr(ramped, name).state_dict()
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), (name, k)


def test_the_ramp_reaches_g_g_ema_and_d(tmp_path):
    step = new_step(STYLEGAN, _cfg(tmp_path, cond_start_kimg=0.016, cond_end_kimg=0.032))
    assert step.D.config.uncond_head and step.cond_weight == 0.0
    seen = []
    for i in range(6):
        step.train_step(i * 8, i)
        seen.append((step.cond_weight, step.G.mapping.cond_weight, step.G_ema.mapping.cond_weight))
    assert [s[0] for s in seen] == [0.0, 0.0, 0.0, 0.5, 1.0, 1.0]
    assert all(a == b == c for a, b, c in seen)
    # unconditional training ignores the ramp: no head, lambda stays 1
    uncond = new_step(STYLEGAN, _cfg(tmp_path, cond=False, cond_start_kimg=1, cond_end_kimg=2))
    assert not uncond.D.config.uncond_head and uncond.cond_weight == 1.0


def test_resume_mid_ramp_equals_uninterrupted_run(tmp_path):
    kw = dict(cond_start_kimg=0.016, cond_end_kimg=0.056)
    full = train(_cfg(tmp_path, kimg=0.064, **kw))
    half = train(_cfg(tmp_path, kimg=0.032, **kw))
    meta = torch.load(half / STATE_FILE, weights_only=True)
    assert int(meta["counters"][0]) == 32  # stopped mid-ramp (lambda 0.4)
    resumed = resume(half.parent, kimg=0.064)
    a = torch.load(full / STATE_FILE, weights_only=True)
    b = torch.load(resumed / STATE_FILE, weights_only=True)
    for net in ("G", "D", "G_ema"):
        for k in a[net]:
            diff = (a[net][k].float() - b[net][k].float()).abs().max().item()
            assert diff < 1e-6, (net, k, diff)


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(cond_start_kimg=1.0), "needs both marks"),
        (dict(cond_start_kimg=5.0, cond_end_kimg=2.0), "ends"),
        (dict(cond_start_kimg=-1.0, cond_end_kimg=2.0), "--cond-ramp start"),
    ],
)
def test_bad_ramps_are_user_errors(tmp_path, kw, message):
    with pytest.raises(UserError, match=message):
        _cfg(tmp_path, **kw).resolved()


def test_cli_cond_ramp_flag():
    run = [sys.executable, "-m", "stylegen", "train", "--data", "fashion-mnist", "--cond"]
    ok = subprocess.run([*run, "--cond-ramp", "2,6", "--dry-run"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert '"cond_start_kimg": 2.0' in ok.stdout and '"cond_end_kimg": 6.0' in ok.stdout
    bad = subprocess.run([*run, "--cond-ramp", "2"], capture_output=True, text=True)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert "--cond-ramp" in bad.stderr


def test_cpu32_cond_preset_carries_the_ramp_and_flags_override_it():
    cfg = TrainConfig(data="fashion-mnist", preset="cpu32-cond", cond=True).resolved()
    assert (cfg.cond_start_kimg, cfg.cond_end_kimg) == (4.0, 14.0)
    assert cfg.batch == 8 and cfg.gamma == 0.2  # otherwise the cpu32 recipe
    own = TrainConfig(
        data="fashion-mnist", preset="cpu32-cond", cond=True, cond_start_kimg=1, cond_end_kimg=2
    ).resolved()
    assert (own.cond_start_kimg, own.cond_end_kimg) == (1, 2)
    plain = TrainConfig(data="fashion-mnist", preset="cpu32", cond=True).resolved()
    assert plain.cond_start_kimg is None and plain.cond_end_kimg is None


def test_cpu32_fast_presets_bring_bfloat16_and_tapered_networks():
    from stylegen.training.stylegan_config import build_configs

    cfg = TrainConfig(data="fashion-mnist", preset="cpu32-fast-cond", cond=True).resolved()
    assert cfg.precision == "auto" and (cfg.cond_start_kimg, cfg.cond_end_kimg) == (0.0, 0.0)
    # the tuned values of the conditional recipe; the unconditional one keeps cpu32's
    assert (cfg.glr, cfg.dlr, cfg.gamma, cfg.ema_kimg) == (0.0057, 0.0035, 1.5, 2.2)
    plain = TrainConfig(data="x", preset="cpu32-fast").resolved()
    assert (plain.glr, plain.dlr, plain.gamma, plain.ema_kimg) == (0.0025, 0.0025, 0.2, 1.0)
    assert TrainConfig(data="x", preset="cpu32-fast", precision="fp32").resolved().precision == (
        "fp32"
    )  # the flag wins over the preset
    assert TrainConfig(data="x", preset="cpu32").resolved().precision == "fp32"
    g, d = build_configs("cpu32-fast", img_resolution=32, img_channels=1, c_dim=0, arch=None)
    assert (g.channel_base, g.channel_max, g.num_fp16_res, g.use_noise) == (1024, 128, 4, False)
    assert (d.architecture, d.channel_base, d.num_fp16_res) == ("orig", 1024, 4)
    assert g.conv_clamp is None and d.conv_clamp is None  # bfloat16 cannot overflow at 256
