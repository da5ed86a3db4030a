"""Tests for stylegen.data.prepare: transforms, the official zip layout, labels, atomic writes."""

from __future__ import annotations

import io
import json
import logging
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stylegen.data.datasets import ImageFolderDataset
from stylegen.data.prepare import (
    archive_name,
    center_crop,
    center_crop_wide,
    convert_dataset,
    plain_resize,
)
from stylegen.errors import UserError

RNG = np.random.default_rng(99)


def save(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def rand(h: int, w: int, c: int | None = 3) -> np.ndarray:
    return RNG.integers(0, 256, (h, w) if c is None else (h, w, c), dtype=np.uint8)


def read_meta(zip_path: Path) -> dict:
    with zipfile.ZipFile(zip_path) as zf:
        return json.loads(zf.read("dataset.json"))


def test_archive_names_follow_official_layout():
    assert archive_name(0) == "00000/img00000000.png"
    assert archive_name(999) == "00000/img00000999.png"
    assert archive_name(1000) == "00001/img00001000.png"
    assert archive_name(123456) == "00123/img00123456.png"


def test_center_crop_takes_middle_square():
    src = rand(4, 8)  # H=4, W=8: the square is columns 2..5
    out = np.asarray(center_crop(Image.fromarray(src), 4))
    np.testing.assert_array_equal(out, src[:, 2:6])
    src = rand(10, 4)  # H=10, W=4: rows 3..6
    np.testing.assert_array_equal(np.asarray(center_crop(Image.fromarray(src), 4)), src[3:7])


def test_center_crop_wide_pads_black_bars():
    src = rand(8, 8)  # 2:1 crop is rows 2..5; resized to 8x4 (unchanged), padded to 8x8
    out = np.asarray(center_crop_wide(Image.fromarray(src), 8))
    assert out.shape == (8, 8, 3)
    np.testing.assert_array_equal(out[2:6], src[2:6])
    assert not out[:2].any() and not out[6:].any()
    src = rand(4, 16)  # wider than 2:1: columns 4..11
    out = np.asarray(center_crop_wide(Image.fromarray(src), 8))
    np.testing.assert_array_equal(out[2:6], src[:, 4:12])


def test_resize_keeps_whole_image():
    src = rand(4, 4)
    np.testing.assert_array_equal(np.asarray(plain_resize(Image.fromarray(src), 4)), src)
    flat = np.full((6, 12, 3), 77, np.uint8)
    out = np.asarray(plain_resize(Image.fromarray(flat), 8))
    assert out.shape == (8, 8, 3) and (out == 77).all()


def test_round_trip_unlabeled(tmp_path):
    for i, (h, w) in enumerate([(40, 30), (50, 60), (16, 16), (33, 17), (64, 64)]):
        save(tmp_path / "src" / f"{i}.png", rand(h, w))
    (tmp_path / "src" / "readme.txt").write_text("not an image")
    dest = tmp_path / "out" / "set.zip"
    assert convert_dataset(tmp_path / "src", dest, 16) == 5
    with zipfile.ZipFile(dest) as zf:
        names = sorted(zf.namelist())
    assert names == [f"00000/img0000000{i}.png" for i in range(5)] + ["dataset.json"]
    assert read_meta(dest) == {"labels": None}
    convert_dataset(tmp_path / "src", dest, 16, labels="none")
    assert read_meta(dest) == {"labels": None}
    ds = ImageFolderDataset(dest)
    assert len(ds) == 5 and ds.resolution == 16 and ds.num_channels == 3 and ds.name == "set"
    assert list(dest.parent.iterdir()) == [dest]  # no temporary file left behind


def test_round_trip_same_size_is_lossless(tmp_path):
    src = {f"{i}.png": rand(8, 8) for i in range(3)}
    for name, arr in src.items():
        save(tmp_path / "src" / name, arr)
    convert_dataset(tmp_path / "src", tmp_path / "o.zip", 8)
    ds = ImageFolderDataset(tmp_path / "o.zip")
    for i, name in enumerate(sorted(src)):
        np.testing.assert_array_equal(ds[i][0], src[name].transpose(2, 0, 1))


def test_round_trip_folder_labels(tmp_path):
    for name in ["dog/1.png", "cat/2.png", "dog/3.png", "bird/x/4.png"]:
        save(tmp_path / "src" / name, rand(12, 12))
    dest = tmp_path / "labeled.zip"
    assert convert_dataset(tmp_path / "src", dest, 8, labels="folders") == 4
    meta = read_meta(dest)
    assert meta["class_names"] == ["bird", "cat", "dog"]
    # sorted sources: bird/x/4, cat/2, dog/1, dog/3
    assert [lbl for _, lbl in meta["labels"]] == [0, 1, 2, 2]
    ds = ImageFolderDataset(dest, use_labels=True)
    assert len(ds) == 4 and ds.label_dim == 3 and ds.class_names == ["bird", "cat", "dog"]
    np.testing.assert_array_equal(ds.get_label(3), [0, 0, 1])


def test_round_trip_json_labels_from_zip_source(tmp_path):
    buf = {"a.png": 3, "sub/b.png": 0}
    with zipfile.ZipFile(tmp_path / "src.zip", "w") as zf:
        for name in buf:
            data = io.BytesIO()
            Image.fromarray(rand(20, 10)).save(data, format="PNG")
            zf.writestr(name, data.getvalue())
        zf.writestr("dataset.json", json.dumps({"labels": [[n, c] for n, c in buf.items()]}))
    dest = tmp_path / "o.zip"
    convert_dataset(tmp_path / "src.zip", dest, 4, transform="resize", labels="json")
    ds = ImageFolderDataset(dest, use_labels=True)
    assert ds.label_dim == 4 and ds.resolution == 4
    assert [int(ds.get_label(i).argmax()) for i in range(2)] == [3, 0]


def test_gray_stays_gray_and_mixed_becomes_rgb(tmp_path):
    save(tmp_path / "gray" / "a.png", rand(10, 10, None))
    convert_dataset(tmp_path / "gray", tmp_path / "g.zip", 8)
    assert ImageFolderDataset(tmp_path / "g.zip").num_channels == 1

    gray = np.full((8, 8), 200, np.uint8)
    save(tmp_path / "mixed" / "a.png", gray)
    save(tmp_path / "mixed" / "b.png", rand(8, 8))
    convert_dataset(tmp_path / "mixed", tmp_path / "m.zip", 8)
    ds = ImageFolderDataset(tmp_path / "m.zip")
    assert ds.num_channels == 3
    assert (ds[0][0] == 200).all()


def test_rgba_becomes_rgb(tmp_path):
    save(tmp_path / "src" / "a.png", rand(8, 8, 4))
    convert_dataset(tmp_path / "src", tmp_path / "o.zip", 8)
    assert ImageFolderDataset(tmp_path / "o.zip").num_channels == 3


def test_overwrites_existing_destination(tmp_path):
    save(tmp_path / "src" / "a.png", rand(8, 8))
    dest = tmp_path / "o.zip"
    dest.write_bytes(b"old")
    assert convert_dataset(tmp_path / "src", dest, 4) == 1
    assert zipfile.is_zipfile(dest)


def test_skip_bad(tmp_path, caplog):
    save(tmp_path / "src" / "a.png", rand(8, 8))
    save(tmp_path / "src" / "b.png", rand(8, 8))
    (tmp_path / "src" / "c.png").write_bytes(b"broken")
    with pytest.raises(UserError, match=r"c\.png.*--skip-bad"):
        convert_dataset(tmp_path / "src", tmp_path / "o.zip", 8)
    assert not (tmp_path / "o.zip").exists()
    with caplog.at_level(logging.WARNING, logger="stylegen.data.prepare"):
        assert convert_dataset(tmp_path / "src", tmp_path / "o.zip", 8, skip_bad=True) == 2
    assert "skipped 1 unreadable" in caplog.text


def broken_pixels_png() -> bytes:
    """A PNG whose header and end are fine but whose pixel data cannot be decoded."""
    buf = io.BytesIO()
    Image.fromarray(rand(8, 8)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    idat = data.index(b"IDAT")
    data[idat + 6 : idat + 30] = b"\xff" * 24
    return bytes(data)


def test_failure_mid_write_leaves_old_destination_untouched(tmp_path):
    save(tmp_path / "src" / "a.png", rand(8, 8))
    (tmp_path / "src" / "b.png").write_bytes(broken_pixels_png())
    dest = tmp_path / "o.zip"
    dest.write_bytes(b"previous")
    with pytest.raises(UserError, match=r"b\.png.*cannot decode"):
        convert_dataset(tmp_path / "src", dest, 8)
    assert dest.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.zip", "src"]
    assert convert_dataset(tmp_path / "src", dest, 8, skip_bad=True) == 1


def test_bad_arguments(tmp_path):
    save(tmp_path / "src" / "a.png", rand(8, 8))
    src, dest = tmp_path / "src", tmp_path / "o.zip"
    with pytest.raises(UserError, match=r"power of two >= 4.*got 48"):
        convert_dataset(src, dest, 48)
    with pytest.raises(UserError, match="transform must be one of center-crop"):
        convert_dataset(src, dest, 8, transform="squash")
    with pytest.raises(UserError, match="must be a file name ending in .zip"):
        convert_dataset(src, tmp_path / "out", 8)
    (tmp_path / "dir.zip").mkdir()
    with pytest.raises(UserError, match="must be a file name ending in .zip"):
        convert_dataset(src, tmp_path / "dir.zip", 8)
    with pytest.raises(UserError, match="labels must be none, json or folders"):
        convert_dataset(src, dest, 8, labels="csv")
    with pytest.raises(UserError, match="does not exist"):
        convert_dataset(tmp_path / "missing", dest, 8)
    with pytest.raises(UserError, match="has no dataset.json"):
        convert_dataset(src, dest, 8, labels="json")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no images"):
        convert_dataset(tmp_path / "empty", dest, 8)
    assert not dest.exists()
