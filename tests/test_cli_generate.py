"""`stylegen generate` end to end through main(): files written, errors as one line + exit 2."""

import pytest
from PIL import Image

from stylegen.commands import main
from stylegen.models import Generator
from stylegen.training.stylegan_config import build_configs


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    g, _ = build_configs("tiny", img_resolution=8, c_dim=2)
    return str(Generator(g).save(tmp_path_factory.mktemp("net") / "ck"))


def test_generate_writes_pngs_and_grid(network, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(
        [
            "generate",
            "--network",
            network,
            "--seeds",
            "0-2",
            "--class",
            "1",
            "--outdir",
            str(out),
            "--grid",
            "--trunc",
            "0.7",
        ]
    )
    assert rc == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "grid.png",
        "seed0000.png",
        "seed0001.png",
        "seed0002.png",
    ]
    assert Image.open(out / "seed0001.png").size == (8, 8)
    assert Image.open(out / "grid.png").size == (16, 16)


@pytest.mark.parametrize(
    "args,msg",
    [
        (["--seeds", "0-x"], "malformed seeds '0-x'"),
        (["--seeds", "5-2"], "backwards"),
        (["--class", "7"], "--class 7 is out of range"),
        ([], "pass --class N"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(network, tmp_path, capsys, args, msg):
    out = tmp_path / "out"
    rc = main(["generate", "--network", network, "--outdir", str(out), *args])
    err = capsys.readouterr().err
    assert rc == 2
    assert msg in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())


def test_missing_network_and_pickle(tmp_path, capsys):
    assert main(["generate", "--network", str(tmp_path / "x"), "--outdir", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["generate", "--network", "snap.pkl", "--outdir", str(tmp_path)]) == 2
    assert "snapshot snap.pkl does not exist" in capsys.readouterr().err  # read directly now


def test_unknown_flag_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["generate", "--frobnicate"])
    assert exc.value.code == 2
