"""StyleGAN3 generation through main(): --translate/--rotate, the GIF tool, and their refusals."""

import numpy as np
import pytest
import torch
from PIL import Image

from stylegen.commands import main
from stylegen.generate import generate_images, set_input_transform, transform_frames
from stylegen.models import Generator as SG2Generator
from stylegen.models.stylegan3 import Generator as SG3Generator
from stylegen.training.stylegan_config import build_configs, stylegan3_config


@pytest.fixture(scope="module")
def sg3_network(tmp_path_factory):
    torch.manual_seed(0)
    cfg = stylegan3_config(
        "stylegan3-t",
        z_dim=8,
        w_dim=8,
        img_resolution=16,
        channel_base=64,
        channel_max=4,
        num_layers=3,
    )
    G = SG3Generator(cfg)
    with torch.no_grad():  # a non-identity input affine, so the seed moves the image
        G.synthesis.input.affine.weight.normal_()
    return str(G.save(tmp_path_factory.mktemp("net") / "sg3"))


@pytest.fixture(scope="module")
def sg2_network(tmp_path_factory):
    g, _ = build_configs("tiny", img_resolution=8)
    return str(SG2Generator(g).save(tmp_path_factory.mktemp("net") / "sg2"))


def _png(path) -> np.ndarray:
    return np.asarray(Image.open(path))


def test_generate_translate_rotate_matches_library(sg3_network, tmp_path):
    from stylegen import load

    plain, moved = tmp_path / "plain", tmp_path / "moved"
    assert main(["generate", "--network", sg3_network, "--seeds", "3", "--outdir", str(plain)]) == 0
    args = ["--translate", "0.25,-0.1", "--rotate", "30", "--outdir", str(moved)]
    assert main(["generate", "--network", sg3_network, "--seeds", "3", *args]) == 0
    a, b = _png(plain / "seed0003.png"), _png(moved / "seed0003.png")
    assert a.shape == b.shape == (16, 16, 3) and not np.array_equal(a, b)
    G = load(sg3_network)
    set_input_transform(G, (0.25, -0.1), 30.0)
    want = generate_images(G, [3])[0].permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(b, want)


@pytest.mark.parametrize(
    "args,msg",
    [
        (["--rotate", "10"], "need a StyleGAN3 network"),
        (["--translate", "0.1,0"], "need a StyleGAN3 network"),
    ],
)
def test_transform_flags_refused_for_stylegan2(sg2_network, tmp_path, capsys, args, msg):
    out = tmp_path / "out"
    assert main(["generate", "--network", sg2_network, "--outdir", str(out), *args]) == 2
    err = capsys.readouterr().err
    assert msg in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


def test_malformed_translate(sg3_network, tmp_path, capsys):
    args = ["--translate", "0.1", "--outdir", str(tmp_path / "o")]
    assert main(["generate", "--network", sg3_network, *args]) == 2
    assert "malformed --translate '0.1'" in capsys.readouterr().err


def test_video_writes_looping_gif(sg3_network, tmp_path, capsys):
    out = tmp_path / "clip.gif"
    assert (
        main(["video", "--network", sg3_network, "--seed", "1", "--frames", "4", "--out", str(out)])
        == 0
    )
    gif = Image.open(out)
    assert gif.n_frames == 4 and gif.size == (16, 16)
    from stylegen import load

    G = load(sg3_network)
    before = G.synthesis.input.transform.clone()
    frames = transform_frames(G, 1, 4)
    assert frames.shape == (4, 3, 16, 16) and not torch.equal(frames[0], frames[1])
    torch.testing.assert_close(G.synthesis.input.transform, before)  # restored


def test_video_bad_input(sg2_network, sg3_network, tmp_path, capsys):
    assert main(["video", "--network", sg2_network, "--out", str(tmp_path / "a.gif")]) == 2
    assert "need a StyleGAN3 network" in capsys.readouterr().err
    assert main(["video", "--network", sg3_network, "--out", str(tmp_path / "a.png")]) == 2
    assert "must end in .gif" in capsys.readouterr().err
    args = ["--frames", "0", "--out", str(tmp_path / "a.gif")]
    assert main(["video", "--network", sg3_network, *args]) == 2
    assert "--frames 0 must be >= 1" in capsys.readouterr().err
    assert not (tmp_path / "a.gif").exists()
