"""Tests for stylegen.data.datasets: folders and zips, labels, x-flip, subsets, every bad input."""

from __future__ import annotations

import io
import json
import logging
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from stylegen.data.datasets import (
    ImageFolderDataset,
    InMemoryDataset,
    pil_to_uint8,
)
from stylegen.data.open import open_dataset
from stylegen.errors import UserError

RNG = np.random.default_rng(1234)


def write_image(path: Path, arr: np.ndarray, **save_kwargs) -> np.ndarray:
    """Save an HWC or HW uint8 array and return it as CHW (what the dataset should give back)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, **save_kwargs)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def make_folder(root: Path, names: list[str], size: int = 8, gray: bool = False) -> dict:
    """Random PNGs under root; returns {name: CHW array}."""
    shape = (size, size) if gray else (size, size, 3)
    return {n: write_image(root / n, RNG.integers(0, 256, shape, dtype=np.uint8)) for n in names}


def zip_folder(root: Path, zip_path: Path) -> Path:
    with zipfile.ZipFile(zip_path, "w") as zf:
        for p in sorted(root.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(root).as_posix())
    return zip_path


def all_items(ds) -> list[tuple[np.ndarray, np.ndarray]]:
    return [ds[i] for i in range(len(ds))]


NAMES = ["a.png", "b.png", "sub/c.png", "sub/deeper/d.png"]


# ---------------------------------------------------------------- folders and zips


def test_folder_recursive_items_match_written_pixels(tmp_path):
    written = make_folder(tmp_path / "imgs", NAMES)
    ds = ImageFolderDataset(tmp_path / "imgs")
    assert len(ds) == 4
    assert ds.name == "imgs"
    assert (ds.resolution, ds.num_channels, ds.image_shape) == (8, 3, [3, 8, 8])
    assert ds.label_dim == 0 and ds.label_shape == [0] and not ds.has_labels
    assert ds.num_skipped == 0
    for i, name in enumerate(sorted(NAMES)):
        img, label = ds[i]
        assert img.dtype == np.uint8 and img.shape == (3, 8, 8)
        np.testing.assert_array_equal(img, written[name])
        assert label.dtype == np.float32 and label.shape == (0,)
        assert ds.image_name(i) == name


def test_zip_gives_same_items_as_folder(tmp_path):
    make_folder(tmp_path / "imgs", NAMES)
    folder = ImageFolderDataset(tmp_path / "imgs")
    zipped = ImageFolderDataset(zip_folder(tmp_path / "imgs", tmp_path / "set.zip"))
    assert zipped.name == "set" and len(zipped) == len(folder)
    for (a, _), (b, _) in zip(all_items(folder), all_items(zipped)):
        np.testing.assert_array_equal(a, b)


def test_zip_dataset_survives_pickling_for_workers(tmp_path):
    written = make_folder(tmp_path / "imgs", ["a.png", "b.png"])
    ds = ImageFolderDataset(zip_folder(tmp_path / "imgs", tmp_path / "set.zip"))
    ds[0]  # opens the zip handle, which must not be pickled
    clone = pickle.loads(pickle.dumps(ds))
    np.testing.assert_array_equal(clone[1][0], written["b.png"])


def test_dataloader_batches(tmp_path):
    make_folder(tmp_path / "imgs", NAMES)
    loader = torch.utils.data.DataLoader(ImageFolderDataset(tmp_path / "imgs"), batch_size=4)
    img, c = next(iter(loader))
    assert img.shape == (4, 3, 8, 8) and img.dtype == torch.uint8 and c.shape == (4, 0)


def test_gray_rgba_jpeg_webp(tmp_path):
    gray = make_folder(tmp_path / "gray", ["g.png"], gray=True)
    ds = ImageFolderDataset(tmp_path / "gray")
    assert ds.num_channels == 1
    np.testing.assert_array_equal(ds[0][0], gray["g.png"])

    rgba = RNG.integers(0, 256, (8, 8, 4), dtype=np.uint8)
    write_image(tmp_path / "rgba" / "x.png", rgba)
    ds = ImageFolderDataset(tmp_path / "rgba")
    assert ds.num_channels == 3
    np.testing.assert_array_equal(ds[0][0], rgba[:, :, :3].transpose(2, 0, 1))

    flat = np.full((8, 8, 3), 90, dtype=np.uint8)  # flat colour survives JPEG almost exactly
    write_image(tmp_path / "mixed" / "j.JPG", flat, quality=95)
    exact = write_image(tmp_path / "mixed" / "w.webp", flat, lossless=True)
    ds = ImageFolderDataset(tmp_path / "mixed")
    assert len(ds) == 2
    assert np.abs(ds[0][0].astype(int) - 90).max() <= 2
    np.testing.assert_array_equal(ds[1][0], exact)


def test_non_images_and_hidden_files_are_ignored(tmp_path):
    make_folder(tmp_path / "imgs", ["a.png"])
    (tmp_path / "imgs" / "notes.txt").write_text("hello")
    (tmp_path / "imgs" / ".hidden.png").write_bytes(b"junk")
    assert len(ImageFolderDataset(tmp_path / "imgs")) == 1


def test_pil_to_uint8_scales_16_bit_gray():
    arr = np.array([[0, 257 * 100], [65535, 257 * 7]], dtype=np.uint16)
    out = pil_to_uint8(Image.fromarray(arr), 1)
    np.testing.assert_array_equal(out[:, :, 0], [[0, 100], [255, 7]])
    assert pil_to_uint8(Image.fromarray(arr), 3).shape == (2, 2, 3)


# ---------------------------------------------------------------- labels


def write_labels(root: Path, table) -> None:
    (root / "dataset.json").write_text(json.dumps({"labels": table}))


def test_json_labels_one_hot_folder_and_zip(tmp_path):
    make_folder(tmp_path / "imgs", NAMES)
    classes = {"a.png": 2, "b.png": 0, "sub/c.png": 4, "sub/deeper/d.png": 2}
    write_labels(tmp_path / "imgs", [[n, c] for n, c in classes.items()])
    for path in (tmp_path / "imgs", zip_folder(tmp_path / "imgs", tmp_path / "s.zip")):
        ds = ImageFolderDataset(path, use_labels=True)
        assert ds.label_dim == 5 and ds.has_labels and ds.label_shape == [5]
        for i, name in enumerate(sorted(NAMES)):
            expected = np.eye(5, dtype=np.float32)[classes[name]]
            np.testing.assert_array_equal(ds.get_label(i), expected)
            np.testing.assert_array_equal(ds[i][1], expected)


def test_labels_are_ignored_unless_asked(tmp_path):
    make_folder(tmp_path / "imgs", ["a.png"])
    write_labels(tmp_path / "imgs", [["a.png", 3]])
    assert ImageFolderDataset(tmp_path / "imgs").label_dim == 0


def test_json_vector_labels(tmp_path):
    make_folder(tmp_path / "imgs", ["a.png", "b.png"])
    write_labels(tmp_path / "imgs", [["a.png", [0.5, 1.5]], ["b.png", [2.0, -1.0]]])
    ds = ImageFolderDataset(tmp_path / "imgs", use_labels=True)
    np.testing.assert_array_equal(ds.get_label(1), np.float32([2.0, -1.0]))


def test_folder_labels_sorted_class_names(tmp_path):
    make_folder(tmp_path / "imgs", ["zebra/1.png", "ant/2.png", "moth/x/3.png", "ant/4.png"])
    ds = ImageFolderDataset(tmp_path / "imgs", use_labels=True, labels="folders")
    assert ds.class_names == ["ant", "moth", "zebra"]
    # sorted names: ant/2, ant/4, moth/x/3, zebra/1
    np.testing.assert_array_equal(
        [int(ds.get_label(i).argmax()) for i in range(len(ds))], [0, 0, 1, 2]
    )
    assert ds.label_dim == 3


# ---------------------------------------------------------------- x-flip and subsets


def test_xflip_doubles_with_mirrored_second_half(tmp_path):
    make_folder(tmp_path / "imgs", ["a/1.png", "b/2.png", "b/3.png"])
    ds = ImageFolderDataset(tmp_path / "imgs", xflip=True, use_labels=True, labels="folders")
    assert len(ds) == 6
    for i in range(3):
        img, label = ds[i]
        flipped, flabel = ds[i + 3]
        np.testing.assert_array_equal(flipped, img[:, :, ::-1])
        np.testing.assert_array_equal(flabel, label)
        assert ds.get_details(i + 3) == (i, True) and ds.get_details(i) == (i, False)


def test_max_size_random_subset_is_deterministic(tmp_path):
    make_folder(tmp_path / "imgs", [f"{i:02d}.png" for i in range(20)], size=4)
    raw = [d[0] for d in all_items(ImageFolderDataset(tmp_path / "imgs"))]

    def picks(**kw):
        ds = ImageFolderDataset(tmp_path / "imgs", max_size=5, **kw)
        idx = [ds.get_details(i)[0] for i in range(len(ds))]
        for i, r in enumerate(idx):
            np.testing.assert_array_equal(ds[i][0], raw[r])
        return idx

    first = picks(random_seed=3)
    assert len(first) == 5 and first == sorted(first) and len(set(first)) == 5
    assert picks(random_seed=3) == first
    assert picks(random_seed=4) != first
    assert len(ImageFolderDataset(tmp_path / "imgs", max_size=5, xflip=True)) == 10
    assert len(ImageFolderDataset(tmp_path / "imgs", max_size=100)) == 20


def test_in_memory_dataset_matches_interface():
    images = RNG.integers(0, 256, (6, 1, 4, 4), dtype=np.uint8)
    labels = np.array([0, 1, 2, 0, 1, 2])
    ds = InMemoryDataset("mem", images, labels, use_labels=True, xflip=True)
    assert len(ds) == 12 and ds.label_dim == 3 and ds.resolution == 4
    np.testing.assert_array_equal(ds[7][0], images[1][:, :, ::-1])
    np.testing.assert_array_equal(ds.get_label(8), [0, 0, 1])
    ds[0][0][:] = 0  # items are copies: the backing array is untouched
    assert images[0].any()


# ---------------------------------------------------------------- bad input


def test_missing_path(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        ImageFolderDataset(tmp_path / "nope")


def test_open_dataset_unknown_name_lists_builtins(tmp_path):
    with pytest.raises(UserError, match=r"fashion-mnist, emoji"):
        open_dataset(str(tmp_path / "nope"))


def test_open_dataset_folder(tmp_path, monkeypatch):
    make_folder(tmp_path / "imgs", ["a.png"])
    ds = open_dataset(str(tmp_path / "imgs"), xflip=True)
    assert isinstance(ds, ImageFolderDataset) and len(ds) == 2
    # An existing folder wins over a built-in of the same name.
    make_folder(tmp_path / "emoji", ["a.png", "b.png"])
    monkeypatch.chdir(tmp_path)
    ds = open_dataset("emoji")
    assert isinstance(ds, ImageFolderDataset) and len(ds) == 2 and ds.num_skipped == 0


def test_empty_folder_and_no_images(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no images"):
        ImageFolderDataset(tmp_path / "empty")
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "a.txt").write_text("x")
    with pytest.raises(UserError, match="no images"):
        ImageFolderDataset(tmp_path / "text")


def test_plain_file_is_not_a_dataset(tmp_path):
    (tmp_path / "x.png").write_bytes(b"not a zip")
    with pytest.raises(UserError, match="neither a folder nor a .zip"):
        ImageFolderDataset(tmp_path / "x.png")


def png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def test_corrupt_image_is_named(tmp_path):
    make_folder(tmp_path / "imgs", ["a.png"])
    (tmp_path / "imgs" / "bad.png").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(UserError, match=r"bad\.png.*not a readable image.*--skip-bad"):
        ImageFolderDataset(tmp_path / "imgs")


@pytest.mark.parametrize(("fmt", "kind"), [("png", "PNG"), ("jpg", "JPEG"), ("webp", "WEBP")])
def test_cut_short_image_is_named(tmp_path, fmt, kind):
    make_folder(tmp_path / "imgs", ["a.png"], size=64)
    full = tmp_path / f"full.{fmt}"
    # Big enough that the cut falls in the pixel data, not in the headers.
    Image.fromarray(RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(full)
    data = full.read_bytes()
    (tmp_path / "imgs" / f"cut.{fmt}").write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(UserError, match=rf"cut\.{fmt}': truncated {kind} file"):
        ImageFolderDataset(tmp_path / "imgs")


def test_skip_bad_counts_and_logs(tmp_path, caplog):
    make_folder(tmp_path / "imgs", ["a.png", "b.png"])
    (tmp_path / "imgs" / "bad1.png").write_bytes(b"junk")
    data = png_bytes(RNG.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    (tmp_path / "imgs" / "bad2.png").write_bytes(data[:40])
    with caplog.at_level(logging.WARNING, logger="stylegen.data.datasets"):
        ds = ImageFolderDataset(tmp_path / "imgs", skip_bad=True)
    assert len(ds) == 2 and ds.num_skipped == 2
    assert "skipped 2 unreadable" in caplog.text


def test_all_bad_with_skip_bad(tmp_path):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "bad.png").write_bytes(b"junk")
    with pytest.raises(UserError, match="none of the 1 images"):
        ImageFolderDataset(tmp_path / "imgs", skip_bad=True)


def test_corrupt_pixel_data_fails_on_access_with_name(tmp_path):
    make_folder(tmp_path / "imgs", ["a.png"])
    data = bytearray(png_bytes(RNG.integers(0, 256, (8, 8, 3), dtype=np.uint8)))
    idat = data.index(b"IDAT")
    data[idat + 6 : idat + 30] = b"\xff" * 24  # header and IEND intact, pixels broken
    (tmp_path / "imgs" / "b.png").write_bytes(bytes(data))
    ds = ImageFolderDataset(tmp_path / "imgs")
    with pytest.raises(UserError, match=r"b\.png.*cannot decode"):
        ds[1]


def test_mixed_resolutions(tmp_path):
    make_folder(tmp_path / "imgs", ["a.png"], size=8)
    make_folder(tmp_path / "imgs", ["b.png"], size=16)
    with pytest.raises(
        UserError, match=r"mixed resolutions.*stylegen dataset --source .* --dest out.zip"
    ):
        ImageFolderDataset(tmp_path / "imgs")


def test_mixed_channels(tmp_path):
    make_folder(tmp_path / "imgs", ["a.png"])
    make_folder(tmp_path / "imgs", ["b.png"], gray=True)
    with pytest.raises(UserError, match=r"mix grey and colour.*stylegen dataset --source"):
        ImageFolderDataset(tmp_path / "imgs")


def test_non_square(tmp_path):
    write_image(tmp_path / "imgs" / "a.png", np.zeros((8, 16, 3), np.uint8))
    with pytest.raises(UserError, match=r"16x8.*square power-of-two.*--resolution 8"):
        ImageFolderDataset(tmp_path / "imgs")


def test_non_power_of_two(tmp_path):
    make_folder(tmp_path / "imgs", ["a.png"], size=24)
    with pytest.raises(UserError, match=r"24x24.*power-of-two.*--resolution 16"):
        ImageFolderDataset(tmp_path / "imgs")


def test_use_labels_without_dataset_json(tmp_path):
    make_folder(tmp_path / "imgs", ["a.png"])
    with pytest.raises(UserError, match="has no dataset.json"):
        ImageFolderDataset(tmp_path / "imgs", use_labels=True)


def test_use_labels_with_null_labels(tmp_path):
    make_folder(tmp_path / "imgs", ["a.png"])
    write_labels(tmp_path / "imgs", None)
    with pytest.raises(UserError, match=r"has no labels \(null\)"):
        ImageFolderDataset(tmp_path / "imgs", use_labels=True)


def test_use_labels_with_missing_entries(tmp_path):
    make_folder(tmp_path / "imgs", ["a.png", "b.png", "c.png"])
    write_labels(tmp_path / "imgs", [["a.png", 1]])
    with pytest.raises(UserError, match=r"2 image\(s\) have no entry.*first: 'b.png'"):
        ImageFolderDataset(tmp_path / "imgs", use_labels=True)


def test_malformed_dataset_json(tmp_path):
    make_folder(tmp_path / "imgs", ["a.png"])
    (tmp_path / "imgs" / "dataset.json").write_text("{not json")
    with pytest.raises(UserError, match="not valid JSON"):
        ImageFolderDataset(tmp_path / "imgs", use_labels=True)
    write_labels(tmp_path / "imgs", [["a.png", "cat"]])
    with pytest.raises(UserError, match="class indices"):
        ImageFolderDataset(tmp_path / "imgs", use_labels=True)


def test_folder_labels_with_loose_images(tmp_path):
    make_folder(tmp_path / "imgs", ["cls/a.png", "loose.png"])
    with pytest.raises(UserError, match=r"class sub-folder.*first: 'loose.png'"):
        ImageFolderDataset(tmp_path / "imgs", use_labels=True, labels="folders")


def test_bad_arguments(tmp_path):
    make_folder(tmp_path / "imgs", ["a.png"])
    with pytest.raises(UserError, match="labels must be one of json, folders"):
        ImageFolderDataset(tmp_path / "imgs", labels="csv")
    with pytest.raises(UserError, match="max_size must be a positive integer"):
        ImageFolderDataset(tmp_path / "imgs", max_size=0)


def test_training_data_honours_labels_and_skip_bad_flags(tmp_path):
    from stylegen.training.stylegan import open_training_data
    from stylegen.training.stylegan_config import TrainConfig

    make_folder(tmp_path / "imgs", ["ant/1.png", "bee/2.png", "bee/3.png"])
    (tmp_path / "imgs" / "bee" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    cfg = TrainConfig(data=str(tmp_path / "imgs"), cond=True, labels="folders", skip_bad=True)
    ds = open_training_data(cfg)
    assert len(ds) == 3
    assert ds.label_dim == 2
    with pytest.raises(UserError):
        open_training_data(TrainConfig(data=str(tmp_path / "imgs"), labels="folders"))
