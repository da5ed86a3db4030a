"""Hostile checkpoint files: config.json values of the wrong type or absurd size, and NaN/inf
weights, are refused in one line naming the file and field (or tensor) before any allocation."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import typing
from pathlib import Path

import pytest
import torch

import stylegen
from stylegen.commands import main
from stylegen.config import config_from_dict
from stylegen.errors import UserError
from stylegen.generate import generate_images
from stylegen.latent.ws import render_ws
from stylegen.models import Generator
from stylegen.models.cyclegan import ResnetGenerator, ResnetGeneratorConfig
from stylegen.models.registry import build_model, registered_models
from stylegen.models.stylegan2 import GeneratorConfig
from stylegen.models.stylegan3 import StyleGAN3GeneratorConfig
from stylegen.training.stylegan_config import PRESETS, build_configs
from tests.models.test_contract import FACTORIES


@pytest.fixture
def checkpoint(tmp_path) -> Path:
    g, _ = build_configs("tiny", img_resolution=8)
    return Generator(g).save(tmp_path / "ck")


def edit_config(folder: Path, **values) -> None:
    path = folder / "config.json"
    doc = json.loads(path.read_text())
    doc["config"].update(values)
    path.write_text(json.dumps(doc))


# ---------------------------------------------------------------- 11. config.json values


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"z_dim": "512"}, r"config\.z_dim is '512', but must be an integer"),
        ({"z_dim": None}, r"config\.z_dim is None, but must be an integer"),
        ({"z_dim": 1e9}, r"config\.z_dim is 1000000000\.0, but must be an integer"),
        ({"z_dim": True}, r"config\.z_dim is True, but must be an integer"),
        ({"use_noise": 1}, r"config\.use_noise is 1, but must be true or false"),
        ({"architecture": 3}, r"config\.architecture is 3, but must be a string"),
        ({"conv_clamp": "x"}, r"config\.conv_clamp is 'x', but must be a finite number or null"),
        ({"w_avg_beta": math.nan}, r"config\.w_avg_beta is nan, but must be a finite number"),
        (
            {"mapping_lr_multiplier": math.inf},
            r"config\.mapping_lr_multiplier is inf, but must be a finite number",
        ),
    ],
)
def test_wrong_types_name_the_file_and_field(checkpoint, values, message):
    edit_config(checkpoint, **values)
    with pytest.raises(UserError, match=rf"ck/config\.json: {message}; the file was edited"):
        stylegen.load(checkpoint)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"z_dim": 10**9}, "z_dim 1000000000 must be between 1 and 4096"),
        ({"w_dim": 5000}, "w_dim 5000 must be between 1 and 4096"),
        ({"channel_max": 10**6}, "channel_max 1000000 must be between 1 and 4096"),
        ({"channel_base": 2**40}, "channel_base 1099511627776 must be between 1 and 1048576"),
        ({"img_resolution": 2**20}, "img_resolution 1048576 must be between 4 and 8192"),
        ({"mapping_layers": 1000}, "mapping_layers 1000 must be between 0 and 64"),
        ({"c_dim": 10**7}, "c_dim 10000000 must be between 0 and 100000"),
        ({"z_dim": 0}, "z_dim 0 must be between 1 and 4096"),
        ({"conv_clamp": -1}, "conv_clamp -1 must be > 0"),
    ],
)
def test_absurd_sizes_are_refused_before_allocation(checkpoint, values, message):
    edit_config(checkpoint, **values)
    with pytest.raises(UserError, match=message):
        stylegen.load(checkpoint)


def test_generate_cli_one_line(checkpoint, tmp_path, capsys):
    edit_config(checkpoint, z_dim=None)
    out = tmp_path / "out"
    assert main(["generate", "--network", str(checkpoint), "--outdir", str(out)]) == 2
    err = capsys.readouterr().err
    (line,) = err.strip().splitlines()
    assert "config.json: config.z_dim is None" in line and "Traceback" not in err
    assert not out.exists()


def test_cyclegan_sizes_and_missing_fields(tmp_path):
    G = ResnetGenerator(ResnetGeneratorConfig(ngf=4, num_blocks=1, img_resolution=8))
    folder = G.save(tmp_path / "G_AB")
    edit_config(folder, ngf=10**6)
    with pytest.raises(UserError, match="ngf 1000000 must be between 1 and 4096"):
        stylegen.load(folder)
    with pytest.raises(UserError, match=r"run/training_options\.json: data is missing"):
        from stylegen.training.stylegan_config import TrainConfig

        config_from_dict(TrainConfig, {}, source="run/training_options.json")
    with pytest.raises(UserError, match=r"x\.json: config must be a JSON object"):
        config_from_dict(GeneratorConfig, [1], source="x.json")


def test_every_official_config_is_inside_the_bounds():
    for name, preset in PRESETS.items():
        for arch in ("stylegan2", "stylegan3-t", "stylegan3-r"):
            res = preset.resolution or 32
            g, d = build_configs(name, img_resolution=res, c_dim=1000, arch=arch)
            assert g.validate() and d.validate(), name
    GeneratorConfig(channel_base=32768, channel_max=512, img_resolution=1024).validate()
    StyleGAN3GeneratorConfig(channel_base=65536, channel_max=1024, img_resolution=1024).validate()
    config_from_dict(GeneratorConfig, {"conv_clamp": None, "mapping_lr_multiplier": 1})


# ---------------------------------------------------------------- 12. NaN / inf weights


@pytest.fixture
def nan_checkpoint(tmp_path) -> Path:
    g, _ = build_configs("tiny", img_resolution=8)
    G = Generator(g)
    with torch.no_grad():
        name, param = next(iter(G.named_parameters()))
        param.view(-1)[:3] = math.nan
        param.view(-1)[3] = math.inf
    return G.save(tmp_path / "nan-ck"), name


def test_nonfinite_weights_refused_at_load(nan_checkpoint, caplog):
    folder, name = nan_checkpoint
    with pytest.raises(
        UserError,
        match=rf"model\.safetensors has non-finite weights: {name} holds 4 NaN/inf value\(s\).*"
        "--allow-nonfinite",
    ):
        stylegen.load(folder)
    with caplog.at_level(logging.WARNING, logger="stylegen.checkpoint"):
        G = stylegen.load(folder, allow_nonfinite=True)
    assert "non-finite weights" in caplog.text and "loading it anyway" in caplog.text
    with pytest.raises(
        UserError, match=r"non-finite \(NaN/inf\) pixels for 2 image\(s\) \(first: seed 5\)"
    ):
        generate_images(G, [5, 6])
    with caplog.at_level(logging.WARNING, logger="stylegen.generate"):
        assert generate_images(G, [5], allow_nonfinite=True).shape == (1, 3, 8, 8)
    assert "writing them anyway" in caplog.text
    ws = torch.zeros(2, G.num_ws, G.w_dim)  # generate --ws: saved latents, same check
    with pytest.raises(UserError, match=r"pixels for 2 image\(s\) \(first: latent 0\)"):
        render_ws(G, ws)
    assert render_ws(G, ws, allow_nonfinite=True).dtype == torch.uint8


def test_generate_cli_nonfinite(nan_checkpoint, tmp_path, capsys):
    folder, name = nan_checkpoint
    out = tmp_path / "out"
    argv = ["generate", "--network", str(folder), "--seeds", "0-1", "--outdir", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    (line,) = err.strip().splitlines()
    assert f"non-finite weights: {name}" in line and "Traceback" not in err
    assert not out.exists()
    assert main([*argv, "--allow-nonfinite"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["seed0000.png", "seed0001.png"]


# ---------------------------------------------------------------- 13. every registered model


def _int_fields(config) -> list[str]:
    """The fields annotated as integers (sizes, counts), not floats that hold a whole number."""
    hints = typing.get_type_hints(type(config))
    return [f.name for f in dataclasses.fields(config) if hints[f.name] in (int, int | None)]


@pytest.mark.parametrize("name", registered_models())
def test_every_model_refuses_hostile_configs_and_nan_weights(name, tmp_path):
    """For each family: a string for an int, an unknown field, every integer size at 10**9, and a
    NaN weight are each refused in one line naming the file and the field or tensor."""
    model = build_model(FACTORIES[name]().config)
    folder = model.save(tmp_path / "ck")
    original = (folder / "config.json").read_text()
    fields = _int_fields(model.config)
    assert fields, name
    edit_config(folder, **{fields[0]: "8"})
    with pytest.raises(UserError, match=rf"ck/config\.json: config\.{fields[0]} is '8', but must"):
        stylegen.load(folder)
    (folder / "config.json").write_text(original)
    edit_config(folder, bogus=1)
    with pytest.raises(UserError, match=r"ck/config\.json: \w+ has no field\(s\) config\.bogus;"):
        stylegen.load(folder)
    for field in fields:
        (folder / "config.json").write_text(original)
        edit_config(folder, **{field: 10**9})
        with pytest.raises(UserError, match=rf"{field}|resolution 1000000000"):
            stylegen.load(folder)
    (folder / "config.json").write_text(original)
    with torch.no_grad():
        tensor_name, param = next(iter(model.named_parameters()))
        param.view(-1)[0] = math.nan
    model.save(folder)
    with pytest.raises(
        UserError, match=rf"model\.safetensors has non-finite weights: {tensor_name} "
    ):
        stylegen.load(folder)
    assert stylegen.load(folder, allow_nonfinite=True) is not None


def test_huge_or_deep_config_json_is_refused_before_reading(checkpoint):
    path = checkpoint / "config.json"
    with path.open("r+b") as f:
        f.truncate((1 << 20) + 1)  # sparse: no disk used
    with pytest.raises(UserError, match=r"ck/config\.json is 1048577 bytes, more than the 1048576"):
        stylegen.load(checkpoint)
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(UserError, match=r"ck/config\.json is not readable JSON"):
        stylegen.load(checkpoint)
    path.write_text(
        json.dumps({"format": "stylegen-checkpoint", "format_version": 1, "model_class": [1]})
    )
    with pytest.raises(UserError, match=r"model_class is '\[1\]', not a name"):
        stylegen.load(checkpoint)
