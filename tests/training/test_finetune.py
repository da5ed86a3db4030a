"""`stylegen train --init`: weights copied exactly, FreezeD and a frozen mapping, a new class
count, official .pkl sources, resume, and every bad input refused before a run folder exists."""

import json
import logging
import re

import numpy as np
import pytest
import torch
from PIL import Image

from stylegen.commands import main
from stylegen.errors import UserError
from stylegen.models.discriminator import Discriminator, DiscriminatorConfig
from stylegen.models.stylegan2 import Generator, GeneratorConfig
from stylegen.runs import STATE_FILE
from stylegen.training import finetune
from stylegen.training.stylegan import STYLEGAN, train
from stylegen.training.stylegan_config import TrainConfig
from stylegen.training.trainer import new_step
from tests.interop.official_pickles import (
    augment_pipe_record,
    perturbed,
    snapshot_dict,
    write_pickle,
)

BASE = dict(data="fashion-mnist", preset="tiny", max_size=64, threads=1)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A conditional tiny run of one minibatch (10 classes, 32x32 grey)."""
    out = tmp_path_factory.mktemp("source")
    snap = train(TrainConfig(outdir=str(out), kimg=0.008, cond=True, **BASE))
    return snap


def _step(init, **kw):
    cfg = finetune.resolve_init(TrainConfig(init=str(init), **{**BASE, **kw})).resolved()
    step = new_step(STYLEGAN, cfg)
    finetune.apply_init(step, cfg)
    return step, cfg


def _state(snap):
    return torch.load(snap / STATE_FILE, weights_only=True)


def _assert_equal(module, tensors, skip=()):
    for name, value in module.state_dict().items():
        if not name.startswith(skip):
            assert torch.equal(value, tensors[name]), name


def _image_folder(path, size, mode="L", classes=("a", "b", "c")):
    """Labelled by sub-folder: 4 images of `size` per class."""
    rng = np.random.default_rng(0)
    for cls in classes:
        (path / cls).mkdir(parents=True)
        for i in range(4):
            shape = (size, size) if mode == "L" else (size, size, 3)
            Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8), mode).save(
                path / cls / f"{i}.png"
            )
    return path


def test_weights_copied_exactly_and_ada_p(source):
    state = _state(source)
    step, cfg = _step(source.parent, cond=True)
    assert cfg.init == str(source) and cfg.arch == "stylegan2"
    _assert_equal(step.G, state["G"])
    _assert_equal(step.D, state["D"])
    _assert_equal(step.G_ema, state["G_ema"])

    finetune.load_source(str(source)).ada_p = 0.3  # as a longer source run would have it
    assert _step(source, cond=True)[0].augment.p == pytest.approx(0.3)
    assert _step(source, cond=True, init_ada_p="zero")[0].augment.p == 0.0


def test_frozen_layers_do_not_change(source):
    step, _ = _step(source, cond=True, freeze_d=2, freeze_mapping=True)
    before = {k: v.clone() for k, v in step.G.state_dict().items()}
    before_d = {k: v.clone() for k, v in step.D.state_dict().items()}
    for i in range(2):  # batch_idx 0 runs every phase: G, path length, D and R1
        assert step.train_step(i * step.batch, i) == 0
    frozen_d = ("b32.", "b16.")
    for name, p in step.D.named_parameters():
        assert torch.equal(p, before_d[name]) == name.startswith(frozen_d), name
    for name, p in step.G.named_parameters():
        frozen = name.startswith("mapping.") and not name.startswith("mapping.embed.")
        assert torch.equal(p, before[name]) == frozen, name


def test_new_class_count_gets_fresh_embedding(source, tmp_path, caplog):
    data = _image_folder(tmp_path / "three", 32)
    caplog.set_level(logging.INFO, logger="stylegen.training.finetune")
    step, _ = _step(source, data=str(data), cond=True, labels="folders", max_size=None)
    assert step.G.c_dim == 3
    state = _state(source)
    _assert_equal(step.G, state["G"], skip=("mapping.embed.",))
    _assert_equal(step.D, state["D"], skip=("mapping.embed.",))
    assert not torch.equal(step.G.mapping.embed.weight[:, :3], state["G"]["mapping.embed.weight"])
    assert "class count 10 -> 3: fresh label layers G.mapping.embed.weight" in caplog.text


def test_official_pkl_source(tmp_path):
    common = dict(c_dim=0, img_resolution=32, img_channels=1)
    g_cfg = GeneratorConfig(z_dim=32, w_dim=32, mapping_layers=2, channel_base=256, channel_max=32)
    G = perturbed(Generator(GeneratorConfig(**{**g_cfg.__dict__, **common})), 1)
    G_ema = perturbed(G, 2)
    D = perturbed(Discriminator(DiscriminatorConfig(channel_base=256, channel_max=32, **common)), 3)
    pkl = write_pickle(
        snapshot_dict(dict(G=G, D=D, G_ema=G_ema), resolution=32), tmp_path / "net.pkl"
    )
    step, cfg = _step(pkl)
    assert cfg.preset == "tiny"  # the library keeps the given preset; only the networks change
    _assert_equal(step.G, G.state_dict())
    _assert_equal(step.G_ema, G_ema.state_dict())
    _assert_equal(step.D, D.state_dict())


def _official_with_augment_pipe(path, p=None):
    """An official-style snapshot with an AugmentPipe whose p buffer holds `p` (None: none)."""
    cfg = GeneratorConfig(
        z_dim=32, w_dim=32, mapping_layers=2, channel_base=256, channel_max=32, img_channels=1
    )
    G = perturbed(Generator(cfg), 1)
    pipe = augment_pipe_record(p) if p is not None else None
    return write_pickle(snapshot_dict(dict(G=G, G_ema=G), resolution=32, augment_pipe=pipe), path)


def test_official_pkl_ada_p_from_its_augment_pipe(tmp_path, caplog):
    pkl = _official_with_augment_pipe(tmp_path / "p.pkl", 0.375)
    assert finetune.load_source(str(pkl)).ada_p == 0.375
    assert _step(pkl)[0].augment.p == pytest.approx(0.375)
    assert _step(pkl, init_ada_p="zero")[0].augment.p == 0.0
    caplog.set_level(logging.INFO, logger="stylegen.training.finetune")
    for i, bad in enumerate([float("nan"), 1.5, -0.1, [0.1, 0.2]]):
        pkl = _official_with_augment_pipe(tmp_path / f"bad{i}.pkl", bad)
        assert finetune.load_source(str(pkl)).ada_p is None, bad
        assert "is not a probability; ignored" in caplog.text
        caplog.clear()
    # No augment pipe (as the other fixtures write): no p, ADA starts from --p.
    assert finetune.load_source(str(_official_with_augment_pipe(tmp_path / "n.pkl"))).ada_p is None


def test_cli_run_records_init_and_resumes(source, tmp_path):
    out = tmp_path / "runs"
    args = ["train", "--data", "fashion-mnist", "--max-size", "64", "--cond", "--threads", "1"]
    assert main([*args, "--kimg", "0.008", "--init", str(source.parent), "--outdir", str(out)]) == 0
    run = next(out.iterdir())
    options = json.loads((run / "training_options.json").read_text())
    assert options["init"] == str(source) and options["preset"] == "tiny"  # the source's
    assert options["G_overrides"]["channel_max"] == 32
    assert main(["train", "--resume", str(run), "--kimg", "0.016"]) == 0
    assert (run / "snapshot-000000.016").is_dir()


def _bad_inputs(tmp_path, source):
    (tmp_path / "empty").mkdir()
    (tmp_path / "note.txt").write_text("hello")
    cyclegan = tmp_path / "cyclegan-run"
    cyclegan.mkdir()
    (cyclegan / "training_options.json").write_text('{"kind": "cyclegan"}')
    small = _image_folder(tmp_path / "small", 16)
    rgb = _image_folder(tmp_path / "rgb", 32, mode="RGB")
    run = str(source.parent)
    fm = ["--data", "fashion-mnist", "--cond"]
    return [
        ([*fm, "--init", str(tmp_path / "missing")], "does not exist"),
        ([*fm, "--init", str(tmp_path / "empty")], "is not a network"),
        ([*fm, "--init", str(tmp_path / "note.txt")], "is not a network"),
        ([*fm, "--init", str(cyclegan)], "is a cyclegan run"),
        (["--data", str(small), "--init", run], "makes 32x32 images but --data .* is 16x16"),
        (["--data", str(rgb), "--init", run], "with 1 channel.* has 3; convert it"),
        ([*fm, "--init", run, "--freeze-d", "4"], "--freeze-d 4 is above the .* 3 blocks"),
        ([*fm, "--init", run, "--freeze-d", "-1"], "--freeze-d"),
        ([*fm, "--init", run, "--arch", "stylegan3-t"], "--arch stylegan3-t contradicts"),
        (["--data", "fashion-mnist", "--init", run, "--freeze-mapping"], "--freeze-mapping"),
    ]


def test_bad_input_one_line_no_run_folder(source, tmp_path, capsys):
    out = tmp_path / "runs"
    for args, message in _bad_inputs(tmp_path, source):
        assert main(["train", *args, "--outdir", str(out)]) == 2, args
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith("error: "), err
        assert re.search(message, err), (message, err)
        assert not out.exists() or not any(out.iterdir()), args


def test_bad_input_library_raises_user_error(source, tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        train(TrainConfig(init=str(tmp_path / "missing"), outdir=str(tmp_path / "r"), **BASE))
    with pytest.raises(UserError, match="--freeze-d 9 is above"):
        train(TrainConfig(init=str(source), freeze_d=9, outdir=str(tmp_path / "r"), **BASE))
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())
