"""ProGAN / StyleGAN (2019) training: WGAN-GP against a float64 finite-difference reference, the
losses by hand, real-image fading, Adam resets at new resolutions, exact resume in the middle of
a fade, and bad input (one line, exit 2)."""

import json

import pytest
import torch

import stylegen
from stylegen.commands import main
from stylegen.data import open_dataset
from stylegen.errors import UserError
from stylegen.metrics.compute import generator_sampler
from stylegen.models import progan
from stylegen.models.layers import downscale2d, upscale2d
from stylegen.runs import STATE_FILE
from stylegen.training import families, losses
from stylegen.training.progressive import PROGRESSIVE, process_reals, resume, train
from stylegen.training.progressive_config import ProgressiveConfig
from stylegen.training.trainer import new_step


def _cfg(tmp_path, arch="progan", **kw):
    # tiny: batch 4; 8 images per resolution, then 16 to fade the next one in (4 minibatches),
    # a tick (and a snapshot) every 4 minibatches: the first one falls in the middle of a fade.
    base = dict(
        data="fashion-mnist",
        arch=arch,
        preset="tiny",
        max_size=32,
        phase_kimg=0.008,
        fade_kimg=0.016,
        kimg=0.032,
        tick_kimg=0.016,
        snap=1,
        threads=1,
        outdir=str(tmp_path / "runs"),
    )
    return ProgressiveConfig(**{**base, **kw})


def _tiny_d(res=8):
    cfg = progan.ProGANDiscriminatorConfig(
        img_resolution=res, img_channels=1, channel_base=32, channel_max=4, mbstd_group_size=2
    )
    return progan.Discriminator(cfg).double()


# ---------------------------------------------------------------------------------------------
# Losses


def test_wgan_gp_penalty_matches_float64_finite_differences():
    torch.manual_seed(3)
    D = _tiny_d()
    mixed = torch.randn(2, 1, 8, 8, dtype=torch.float64, requires_grad=True)
    penalty = losses.wgan_gp_penalty(mixed, D(mixed), target=1.0)
    # Reference: central differences of sum(D(x)) for every pixel of the batch (minibatch-std
    # couples the samples, and the official penalty differentiates the summed scores too). All
    # perturbed pairs run as one batch: with group size 2, samples k and K + k form a group, so
    # pair k is exactly one perturbed copy of the original two images.
    x0, h = mixed.detach(), 1e-6
    eye = torch.eye(x0.numel(), dtype=torch.float64).view(-1, *x0.shape) * h
    pairs = torch.cat([x0 + eye, x0 - eye])  # [2 * numel, 2, 1, 8, 8]
    with torch.no_grad():
        scores = D(torch.cat([pairs[:, 0], pairs[:, 1]])).view(2, -1).sum(0)
    plus, minus = scores.view(2, -1)
    grad = ((plus - minus) / (2 * h)).view_as(x0)
    norms = grad.flatten(1).norm(dim=1)
    torch.testing.assert_close(penalty.detach(), (norms - 1) ** 2, rtol=1e-6, atol=1e-9)
    # The graph is kept: the penalty trains D.
    penalty.sum().backward()
    assert D.b8.conv0.weight.grad is not None


def test_gradient_penalties_at_low_resolution_equal_the_full_resolution_ones():
    """D sees 8x8 images of a 32x32 run; the official code takes the gradient at the up-sampled
    32x32 image: our scaled norm equals it."""
    torch.manual_seed(4)
    D = _tiny_d(res=32)
    small = torch.randn(2, 1, 8, 8, dtype=torch.float64, requires_grad=True)
    ours = losses.wgan_gp_penalty(small, D(small, lod=2), grad_scale=8 / 32)
    big = upscale2d(small.detach(), 4).requires_grad_(True)
    official = losses.wgan_gp_penalty(big, D(big, lod=2))
    torch.testing.assert_close(ours, official)
    r1_small = losses.r1_penalty(small, D(small, lod=2)) * (8 / 32) ** 2
    torch.testing.assert_close(r1_small, losses.r1_penalty(big, D(big, lod=2)))


def test_wgan_d_loss_by_hand():
    real, fake = torch.tensor([[1.0], [2.0]]), torch.tensor([[0.5], [-1.0]])
    penalty = torch.tensor([0.25, 4.0])
    got = losses.wgan_d_loss(real, fake, penalty, wgan_lambda=10, target=1, drift=0.001)
    want = [0.5 - 1 + 2.5 + 0.001, -1 - 2 + 40 + 0.004]
    assert got.tolist() == pytest.approx(want)


def test_style_mixing_cutoff_stays_among_active_layers():
    ws = torch.zeros(2, 10, 3)
    for seed in range(30):
        gen = torch.Generator().manual_seed(seed)
        z = torch.zeros(2, 5)
        out = losses.style_mixing_ws(lambda z, c: torch.ones(2, 10, 3), z, None, ws, 1.0, gen, 4)
        cutoff = int((out[0, :, 0] == 0).sum())
        assert 1 <= cutoff < 4 and torch.all(out[:, cutoff:] == 1)


def test_process_reals_fades_like_the_official_code():
    img = torch.randn(3, 1, 32, 32)
    at16 = downscale2d(img, 2)
    torch.testing.assert_close(process_reals(img, 16, 1.0), at16)
    torch.testing.assert_close(process_reals(img, 16, 0.0), upscale2d(downscale2d(at16)))
    torch.testing.assert_close(
        process_reals(img, 16, 0.3), 0.3 * at16 + 0.7 * upscale2d(downscale2d(at16))
    )
    torch.testing.assert_close(process_reals(img, 32, 1.0), img)


# ---------------------------------------------------------------------------------------------
# The step


def test_adam_reset_points(tmp_path):
    step = new_step(PROGRESSIVE, _cfg(tmp_path))
    steps = []
    nimg = 0
    for i in range(12):
        step.train_step(nimg, i)
        steps.append((step.prev_lod, int(next(iter(step.opt_D.state.values()))["step"])))
        nimg += step.batch
    # 4x4 for 8 images (lod 3 until the fade starts), the fade of 8x8 over 16, 8x8 for 8: Adam's
    # moments restart when a fade starts and when it ends.
    want = [3, 3, 3, 2.75, 2.5, 2.25, 2, 2, 2, 1.75, 1.5, 1.25]
    assert [lod for lod, _ in steps] == pytest.approx(want)
    assert [n for _, n in steps] == [1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3]


@pytest.mark.parametrize("arch", ["progan", "stylegan1"])
def test_interrupted_mid_fade_and_resumed_equals_uninterrupted(tmp_path, arch):
    full = train(_cfg(tmp_path, arch))

    def stop_after_first_tick(p):
        if p.stats is not None and p.tick == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(_cfg(tmp_path, arch), stop_after_first_tick)
    run = sorted((tmp_path / "runs").iterdir())[-1]
    snap = sorted(run.glob("snapshot-*"))[-1]
    state = torch.load(snap / STATE_FILE, weights_only=True)
    lod = float(state["prev_lod"])
    assert 2 < lod < 3  # the snapshot is in the middle of fading in 8x8
    assert state["growth"] == {"lod": lod, "resolution": 8, "alpha": pytest.approx(3 - lod)}
    meta = json.loads((snap / "config.json").read_text())["metadata"]
    assert meta["lod"] == pytest.approx(lod) and meta["resolution"] == 8
    assert stylegen.load(snap).current_resolution()[0] == 8
    resumed = families.resume(run)
    assert resumed.name == full.name
    a = torch.load(full / STATE_FILE, weights_only=True)
    b = torch.load(resumed / STATE_FILE, weights_only=True)
    for net in ("G", "D", "G_ema"):
        for k in a[net]:
            assert torch.equal(a[net][k], b[net][k]), (net, k)
    assert torch.equal(a["counters"], b["counters"]) and float(a["prev_lod"]) == float(
        b["prev_lod"]
    )
    kimgs = [json.loads(x)["Progress/kimg"] for x in (run / "stats.jsonl").open()]
    assert kimgs == sorted(set(kimgs))


@pytest.fixture
def tiny_detector(tmp_path, monkeypatch):
    """Metrics with a tiny stand-in for Inception (tests/metrics/conftest.py) and a fresh cache."""
    from stylegen.metrics import compute
    from tests.metrics.conftest import CountingDetector, TinyNet, jit_script

    monkeypatch.setenv("STYLEGEN_CACHE", str(tmp_path / "cache"))
    detector = CountingDetector(jit_script(TinyNet()), sha1="tiny", source="test", resolution=16)
    monkeypatch.setattr(compute, "load_detector", lambda *a, **k: detector)
    return detector


def test_snapshot_opens_every_door(tmp_path, tiny_detector):
    snap = train(_cfg(tmp_path, "stylegan1", cond=True, kimg=0.016))
    G = stylegen.load(snap.parent)
    assert G.c_dim == 10 and G.img_resolution == 32
    assert G.current_resolution() == (8, pytest.approx(0.25))
    imgs = stylegen.generate_images(G, [0, 1, 2], class_idx=3, truncation_psi=0.7)
    assert imgs.shape == (3, 1, 32, 32)
    ws = G.mapping(torch.randn(2, G.z_dim), torch.eye(10)[:2], truncation_psi=0.7)
    assert G.synthesis(ws, noise_mode="const").shape == (2, 1, 32, 32)
    ds = open_dataset("fashion-mnist", use_labels=True, max_size=8)
    assert generator_sampler(G, ds)(4, 0).shape == (4, 1, 32, 32)
    args = ["--network", str(snap), "--data", "fashion-mnist", "--metrics", "kid1k_full"]
    assert main(["metrics", *args, "--num", "64"]) == 0
    assert tiny_detector.calls >= 64
    assert (
        main(
            [
                "generate",
                "--network",
                str(snap),
                "--seeds",
                "0",
                "--class",
                "1",
                "--outdir",
                str(tmp_path / "gen"),
            ]
        )
        == 0
    )


# ---------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(phase_kimg=0), "--phase-kimg 0 must be > 0"),
        (dict(fade_kimg=-1.0), "--fade-kimg -1.0 must be > 0"),
        (dict(initial_resolution=6), "power of two >= 4"),
        (dict(gamma=1.0), "--gamma applies to --arch stylegan1, not progan"),
        (dict(arch="stylegan1", drift=0.1), "--drift applies to --arch progan"),
        (dict(preset="huge"), "unknown --arch progan preset 'huge'"),
    ],
)
def test_bad_settings_are_one_line_errors(tmp_path, kw, message):
    with pytest.raises(UserError, match=message):
        _cfg(tmp_path, **kw).resolved()


def test_initial_resolution_above_the_data_is_refused_before_a_run_exists(tmp_path):
    with pytest.raises(UserError, match="above the data's 32x32"):
        train(_cfg(tmp_path, initial_resolution=64))
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_resume_with_another_schedule_is_refused(tmp_path):
    snap = train(_cfg(tmp_path, kimg=0.012))
    run = snap.parent
    before = sorted(p.name for p in run.iterdir())
    with pytest.raises(UserError, match="grows on another schedule.*--fade-kimg 0.016.*0.032"):
        families.resume(run, fade_kimg=0.032)
    with pytest.raises(UserError, match="another schedule"):
        resume(run, fixed_resolution=True)
    assert sorted(p.name for p in run.iterdir()) == before
    assert main(["train", "--resume", str(run), "--phase-kimg", "1"]) == 2


def test_cli_flags_and_exit_codes(tmp_path, capsys):
    args = ["train", "--data", "fashion-mnist", "--arch", "stylegan1", "--preset", "tiny"]
    assert main([*args, "--fade-kimg", "0"]) == 2
    err = capsys.readouterr().err
    assert "--fade-kimg 0.0 must be > 0" in err and len(err.strip().splitlines()) == 1
    assert main([*args, "--aug", "ada"]) == 2
    assert "--aug does not apply to --arch stylegan1" in capsys.readouterr().err
    assert main([*args, "--mixing", "0.5", "--fixed-resolution", "--dry-run"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["style_mixing_prob"] == 0.5 and cfg["fixed_resolution"] is True
    assert cfg["gamma"] == 10.0 and cfg["arch"] == "stylegan1"
    assert main(["train", "--data", "fashion-mnist", "--arch", "progan", "--dry-run"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["preset"] == "cpu32" and cfg["wgan_lambda"] == 10 and cfg["drift"] == 0.001
