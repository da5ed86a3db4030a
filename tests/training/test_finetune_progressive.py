"""`stylegen train --init` from a ProGAN / StyleGAN (2019) run: the source's family, arch and
weights (copied exactly), training at its grown resolution, FreezeD and a frozen mapping, and
bad sources refused with one line before a run folder exists."""

import json
import logging
import re
import sys
import types

import pytest
import torch
from PIL import Image

from stylegen.commands import main
from stylegen.errors import UserError
from stylegen.models import progan
from stylegen.runs import STATE_FILE
from stylegen.training import finetune
from stylegen.training.progressive import PROGRESSIVE, train
from stylegen.training.progressive_config import ProgressiveConfig
from stylegen.training.stylegan import train as train_sg2
from stylegen.training.stylegan_config import TrainConfig
from stylegen.training.trainer import new_step
from tests.interop import test_nvlabs_tf as tf

BASE = dict(data="fashion-mnist", preset="tiny", max_size=32, threads=1)


@pytest.fixture(scope="module")
def grown(tmp_path_factory):
    """A fully grown tiny StyleGAN (2019) run of two minibatches (32x32 grey, 10 classes)."""
    out = tmp_path_factory.mktemp("grown")
    cfg = ProgressiveConfig(
        arch="stylegan1", outdir=str(out), kimg=0.008, fixed_resolution=True, cond=True, **BASE
    )
    return train(cfg)


@pytest.fixture(scope="module")
def growing(tmp_path_factory):
    """A tiny ProGAN run stopped while still at 4x4."""
    out = tmp_path_factory.mktemp("growing")
    return train(ProgressiveConfig(arch="progan", outdir=str(out), kimg=0.004, **BASE))


def _step(init, **kw):
    cfg = finetune.resolve_init(ProgressiveConfig(init=str(init), **{**BASE, **kw})).resolved()
    step = new_step(PROGRESSIVE, cfg)
    finetune.apply_init(step, cfg)
    return step, cfg


def test_weights_copied_exactly_at_the_grown_resolution(grown, caplog):
    caplog.set_level(logging.INFO, logger="stylegen.training.finetune")
    state = torch.load(grown / STATE_FILE, weights_only=True)
    step, cfg = _step(grown.parent, cond=True)  # the run folder: its newest snapshot
    assert cfg.init == str(grown) and cfg.arch == "stylegan1" and cfg.fixed_resolution
    assert cfg.G_overrides["channel_max"] == 8 and cfg.D_overrides["blur"] is True
    for name in ("G", "D", "G_ema"):
        own = getattr(step, name).state_dict()
        assert own.keys() == state[name].keys()
        for key, value in own.items():
            assert torch.equal(value, state[name][key]), (name, key)
    assert (step.growth.resolution, step.growth.alpha) == (32, 1.0)  # no re-growing from 4x4
    assert "training at the source's 32x32 from the start (no re-growing" in caplog.text


def test_frozen_d_blocks_and_mapping_do_not_change(grown):
    step, _ = _step(grown, cond=True, freeze_d=2, freeze_mapping=True)
    before_g = {k: v.clone() for k, v in step.G.state_dict().items()}
    before_d = {k: v.clone() for k, v in step.D.state_dict().items()}
    for i in range(2):
        assert step.train_step(i * step.batch, i) == 0
    for name, p in step.D.named_parameters():
        if ".from_rgb." in name and not name.startswith("b32."):
            continue  # fully grown: only the top block's fromRGB is used
        frozen = name.startswith(("b32.", "b16."))
        assert torch.equal(p, before_d[name]) == frozen, name
    for name, p in step.G.named_parameters():
        if ".to_rgb." in name and not name.startswith("synthesis.b32."):
            continue  # only the top block's toRGB is used
        frozen = name.startswith("mapping.fc")  # the label embedding still trains
        assert torch.equal(p, before_g[name]) == frozen, name


def test_new_class_count_gets_fresh_label_layers(grown, tmp_path, caplog):
    data = tmp_path / "three"
    for cls in "abc":
        (data / cls).mkdir(parents=True)
        for i in range(2):
            Image.new("L", (32, 32), i * 90).save(data / cls / f"{i}.png")
    caplog.set_level(logging.INFO, logger="stylegen.training.finetune")
    step, _ = _step(grown, data=str(data), cond=True, labels="folders", max_size=None)
    assert step.G.c_dim == 3 and step.G.mapping.embed.shape[0] == 3
    state = torch.load(grown / STATE_FILE, weights_only=True)
    for name, value in step.D.state_dict().items():
        assert torch.equal(value, state["D"][name]) != name.startswith("b4.out."), name
    for name, value in step.G.state_dict().items():
        if name != "mapping.embed":
            assert torch.equal(value, state["G"][name]), name
    assert (
        "10 -> 3: fresh label layers G.mapping.embed, D.b4.out.bias, D.b4.out.weight" in caplog.text
    )


def test_library_refusals(grown, growing, tmp_path):
    out = str(tmp_path / "runs")
    with pytest.raises(UserError, match="--arch progan contradicts --init .* stylegan1"):
        train(ProgressiveConfig(init=str(grown), arch="progan", cond=True, outdir=out, **BASE))
    with pytest.raises(UserError, match="holds a stylegan1 generator, which StyleGAN2/3 train"):
        train_sg2(TrainConfig(init=str(grown), cond=True, outdir=out, **BASE))
    with pytest.raises(UserError, match=r"still growing \(4x4 of 32x32\); pass a fully grown"):
        train(ProgressiveConfig(init=str(growing), outdir=out, **BASE))
    with pytest.raises(UserError, match="--freeze-mapping: a ProGAN generator has no mapping"):
        train(ProgressiveConfig(init=str(growing), freeze_mapping=True, outdir=out, **BASE))
    with pytest.raises(UserError, match="--freeze-d 4 is above the discriminator's 3 blocks"):
        train(ProgressiveConfig(init=str(grown), freeze_d=4, cond=True, outdir=out, **BASE))
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def _small_data(path):
    path.mkdir()
    for i in range(4):
        Image.new("L", (16, 16), i * 40).save(path / f"{i}.png")
    return path


def test_cli_refusals_exit_2_one_line(grown, growing, tmp_path, capsys):
    out = tmp_path / "runs"
    fm = ["--data", "fashion-mnist", "--max-size", "32", "--cond"]
    cases = [
        ([*fm, "--init", str(grown), "--arch", "stylegan2"], "--arch stylegan2 contradicts"),
        ([*fm, "--init", str(grown), "--arch", "progan"], "--arch progan contradicts"),
        ([*fm, "--init", str(growing)], "still growing .*; pass a fully grown snapshot"),
        ([*fm, "--init", str(growing), "--freeze-mapping"], "ProGAN generator has no mapping"),
        ([*fm, "--init", str(grown), "--freeze-d", "5"], "--freeze-d 5 is above"),
        (
            ["--data", str(_small_data(tmp_path / "small")), "--init", str(grown)],
            "makes 32x32 images but --data .* is 16x16; resize it",
        ),
    ]
    for args, message in cases:
        assert main(["train", *args, "--outdir", str(out)]) == 2, args
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith("error: "), err
        assert re.search(message, err), (message, err)
    assert not out.exists() or not any(out.iterdir())


def test_cli_takes_the_family_from_the_source_and_resumes(grown, tmp_path, capsys):
    out = tmp_path / "runs"
    args = ["train", "--data", "fashion-mnist", "--max-size", "32", "--cond", "--threads", "1"]
    assert main([*args, "--init", str(grown.parent), "--dry-run"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["arch"] == "stylegan1" and cfg["preset"] == "tiny" and cfg["fixed_resolution"]
    assert main([*args, "--kimg", "0.004", "--init", str(grown.parent), "--outdir", str(out)]) == 0
    run = next(out.iterdir())
    options = json.loads((run / "training_options.json").read_text())
    assert options["kind"] == "progressive" and options["init"] == str(grown)
    assert options["G_overrides"]["channel_max"] == 8
    assert main(["train", "--resume", str(run), "--kimg", "0.008"]) == 0
    assert (run / "snapshot-000000.008").is_dir()


def test_official_tf_progan_pkl(tmp_path, monkeypatch):
    """An official TF ProGAN snapshot (G, D, Gs): G, D and G_ema copied, arch progan."""
    net = tf._network_class("tfutil")
    monkeypatch.setitem(sys.modules, "tfutil", types.SimpleNamespace(Network=net))
    torch.manual_seed(6)
    common = dict(img_resolution=16, img_channels=1, **tf.TINY)
    G = progan.Generator(progan.ProGANGeneratorConfig(z_dim=8, **common)).eval()
    G_ema = progan.Generator(progan.ProGANGeneratorConfig(z_dim=8, **common)).eval()
    D = progan.Discriminator(progan.ProGANDiscriminatorConfig(**common)).eval()
    exported = (
        tf._export_progan_g(G, net),
        tf._export_d(D, net, "networks.D_paper", 2),
        tf._export_progan_g(G_ema, net),
    )
    pkl = tf._write(tmp_path / "network-final.pkl", exported)
    step, cfg = _step(pkl, data=str(_small_data(tmp_path / "data")), max_size=None)
    assert cfg.arch == "progan" and cfg.preset == "tiny" and cfg.fixed_resolution
    for mine, theirs in ((step.G, G), (step.D, D), (step.G_ema, G_ema)):
        for key, value in mine.state_dict().items():
            assert torch.equal(value, theirs.state_dict()[key]), key
