"""Hostile input to `stylegen generate`: absurd seeds, an --outdir that is a file, bad numbers.
Each ends in one line on stderr with exit code 2 and nothing written."""

from __future__ import annotations

import errno
import os

import pytest
from PIL import Image

from stylegen.commands import main
from stylegen.errors import UserError
from stylegen.generate import MAX_SEED, MAX_SEEDS, parse_seeds
from stylegen.models import Generator
from stylegen.training.stylegan_config import build_configs


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    g, _ = build_configs("tiny", img_resolution=8)
    return str(Generator(g).save(tmp_path_factory.mktemp("net") / "ck"))


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = err.strip().splitlines()
    return line


# ---------------------------------------------------------------- 4. seeds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0-99999999999", r"seed 99999999999 in '0-99999999999' is too large: seeds are 0 to "),
        ("4294967296", r"seed 4294967296 .* 0 to 4294967295 \(2\*\*32 - 1\)"),
        ("0-1000000", r"ask for 1000001 images; at most 1000000 per call"),
        ("0-600000,0-600000", r"ask for 1200002 images"),
        ("٣", "malformed seeds"),  # a non-ASCII digit
        ("-1", "malformed seeds"),
    ],
)
def test_seeds_are_bounded_before_allocation(text, message):
    with pytest.raises(UserError, match=message):
        parse_seeds(text)


def test_seed_bounds_are_inclusive():
    assert parse_seeds(f"{MAX_SEED}") == [MAX_SEED]
    assert len(parse_seeds(f"0-{MAX_SEEDS - 1}")) == MAX_SEEDS


def test_huge_seed_range_cli(network, tmp_path, capsys):
    out = tmp_path / "out"
    assert (
        main(["generate", "--network", network, "--seeds", "0-99999999999", "--outdir", str(out)])
        == 2
    )
    assert "too large" in one_line_error(capsys)
    assert not out.exists()


# ---------------------------------------------------------------- 5. --outdir is a file


@pytest.mark.parametrize("suffix", ["", "/", "/sub"])
def test_outdir_that_is_a_file(network, tmp_path, capsys, suffix):
    target = tmp_path / "afile"
    target.write_bytes(b"keep me")
    argv = ["generate", "--network", network, "--seeds", "0-1", "--outdir", f"{target}{suffix}"]
    assert main(argv) == 2
    assert "afile" in one_line_error(capsys)
    assert target.read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


# ---------------------------------------------------------------- 7. a full disk


def test_full_disk_leaves_no_partial_png(network, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    real_save = Image.Image.save
    calls = []

    def save_then_fill_disk(self, fp, *args, **kwargs):
        calls.append(1)
        if len(calls) < 2:
            return real_save(self, fp, *args, **kwargs)
        fp.write(b"\x89PNG half")  # some bytes reach the file before the disk is full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Image.Image, "save", save_then_fill_disk)
    argv = ["generate", "--network", network, "--seeds", "0-2", "--outdir", str(out)]
    assert main(argv) == 4
    line = one_line_error(capsys)
    assert "No space left on device" in line
    assert sorted(p.name for p in out.iterdir()) == ["seed0000.png"]  # complete, the rest absent
    monkeypatch.setattr(Image.Image, "save", real_save)
    assert Image.open(out / "seed0000.png").size == (8, 8)
