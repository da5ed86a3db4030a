"""Hostile checkpoint files: config.json values of the wrong type or absurd size, and NaN/inf
weights, are refused in one line naming the file and field (or tensor) before any allocation."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import stylegen
from stylegen.commands import main
from stylegen.config import config_from_dict
from stylegen.errors import UserError
from stylegen.models import Generator
from stylegen.models.cyclegan import ResnetGenerator, ResnetGeneratorConfig
from stylegen.models.stylegan2 import GeneratorConfig
from stylegen.models.stylegan3 import StyleGAN3GeneratorConfig
from stylegen.training.stylegan_config import PRESETS, build_configs


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
