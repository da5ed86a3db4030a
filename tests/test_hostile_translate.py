"""Hostile input to `stylegen translate`: a decompression bomb among the input images ends in one
line naming it (exit 2), with nothing written."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from stylegen.commands import main
from stylegen.models.cyclegan import ResnetGenerator, ResnetGeneratorConfig


@pytest.fixture(scope="module")
def translator(tmp_path_factory):
    cfg = ResnetGeneratorConfig(3, 3, ngf=4, num_blocks=1, img_resolution=8, direction="a2b")
    return ResnetGenerator(cfg).save(tmp_path_factory.mktemp("net") / "G_AB")


@pytest.mark.parametrize("limit", [100, 70], ids=["warning", "error"])
def test_decompression_bomb_is_one_line(translator, tmp_path, monkeypatch, capsys, limit):
    inp = tmp_path / "in"
    inp.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(inp / "a.png")
    Image.fromarray(np.zeros((12, 12, 3), np.uint8)).save(inp / "bomb.png")  # 144 pixels
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
    out = tmp_path / "out"
    argv = ["translate", "--network", str(translator), "--direction", "a2b"]
    assert main([*argv, "--input", str(inp), "--outdir", str(out), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    (line,) = err.strip().splitlines()
    assert "bomb.png" in line and "too many pixels to decode safely" in line
    assert not out.exists() or not any(out.iterdir())
