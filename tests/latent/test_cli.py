"""The style-control commands end to end through main(): files written; bad input is one line,
exit code 2 and nothing written."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from stylegen.commands import build_parser, main
from stylegen.commands.common import config_default
from stylegen.latent import video
from stylegen.latent.config import ProjectionConfig, PTIConfig
from stylegen.latent.ws import save_ws
from tests.latent.conftest import tiny_generator
from tests.metrics.test_ppl import narrow_state


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    return str(tiny_generator(noise_strength=0.3).save(tmp_path_factory.mktemp("n") / "ck"))


@pytest.fixture(scope="module")
def cond_net(tmp_path_factory):
    G = tiny_generator(channels=1, c_dim=3)
    return str(G.save(tmp_path_factory.mktemp("c") / "ck"))


@pytest.fixture(scope="module")
def lpips(tmp_path_factory):
    path = tmp_path_factory.mktemp("l") / "lpips.safetensors"
    save_file(narrow_state(), str(path))
    return str(path)


def _png(path):
    return np.asarray(Image.open(path))


def _fails(capsys, argv, msg, outdir=None):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and msg in err, err
    if outdir is not None:
        assert not outdir.exists() or not any(outdir.iterdir())


def test_mix(net, tmp_path, capsys):
    out = tmp_path / "mix"
    argv = ["mix", "--network", net, "--rows", "85,100", "--cols", "55,821,1789"]
    assert main([*argv, "--styles", "0-2", "--outdir", str(out), "--trunc", "0.7"]) == 0
    assert "coarse 0-3, middle 4-5, fine none" in capsys.readouterr().out
    assert _png(out / "grid.png").shape == (48, 64, 3)
    assert len(list(out.iterdir())) == 1 + 5 + 6
    bad = tmp_path / "bad"
    _fails(
        capsys,
        [*argv, "--styles", "0-9", "--outdir", str(bad)],
        "index 6 is out of range; use indices 0-5",
        bad,
    )
    _fails(
        capsys,
        [*argv, "--class", "1", "--outdir", str(bad)],
        "--class 1 given but the network is unconditional",
        bad,
    )


def test_mix_help_names_the_style_groups(capsys):
    with pytest.raises(SystemExit):
        main(["mix", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "coarse = 4-8 px (ws 0-3), middle = 16-32 px (ws 4-7)" in text
    assert "StyleGAN3 by index" in text


def test_interpolate(net, cond_net, tmp_path, capsys, monkeypatch):
    gif = tmp_path / "walk.gif"
    argv = ["interpolate", "--network", net, "--seeds", "0,1,2,3", "--frames", "6"]
    assert main([*argv, "--space", "w", "--grid", "1x2", "--loop", "--out", str(gif)]) == 0
    with Image.open(gif) as im:
        assert im.n_frames == 6 and im.size == (32, 16)
    assert "frames/s" in capsys.readouterr().out
    cls = tmp_path / "cls.gif"
    assert (
        main(
            [
                "interpolate",
                "--network",
                cond_net,
                "--seeds",
                "4",
                "--class",
                "0,2",
                "--frames",
                "3",
                "--out",
                str(cls),
            ]
        )
        == 0
    )
    if video.mp4_available():
        assert main([*argv, "--out", str(tmp_path / "walk.mp4")]) == 0
    _fails(
        capsys,
        [*argv, "--space", "q", "--out", str(tmp_path / "x.gif")],
        "--space 'q' is unknown; use z or w",
    )
    _fails(
        capsys,
        [*argv, "--grid", "3x1", "--out", str(tmp_path / "x.gif")],
        "--grid 3x1 needs a multiple of 3 seeds",
    )
    _fails(
        capsys,
        [*argv, "--class", "1", "--out", str(tmp_path / "x.gif")],
        "--class 1 given but the network is unconditional",
    )
    _fails(
        capsys,
        [*argv, "--class", "a,b", "--out", str(tmp_path / "x.gif")],
        "--class 'a,b' must be integers",
    )
    monkeypatch.setattr(video, "mp4_available", lambda: False)
    _fails(
        capsys,
        [*argv, "--out", str(tmp_path / "y.mp4")],
        "no MP4 encoder is installed; pip install imageio-ffmpeg (or stylegen[video]), or "
        "write a .gif instead",
    )
    assert not (tmp_path / "x.gif").exists() and not (tmp_path / "y.mp4").exists()


def test_project_then_generate_ws(net, lpips, tmp_path, capsys):
    Image.new("RGB", (24, 20), (30, 140, 200)).save(tmp_path / "photo.png")
    out = tmp_path / "proj"
    argv = [
        "project",
        "--network",
        net,
        "--target",
        str(tmp_path / "photo.png"),
        "--lpips",
        lpips,
        "--perceptual-size",
        "32",
        "--w-avg-samples",
        "200",
    ]
    rc = main(
        [
            *argv,
            "--steps",
            "10",
            "--log-every",
            "5",
            "--space",
            "w+",
            "--outdir",
            str(out),
            "--video",
            "proj.gif",
            "--pti",
            "--pti-steps",
            "5",
        ]
    )
    assert rc == 0
    assert "(lpips-vgg16); after PTI PSNR" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [
            "proj.gif",
            "proj.png",
            "proj_pti.png",
            "projected_w.safetensors",
            "pti_generator",
            "report.json",
            "target.png",
        ]
    )
    report = json.loads((out / "report.json").read_text())
    assert report["space"] == "w+" and [e["step"] for e in report["log"]] == [5, 10]
    assert "LPIPS VGG-16" in report["perceptual"]
    assert report["target_notes"] == [
        "centre-cropped 24x20 to 20x20",
        "resized 20x20 to 16x16 (Lanczos)",
    ]
    gen = tmp_path / "gen"
    ws = str(out / "projected_w.safetensors")
    assert main(["generate", "--network", net, "--ws", ws, "--outdir", str(gen)]) == 0
    assert np.array_equal(_png(gen / "ws0000.png"), _png(out / "proj.png"))
    pti_gen = tmp_path / "pti_gen"
    assert (
        main(
            [
                "generate",
                "--network",
                str(out / "pti_generator"),
                "--ws",
                ws,
                "--outdir",
                str(pti_gen),
            ]
        )
        == 0
    )
    assert np.array_equal(_png(pti_gen / "ws0000.png"), _png(out / "proj_pti.png"))
    capsys.readouterr()
    bad = tmp_path / "bad"
    _fails(capsys, [*argv, "--space", "z", "--outdir", str(bad)], "--space 'z' is unknown", bad)
    _fails(
        capsys,
        [*argv, "--target", str(tmp_path / "no.png"), "--outdir", str(bad)],
        "does not exist",
        bad,
    )
    _fails(
        capsys,
        [*argv, "--class", "0", "--outdir", str(bad)],
        "--class 0 given but the network is unconditional",
        bad,
    )
    _fails(
        capsys, [*argv, "--video", "proj.avi", "--outdir", str(bad)], "unknown video type .avi", bad
    )
    _fails(
        capsys,
        ["generate", "--network", net, "--ws", ws, "--trunc", "0.5", "--outdir", str(bad)],
        "--ws renders saved latents as they are; drop --trunc",
        bad,
    )
    wrong = save_ws(tmp_path / "wrong.safetensors", torch.zeros(1, 9, 32), space="w")
    _fails(
        capsys,
        ["generate", "--network", net, "--ws", str(wrong), "--outdir", str(bad)],
        "holds ws of shape [1, 9, 32] but this network takes [N, 6, 32]",
        bad,
    )


def test_project_flag_defaults_are_the_config_defaults():
    args = build_parser().parse_args(
        ["project", "--network", "n", "--target", "t", "--outdir", "o"]
    )
    for name in (
        "space",
        "steps",
        "seed",
        "initial_lr",
        "w_avg_samples",
        "log_every",
        "optimize_noise",
    ):
        assert getattr(args, name) == config_default(ProjectionConfig, name), name
    assert args.pti_steps == PTIConfig().steps and args.pti_lr == PTIConfig().lr


def test_directions_and_edit(net, cond_net, tmp_path, capsys):
    dirs = {}
    for method in ("sefa", "ganspace"):
        dirs[method] = tmp_path / f"{method}.safetensors"
        extra = ["--samples", "500"] if method == "ganspace" else ["--layers", "coarse"]
        assert (
            main(
                [
                    "directions",
                    "--network",
                    net,
                    "--method",
                    method,
                    "--out",
                    str(dirs[method]),
                    *extra,
                ]
            )
            == 0
        )
    cls = tmp_path / "class.safetensors"
    assert (
        main(
            [
                "directions",
                "--network",
                cond_net,
                "--method",
                "class",
                "--samples",
                "50",
                "--out",
                str(cls),
            ]
        )
        == 0
    )
    capsys.readouterr()
    out = tmp_path / "edit"
    argv = ["edit", "--network", net, "--directions", str(dirs["sefa"]), "--index", "1"]
    assert (
        main([*argv, "--seeds", "0-1", "--degrees", "-2,0,2", "--outdir", str(out), "--gif"]) == 0
    )
    assert "on ws 0-3" in capsys.readouterr().out  # SeFa's layers by default
    assert _png(out / "grid.png").shape == (32, 48, 3)
    gen = tmp_path / "gen"
    assert main(["generate", "--network", net, "--seeds", "1", "--outdir", str(gen)]) == 0
    assert (
        np.abs(
            _png(gen / "seed0001.png").astype(int) - _png(out / "seed0001_deg+0.png").astype(int)
        ).max()
        <= 1
    )
    out2 = tmp_path / "edit2"
    assert (
        main(
            [
                "edit",
                "--network",
                cond_net,
                "--directions",
                str(cls),
                "--index",
                "2",
                "--from-class",
                "0",
                "--seeds",
                "3",
                "--class",
                "0",
                "--degrees",
                "0,1",
                "--outdir",
                str(out2),
            ]
        )
        == 0
    )
    capsys.readouterr()
    bad = tmp_path / "bad"
    _fails(
        capsys,
        [*argv, "--seeds", "0", "--degrees", "1,a", "--outdir", str(bad)],
        "--degrees '1,a': 'a' is not a number",
        bad,
    )
    _fails(
        capsys,
        [*argv, "--seeds", "0", "--layers", "7", "--outdir", str(bad)],
        "index 7 is out of range",
        bad,
    )
    _fails(
        capsys,
        [*argv, "--seeds", "0", "--index", "99", "--outdir", str(bad)],
        "--index 99 is out of range",
        bad,
    )
    wrong = save_ws(tmp_path / "wrong.safetensors", torch.zeros(2, 5, 32), space="w")
    _fails(
        capsys,
        [*argv, "--ws", str(wrong), "--outdir", str(bad)],
        "holds ws of shape [2, 5, 32]",
        bad,
    )
    _fails(
        capsys,
        [
            "directions",
            "--network",
            net,
            "--method",
            "pca",
            "--out",
            str(tmp_path / "d.safetensors"),
        ],
        "--method 'pca' is unknown",
    )
    _fails(
        capsys,
        [
            "directions",
            "--network",
            net,
            "--method",
            "class",
            "--out",
            str(tmp_path / "d.safetensors"),
        ],
        "class directions need a conditional",
    )
    assert not (tmp_path / "d.safetensors").exists()
