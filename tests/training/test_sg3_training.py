"""StyleGAN3 training settings: presets and --arch, the fading discriminator blur, magnitude EMA
beta from the batch size, and a tiny end-to-end run that snapshots a StyleGAN3 generator."""

import math

import pytest
import torch

from stylegen import checkpoint
from stylegen.commands import main
from stylegen.errors import UserError
from stylegen.models.stylegan3 import Generator as SG3Generator
from stylegen.models.stylegan3 import StyleGAN3GeneratorConfig
from stylegen.training import losses
from stylegen.training.stylegan import train
from stylegen.training.stylegan_config import TrainConfig, build_configs


def test_stylegan3_presets_resolve_to_the_official_recipe():
    t = TrainConfig(data="x", preset="stylegan3-t").resolved()
    assert (t.arch, t.pl_weight, t.style_mixing_prob, t.blur_init_sigma) == (
        "stylegan3-t",
        0.0,
        0.0,
        0.0,
    )
    assert (t.batch, t.glr, t.dlr, t.gamma, t.ema_kimg) == (32, 0.0025, 0.002, 2.0, 10)
    r = TrainConfig(data="x", preset="stylegan3-r", batch=16).resolved()
    assert r.blur_init_sigma == 10 and r.blur_fade_kimg == 16 * 200 / 32
    # Explicit flags win; the project-style spelling is an alias.
    x = TrainConfig(data="x", preset="stylegen3-t", pl_weight=1.0, blur_init_sigma=2).resolved()
    assert x.pl_weight == 1.0 and x.blur_init_sigma == 2 and x.arch == "stylegan3-t"
    assert x.preset == "stylegan3-t"


def test_arch_switches_generator_family():
    g, _ = build_configs("stylegan3-r", img_resolution=64)
    assert isinstance(g, StyleGAN3GeneratorConfig)
    assert (g.conv_kernel, g.use_radial_filters, g.channel_base, g.channel_max) == (
        1,
        True,
        65536,
        1024,
    )
    g, _ = build_configs("cpu32", img_resolution=32, arch="stylegan3-t")
    assert isinstance(g, StyleGAN3GeneratorConfig)
    assert (g.z_dim, g.channel_base, g.channel_max, g.mapping_layers) == (128, 2048, 64, 2)
    g, _ = build_configs("stylegan3-t-cpu", img_resolution=32, arch="stylegan2")
    assert type(g).__name__ == "GeneratorConfig" and g.channel_max == 32
    cfg = TrainConfig(data="x", preset="cpu32", arch="stylegan3-t").resolved()
    assert cfg.pl_weight == 0 and cfg.style_mixing_prob == 0


def test_bad_arch_and_preset():
    with pytest.raises(UserError, match="unknown --arch 'stylegan4'"):
        TrainConfig(data="x", preset="cpu32", arch="stylegan4").resolved()
    with pytest.raises(UserError, match="unknown preset 'stylegan3-x'"):
        TrainConfig(data="x", preset="stylegan3-x").resolved()


def test_cli_rejects_unknown_config(capsys):
    args = ["train", "--data", "fashion-mnist", "--preset", "stylegan3-q", "--dry-run"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown preset 'stylegan3-q'" in err[0]


def test_blur_sigma_fades_linearly_to_zero():
    assert losses.blur_sigma(0, 10.0, 200.0) == 10.0
    assert losses.blur_sigma(100_000, 10.0, 200.0) == pytest.approx(5.0)
    assert losses.blur_sigma(300_000, 10.0, 200.0) == 0.0
    assert losses.blur_sigma(0, 0.0, 200.0) == 0.0 and losses.blur_sigma(0, 10.0, 0.0) == 0.0


def test_blur_images_is_the_normalised_exp2_kernel():
    sigma = 0.7  # radius floor(2.1) = 2 -> 5 taps
    img = torch.zeros(1, 1, 9, 9, dtype=torch.float64)
    img[0, 0, 4, 4] = 1
    out = losses.blur_images(img, sigma)
    taps = [2 ** (-((k / sigma) ** 2)) for k in range(-2, 3)]
    total = sum(taps)
    want = torch.zeros(9, 9, dtype=torch.float64)
    for i, a in enumerate(taps):
        for j, b in enumerate(taps):
            want[2 + i, 2 + j] = a * b / total**2
    torch.testing.assert_close(out[0, 0], want)
    assert losses.blur_images(img, 0.3) is img  # radius 0: nothing to do


def test_tiny_stylegan3_r_training_run(tmp_path, monkeypatch):
    sigmas = []
    real_blur = losses.blur_images

    def spy(img, sigma):
        sigmas.append(sigma)
        return real_blur(img, sigma)

    monkeypatch.setattr(losses, "blur_images", spy)
    cfg = TrainConfig(
        data="fashion-mnist",
        outdir=str(tmp_path / "runs"),
        preset="stylegan3-t-cpu",
        arch="stylegan3-r",
        max_size=64,
        kimg=0.016,
        batch=8,
        tick_kimg=0.008,
        snap=2,
        blur_fade_kimg=0.016,
        threads=2,
        G_overrides=dict(z_dim=16, w_dim=16, channel_base=64, channel_max=8, num_layers=3),
        D_overrides=dict(channel_base=256, channel_max=16),
    )
    snap = train(cfg)
    G = checkpoint.load(snap)
    assert isinstance(G, SG3Generator)
    assert G.config.magnitude_ema_beta == pytest.approx(0.5 ** (8 / 20000))
    assert G.config.conv_kernel == 1 and G.config.use_radial_filters
    emas = [float(layer.magnitude_ema) for layer in G.synthesis.layers()]
    assert all(math.isfinite(e) for e in emas) and any(e != 1.0 for e in emas)
    # Blur starts at 10 and fades over the 16 images of the run.
    assert sigmas[0] == 10.0 and sigmas == sorted(sigmas, reverse=True) and sigmas[-1] < 10
