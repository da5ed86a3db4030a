"""`stylegen upscale` and `stylegen generate --upscale`: any size, tiling equals the whole-image
result, an upscaler of another channel count is refused in one line (exit 2)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from stylegen.commands import main
from stylegen.models.gan import DCGANGenerator, DCGANGeneratorConfig
from stylegen.models.superres import ESPCN, SRCNN, ESPCNConfig, SRCNNConfig
from stylegen.upscale import upscale


def _perturbed(net: torch.nn.Module) -> torch.nn.Module:
    """Weights away from the zero-started last layer, so the network's context shows."""
    torch.manual_seed(0)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return net.eval()


@pytest.mark.parametrize(
    "net",
    [
        lambda: SRCNN(SRCNNConfig(scale=3, img_channels=3, n1=8, n2=4)),
        lambda: ESPCN(ESPCNConfig(scale=2, img_channels=1, n1=8, n2=4)),
    ],
)
def test_tiles_join_into_the_whole_image_result(net):
    net = _perturbed(net())
    img = torch.rand(1, net.img_channels, 45, 38, generator=torch.Generator().manual_seed(1))
    whole = upscale(net, img * 2 - 1, tile=1000)
    tiled = upscale(net, img * 2 - 1, tile=16)
    assert whole.shape == (1, net.img_channels, 45 * net.scale, 38 * net.scale)
    assert torch.allclose(whole, tiled, atol=1e-5)


@pytest.fixture()
def grey_upscaler(tmp_path):
    return _perturbed(ESPCN(ESPCNConfig(scale=2, img_channels=1, n1=8, n2=4))).save(tmp_path / "sr")


def _images(folder, mode: str, sizes):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i, (w, h) in enumerate(sizes):
        shape = (h, w) if mode == "L" else (h, w, 3)
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def test_upscale_any_size(tmp_path, grey_upscaler, capsys):
    inp = _images(tmp_path / "in", "L", [(20, 13), (7, 9)])
    out = tmp_path / "out"
    args = ["upscale", "--network", str(grey_upscaler), "--input", str(inp)]
    assert main([*args, "--outdir", str(out), "--device", "cpu", "--tile", "16"]) == 0
    assert Image.open(out / "0.png").size == (40, 26)
    assert Image.open(out / "1.png").size == (14, 18)
    assert "wrote 2 images 2x larger" in capsys.readouterr().out


def test_upscaler_of_another_channel_count_is_one_line(tmp_path, grey_upscaler, capsys):
    inp = _images(tmp_path / "in", "RGB", [(8, 8)])
    args = ["upscale", "--network", str(grey_upscaler), "--input", str(inp)]
    assert main([*args, "--outdir", str(tmp_path / "out"), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "is RGB (3 channel(s)) but the upscaler was trained on grey images" in err
    assert len(err.strip().splitlines()) == 1
    assert not list((tmp_path / "out").glob("*.png"))


def test_upscale_refuses_a_generator(tmp_path, capsys):
    G = DCGANGenerator(DCGANGeneratorConfig(z_dim=4, img_resolution=16, img_channels=1, ngf=4))
    G.save(tmp_path / "g")
    inp = _images(tmp_path / "in", "L", [(8, 8)])
    args = ["upscale", "--network", str(tmp_path / "g"), "--input", str(inp)]
    assert main([*args, "--outdir", str(tmp_path / "out"), "--device", "cpu"]) == 2
    assert "holds a DCGANGenerator, not an upscaler" in capsys.readouterr().err


@pytest.mark.parametrize("channels", [1, 3])
def test_generate_then_upscale(tmp_path, grey_upscaler, capsys, channels):
    G = DCGANGenerator(
        DCGANGeneratorConfig(z_dim=4, img_resolution=16, img_channels=channels, ngf=4)
    )
    G.save(tmp_path / "g")
    out = tmp_path / "out"
    args = ["generate", "--network", str(tmp_path / "g"), "--seeds", "0-2", "--grid"]
    code = main([*args, "--outdir", str(out), "--upscale", str(grey_upscaler), "--device", "cpu"])
    if channels == 3:
        assert code == 2
        err = capsys.readouterr().err
        assert "is RGB (3 channel(s)) but the upscaler was trained on grey" in err
        assert not list(out.glob("*.png"))
        return
    assert code == 0
    assert Image.open(out / "seed0002.png").size == (32, 32)
    assert (out / "grid.png").exists()
