"""`stylegen train --arch gan|dcgan|cgan|vae`, `stylegen reconstruct` and `generate --class all`
from the command line: bad input is one line and exit 2."""

import json

import numpy as np
import pytest
from PIL import Image

from stylegen.commands import main

TINY = ["--data", "fashion-mnist", "--preset", "tiny", "--max-size", "64", "--threads", "1"]


def _folder(path, n=2, res=16):
    path.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (res, res, 3), dtype=np.uint8)).save(path / f"{i}.png")
    return path


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--arch", "vae", "--gamma", "1"], "--gamma does not apply to --arch vae; leave it out"),
        (["--arch", "vae", "--aug", "none"], "--aug does not apply to --arch vae"),
        (["--arch", "dcgan", "--beta-kl", "2"], "--beta-kl applies to --arch vae only"),
        (["--arch", "gan", "--likelihood", "poisson"], "--likelihood applies to --arch vae only"),
        (["--arch", "vae", "--likelihood", "poisson"], "unknown --likelihood 'poisson'"),
        (["--arch", "dcgan", "--cond-mode", "projection"], "--cond-mode needs labels: add --cond"),
    ],
)
def test_flags_of_other_families_are_refused(tmp_path, capsys, argv, message):
    assert main(["train", *TINY, "--outdir", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())


def test_cgan_without_labels_and_mlp_above_64_pixels(tmp_path, capsys):
    small = _folder(tmp_path / "small")
    assert main(["train", "--arch", "cgan", "--data", str(small), "--outdir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "--arch cgan needs class labels" in err and "--labels folders" in err
    assert "dataset.json" in err
    big = _folder(tmp_path / "big", res=128)
    assert main(["train", "--arch", "gan", "--data", str(big), "--outdir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--arch gan is fully connected: at 128x128x3 it would have 76.4M parameters" in err
    assert "--arch dcgan" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big", "small"]


def test_dry_run_shows_the_resolved_family_config(capsys):
    assert main(["train", *TINY, "--arch", "cgan", "--dry-run"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["arch"] == "cgan" and cfg["cond"] is True and cfg["lr"] == 0.0002
    assert "beta_kl" in cfg and cfg["beta_kl"] is None


def test_train_reconstruct_and_generate_a_row_per_class(tmp_path, capsys):
    runs = tmp_path / "runs"
    argv = ["train", *TINY, "--arch", "vae", "--cond", "--kimg", "0.016", "--outdir", str(runs)]
    assert main(argv) == 0
    run = runs / "00000-fashion-mnist-vae-tiny"
    inputs = _folder(tmp_path / "in", n=3, res=32)
    out = tmp_path / "rec"
    base = ["reconstruct", "--network", str(run), "--input", str(inputs), "--outdir", str(out)]
    assert main(base) == 2
    assert "pass --class N" in capsys.readouterr().err
    assert main([*base, "--class", "2", "--grid"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["0.png", "1.png", "2.png", "grid.png"]
    assert Image.open(out / "0.png").size == (32, 32)
    assert Image.open(out / "grid.png").size == (6 * 32, 32)  # input | reconstruction x 3

    gen = tmp_path / "gen"
    argv = ["generate", "--network", str(run), "--seeds", "0-2", "--outdir", str(gen)]
    assert main([*argv, "--class", "all", "--grid"]) == 0
    assert Image.open(gen / "grid.png").size == (3 * 32, 10 * 32)  # a row per class
    assert (gen / "seed0002-class09.png").exists()
    capsys.readouterr()
    dcgan = tmp_path / "dcgan"
    assert main(["train", *TINY, "--arch", "dcgan", "--kimg", "0.016", "--outdir", str(dcgan)]) == 0
    net = str(dcgan / "00000-fashion-mnist-dcgan-tiny")
    assert (
        main(["reconstruct", "--network", net, "--input", str(inputs), "--outdir", str(out)]) == 2
    )
    assert "holds a DCGANGenerator, not a VAE" in capsys.readouterr().err
    assert main(["generate", "--network", net, "--outdir", str(gen), "--class", "all"]) == 2
    assert "--class all needs a conditional network" in capsys.readouterr().err
