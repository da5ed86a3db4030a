"""Hostile numbers on the command line (and in the configs behind it): zero, negative, NaN and
infinite values end in one line naming the flag, exit code 2, and nothing written."""

from __future__ import annotations

import math

import pytest

from stylegen.commands import main
from stylegen.config import check_number
from stylegen.errors import UserError
from stylegen.generate import generate_images, transform_frames
from stylegen.models import Generator
from stylegen.training.cyclegan_config import CycleGANConfig
from stylegen.training.stylegan_config import TrainConfig, build_configs


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = err.strip().splitlines()
    return line


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--threads", "-1"], "--threads -1 must be >= 1"),
        (["--threads", "0"], "--threads 0 must be >= 1"),
        (["--kimg", "nan"], "--kimg nan must be a finite number"),
        (["--kimg", "inf"], "--kimg inf must be a finite number"),
        (["--kimg", "0"], "--kimg 0.0 must be > 0"),
        (["--batch", "0"], "--batch 0 must be >= 1"),
        (["--batch-gpu", "0"], "--batch-gpu 0 must be >= 1"),
        (["--glr", "-0.1"], "--glr -0.1 must be >= 0"),
        (["--dlr", "nan"], "--dlr nan must be a finite number"),
        (["--gamma", "nan"], "--gamma nan must be a finite number"),
        (["--gamma=-inf"], "--gamma -inf must be a finite number"),
        (["--ema", "nan"], "--ema nan must be a finite number"),
        (["--ema", "-1"], "--ema -1.0 must be >= 0"),
        (["--pl-weight", "nan"], "--pl-weight nan"),
        (["--mixing", "1.5"], "--mixing 1.5 must be between 0 and 1"),
        (["--mixing", "nan"], "--mixing nan must be a finite number"),
        (["--p", "nan"], "--p nan must be a finite number"),
        (["--target", "nan"], "--target nan must be a finite number"),
        (["--blur-sigma", "nan"], "--blur-sigma nan"),
        (["--blur-kimg", "-1"], "--blur-kimg -1.0 must be >= 0"),
        (["--snap", "0"], "--snap 0 must be >= 1"),
        (["--tick", "0"], "--tick 0.0 must be > 0"),
        (["--tick", "nan"], "--tick nan must be a finite number"),
        (["--max-size", "0"], "--max-size 0 must be >= 1"),
        (["--seed", "-1"], "--seed -1 must be between 0 and 4294967295"),
    ],
)
def test_train_numbers(tmp_path, capsys, flags, message):
    out = tmp_path / "runs"
    argv = ["train", "--data", "fashion-mnist", "--preset", "tiny", "--outdir", str(out)]
    assert main([*argv, *flags]) == 2
    assert message in one_line_error(capsys)
    assert not out.exists()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--epochs", "-1"], "--epochs -1 must be >= 0"),
        (["--decay-epochs", "-1"], "--decay-epochs -1 must be >= 0"),
        (["--epochs", "0", "--decay-epochs", "0"], "train at least one epoch"),
        (["--batch", "0"], "--batch 0 must be >= 1"),
        (["--lr", "nan"], "--lr nan must be a finite number"),
        (["--lr", "-1"], "--lr -1.0 must be >= 0"),
        (["--lambda-cycle", "nan"], "--lambda-cycle nan must be a finite number"),
        (["--lambda-identity", "inf"], "--lambda-identity inf must be a finite number"),
        (["--pool-size", "-1"], "--pool-size -1 must be >= 0"),
        (["--tick", "nan"], "--tick nan must be a finite number"),
        (["--snap", "0"], "--snap 0 must be >= 1"),
        (["--threads", "0"], "--threads 0 must be >= 1"),
        (["--max-size", "0"], "--max-size 0 must be >= 1"),
    ],
)
def test_cyclegan_numbers(tmp_path, capsys, flags, message):
    out = tmp_path / "runs"
    argv = ["cyclegan", "train", "--data-a", "fashion-mnist:sneaker"]
    argv += ["--data-b", "fashion-mnist:ankle-boot", "--preset", "tiny", "--outdir", str(out)]
    assert main([*argv, *flags]) == 2
    assert message in one_line_error(capsys)
    assert not out.exists()


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    g, _ = build_configs("tiny", img_resolution=8)
    return str(Generator(g).save(tmp_path_factory.mktemp("net") / "ck"))


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--trunc", "nan"], "--trunc nan must be a finite number"),
        (["--trunc", "inf"], "--trunc inf must be a finite number"),
        (["--trunc-cutoff", "-1"], "--trunc-cutoff -1 must be >= 0"),
        (["--batch", "0"], "--batch 0 must be >= 1"),
        (["--rotate", "nan"], "--rotate nan must be a finite number"),
        (["--translate", "nan,0"], "--translate 'nan,0' must be two finite numbers"),
    ],
)
def test_generate_numbers(network, tmp_path, capsys, flags, message):
    out = tmp_path / "out"
    assert main(["generate", "--network", network, "--outdir", str(out), *flags]) == 2
    assert message in one_line_error(capsys)
    assert not out.exists()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--fps", "nan"], "--fps nan must be a finite number > 0"),
        (["--frames", "0"], "--frames 0 must be >= 1"),
        (["--seed", "-1"], "--seed -1 must be between 0 and 4294967295"),
        (["--trunc", "nan"], "--trunc nan"),
        (["--rotate-max", "inf"], "--rotate-max inf"),
    ],
)
def test_video_numbers(network, tmp_path, capsys, flags, message):
    out = tmp_path / "v.gif"
    assert main(["video", "--network", network, "--out", str(out), *flags]) == 2
    assert message in one_line_error(capsys)
    assert not out.exists()


def test_library_checks(network):
    import stylegen

    G = stylegen.load(network)
    with pytest.raises(UserError, match="--trunc nan must be a finite number"):
        generate_images(G, [0], truncation_psi=math.nan)
    with pytest.raises(UserError, match="seed -1 is out of range"):
        generate_images(G, [-1])
    with pytest.raises(UserError, match="--frames 0 must be >= 1"):
        transform_frames(G, 0, 0)
    with pytest.raises(UserError, match="--threads 0 must be >= 1"):
        TrainConfig(data="x", threads=0).resolved()
    with pytest.raises(UserError, match="--batch True must be an integer"):
        TrainConfig(data="x", batch=True).resolved()
    with pytest.raises(UserError, match="beta2 1 must be below 1"):
        CycleGANConfig(data_a="a", data_b="b", beta2=1).resolved()


def test_check_number_messages():
    check_number("x", 3, integer=True, low=1)
    check_number("x", 2, low=0, high=2)  # ints are numbers
    for value, kwargs, message in [
        (math.nan, {}, "x nan must be a finite number"),
        (True, {}, "x True must be a number"),
        ("3", {}, "x '3' must be a number"),
        (1.5, {"integer": True}, "x 1.5 must be an integer"),
        (None, {}, "x None must be a number"),
        (0, {"low": 0, "low_open": True, "high": 1}, "x 0 must be > 0 and <= 1"),
        (5, {"high": 1}, "x 5 must be <= 1"),
    ]:
        with pytest.raises(UserError, match=message):
            check_number("x", value, **kwargs)
