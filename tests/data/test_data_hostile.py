"""Hostile and broken dataset inputs: every one ends in one line naming the file, never a
traceback or a silent wrong result (broken pixels under --skip-bad, encrypted zips, absurd labels,
decompression bombs, a full disk while packing)."""

from __future__ import annotations

import errno
import io
import json
import logging
import os
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stylegen.commands import main
from stylegen.data.datasets import ImageFolderDataset, InMemoryDataset
from stylegen.errors import UserError

RNG = np.random.default_rng(7)


def png_bytes(size: int = 8) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(RNG.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def broken_pixels_png() -> bytes:
    """Header and IEND intact (passes the cheap check at open), pixel data undecodable."""
    data = bytearray(png_bytes())
    idat = data.index(b"IDAT")
    data[idat + 6 : idat + 30] = b"\xff" * 24
    return bytes(data)


def folder_with_broken(root: Path, good: int = 3) -> Path:
    root.mkdir(parents=True)
    for i in range(good):
        (root / f"ok{i}.png").write_bytes(png_bytes())
    (root / "broken.png").write_bytes(broken_pixels_png())
    return root


def zip_of(root: Path, dest: Path) -> Path:
    with zipfile.ZipFile(dest, "w") as zf:
        for p in sorted(root.iterdir()):
            zf.write(p, p.name)
    return dest


# ---------------------------------------------------------------- 1. --skip-bad really skips


@pytest.mark.parametrize("as_zip", [False, True])
def test_skip_bad_skips_broken_pixel_data(tmp_path, caplog, as_zip):
    src = folder_with_broken(tmp_path / "imgs")
    path = zip_of(src, tmp_path / "imgs.zip") if as_zip else src
    ds = ImageFolderDataset(path)  # without skip_bad: found when the pixels are decoded
    with pytest.raises(UserError, match=r"broken\.png.*cannot decode.*--skip-bad"):
        [ds[i] for i in range(len(ds))]
    with caplog.at_level(logging.WARNING, logger="stylegen.data.datasets"):
        ds = ImageFolderDataset(path, skip_bad=True)
    assert len(ds) == 3 and ds.num_skipped == 1
    assert "skipped 1 unreadable image(s)" in caplog.text and "broken.png" in caplog.text
    assert all(ds[i][0].shape == (3, 8, 8) for i in range(len(ds)))


def test_train_skip_bad_trains_past_broken_file(tmp_path, capsys):
    src = folder_with_broken(tmp_path / "imgs", good=4)
    out = tmp_path / "runs"
    args = ["train", "--data", str(src), "--preset", "tiny", "--kimg", "0.008", "--batch", "4"]
    args += ["--outdir", str(out), "--snap", "1000", "--threads", "1"]
    assert main(args) == 2
    assert "broken.png" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())
    assert main([*args, "--skip-bad"]) == 0
    (run,) = out.iterdir()
    assert (run / "snapshot-000000.008").is_dir()


def test_dataset_command_skip_bad(tmp_path, capsys, caplog):
    src = folder_with_broken(tmp_path / "imgs")
    dest = tmp_path / "o.zip"
    assert main(["dataset", "--source", str(src), "--dest", str(dest), "--resolution", "8"]) == 2
    err = capsys.readouterr().err.strip()
    assert "broken.png" in err and len(err.splitlines()) == 1
    assert not dest.exists()
    with caplog.at_level(logging.WARNING):
        rc = main(
            [
                "dataset",
                "--source",
                str(src),
                "--dest",
                str(dest),
                "--resolution",
                "8",
                "--skip-bad",
            ]
        )
    assert rc == 0 and "skipped 1 unreadable" in caplog.text
    with zipfile.ZipFile(dest) as zf:
        assert len([n for n in zf.namelist() if n.endswith(".png")]) == 3


# ---------------------------------------------------------------- 2. encrypted zips


def encrypt_flags(zip_path: Path) -> Path:
    """Mark every member as encrypted (general-purpose flag bit 0) in the local and central
    headers: zipfile cannot write encrypted entries, but this is what readers look at."""
    data = bytearray(zip_path.read_bytes())
    for sig, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        pos = data.find(sig)
        while pos >= 0:
            data[pos + flag_at] |= 0x1
            pos = data.find(sig, pos + 4)
    zip_path.write_bytes(bytes(data))
    return zip_path


@pytest.fixture
def encrypted_zip(tmp_path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(2):
        (src / f"{i}.png").write_bytes(png_bytes())
    return encrypt_flags(zip_of(src, tmp_path / "secret.zip"))


def test_encrypted_zip_is_one_line(encrypted_zip, tmp_path, capsys):
    with zipfile.ZipFile(encrypted_zip) as zf, pytest.raises(RuntimeError):
        zf.read("0.png")  # the fixture really is what zipfile sees as encrypted
    with pytest.raises(UserError, match=r"secret\.zip' is an encrypted.*first: '0\.png'.*unzip"):
        ImageFolderDataset(encrypted_zip)
    out = tmp_path / "runs"
    assert (
        main(["train", "--data", str(encrypted_zip), "--preset", "tiny", "--outdir", str(out)]) == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "encrypted" in err[0] and "secret.zip" in err[0]
    assert not out.exists() or not any(out.iterdir())
    dest = tmp_path / "o.zip"
    argv = ["dataset", "--source", str(encrypted_zip), "--dest", str(dest), "--resolution", "8"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "encrypted" in err[0]
    assert not dest.exists()


# ---------------------------------------------------------------- 3. labels checked before use


def labelled_folder(root: Path, labels: list) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(len(labels)):
        (root / f"{i}.png").write_bytes(png_bytes())
    table = [[f"{i}.png", lab] for i, lab in enumerate(labels)]
    (root / "dataset.json").write_text(json.dumps({"labels": table}))
    return root


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ([0, 3000000000], r"label of '1\.png' is 3000000000: out of range \(at most 100000"),
        ([0, -1], r"label of '1\.png' is -1: out of range"),
        ([0, 1.5], r"label of '1\.png' is 1\.5: not an integer class index"),
        ([0, float("nan")], r"label of '1\.png' is NaN: not an integer"),
        ([0, float("inf")], r"label of '1\.png' is Infinity: not an integer"),
        ([0, True], r"label of '1\.png' is true: not a class index"),
        ([0, None], r"label of '1\.png' is null: not a class index"),
        ([0, "cat"], r"label of '1\.png' is \"cat\": not a class index"),
        ([0, [1, 2]], r"label of '1\.png' is \[1, 2\]: not a class index"),
        ([[1.0, 2.0], [1.0]], r"label of '1\.png' is \[1\.0\]: 1 numbers, but '0\.png' has 2"),
        ([[1.0, 2.0], 3], r"label of '1\.png' is 3: expected a list of 2 numbers"),
        (
            [[1.0, float("nan")]],
            r"label of '0\.png' is \[1\.0, NaN\]: every entry must be a finite",
        ),
        (
            [[1.0, False]],
            r"label of '0\.png' is \[1\.0, false\]: every entry must be a finite number",
        ),
        ([[]], r"label of '0\.png' is \[\]: a label vector needs 1 to 100000 numbers"),
    ],
)
def test_bad_labels_are_named_before_any_allocation(tmp_path, labels, message):
    root = labelled_folder(tmp_path / "imgs", labels)
    with pytest.raises(UserError, match=rf"dataset\.json' {message}"):
        ImageFolderDataset(root, use_labels=True)


def test_integral_float_labels_are_class_indices(tmp_path):
    ds = ImageFolderDataset(labelled_folder(tmp_path / "imgs", [0, 2.0]), use_labels=True)
    assert ds.label_dim == 3 and ds.get_label(1).tolist() == [0, 0, 1]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"labels": [["0.png"]]}, r"list of \[name, label\] pairs, found \[\"0\.png\"\]"),
        ({"labels": [["0.png", 1, 2]]}, r"pairs, found \[\"0\.png\", 1, 2\]"),
        ({"labels": [[0, 1]]}, r"pairs, found \[0, 1\]"),
        ({"labels": {"0.png": 1}}, r"labels must be a list of \[name, label\] pairs"),
        ({"labels": [["0.png", 1], ["0.png", 2]]}, r"gives '0\.png' two labels \(1 and 2\)"),
        ({"labels": [["0.png", 1]], "class_names": ["x"] * 100001}, "100001 class_names"),
    ],
)
def test_malformed_label_tables(tmp_path, table, message):
    root = labelled_folder(tmp_path / "imgs", [0])
    (root / "dataset.json").write_text(json.dumps(table))
    with pytest.raises(UserError, match=message):
        ImageFolderDataset(root, use_labels=True)


def test_huge_label_cli_one_line(tmp_path, capsys):
    root = labelled_folder(tmp_path / "imgs", [0, 3000000000])
    out = tmp_path / "runs"
    argv = ["train", "--data", str(root), "--cond", "--preset", "tiny", "--outdir", str(out)]
    assert main(argv) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "dataset.json' label of '1.png' is 3000000000" in line
    assert not out.exists() or not any(out.iterdir())
    dest = tmp_path / "o.zip"
    argv = ["dataset", "--source", str(root), "--dest", str(dest), "--resolution", "8"]
    assert main([*argv, "--labels", "json"]) == 2
    assert "3000000000" in capsys.readouterr().err and not dest.exists()


# ---------------------------------------------------------------- 6. decompression bombs


@pytest.mark.parametrize(
    "limit", [40, 20], ids=["warning", "error"]
)  # 8x8 = 64 pixels: over the limit warns, over twice the limit raises in Pillow
@pytest.mark.parametrize("as_zip", [False, True])
def test_decompression_bomb_is_a_bad_file(tmp_path, monkeypatch, caplog, limit, as_zip):
    root = tmp_path / "imgs"
    root.mkdir()
    (root / "small.png").write_bytes(png_bytes(4))  # 16 pixels: under either limit
    (root / "bomb.png").write_bytes(png_bytes(8))
    path = zip_of(root, tmp_path / "imgs.zip") if as_zip else root
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
    with pytest.raises(UserError, match=r"bomb\.png.*too many pixels to decode safely.*--skip-bad"):
        ImageFolderDataset(path)
    with caplog.at_level(logging.WARNING, logger="stylegen.data.datasets"):
        ds = ImageFolderDataset(path, skip_bad=True)
    assert len(ds) == 1 and ds.num_skipped == 1 and ds.resolution == 4
    assert "skipped 1 unreadable" in caplog.text


def test_decompression_bomb_in_dataset_command(tmp_path, monkeypatch, capsys):
    root = tmp_path / "imgs"
    root.mkdir()
    (root / "ok.png").write_bytes(png_bytes(4))
    (root / "bomb.png").write_bytes(png_bytes(8))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 20)
    dest = tmp_path / "o.zip"
    argv = ["dataset", "--source", str(root), "--dest", str(dest), "--resolution", "4"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bomb.png" in err[0] and "too many pixels" in err[0]
    assert not dest.exists()
    assert main([*argv, "--skip-bad"]) == 0 and dest.exists()


# ---------------------------------------------------------------- 7. a full disk


def test_full_disk_while_packing_leaves_old_zip(tmp_path, monkeypatch, capsys):
    root = tmp_path / "imgs"
    root.mkdir()
    for i in range(3):
        (root / f"{i}.png").write_bytes(png_bytes())
    dest = tmp_path / "o.zip"
    dest.write_bytes(b"previous")
    real_writestr = zipfile.ZipFile.writestr

    def writestr_then_fill_disk(self, name, data, *args, **kwargs):
        if len(self.namelist()) >= 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_writestr(self, name, data, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "writestr", writestr_then_fill_disk)
    argv = ["dataset", "--source", str(root), "--dest", str(dest), "--resolution", "8"]
    assert main(argv) == 4
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "No space left on device" in line
    assert dest.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["imgs", "o.zip"]  # no temp file left


# ---------------------------------------------------------------- labels kept as indices


def test_class_labels_are_kept_as_indices():
    """99,999 classes over 2,000 images: labels stay [N] indices (a one-hot images x classes
    matrix would be 800 MB); each item's label is still one-hot [label_dim]."""
    n = 2000
    images = np.zeros([n, 1, 4, 4], dtype=np.uint8)
    labels = np.arange(n) % 7
    labels[5] = 99_998
    tracemalloc.start()
    try:
        ds = InMemoryDataset("many", images, labels, use_labels=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000, peak
    assert ds.label_dim == 99_999 and ds.label_shape == [99_999]
    image, label = ds[5]
    assert label.dtype == np.float32 and label.shape == (99_999,)
    assert label[99_998] == 1 and label.sum() == 1
    assert np.flatnonzero(ds.get_label(3)).tolist() == [3]
