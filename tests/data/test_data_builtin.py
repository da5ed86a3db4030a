"""Tests for stylegen.data.builtin: the shipped Fashion-MNIST subset, the Debian set, emoji."""

from __future__ import annotations

import gzip
import importlib.util
import io
from pathlib import Path

import numpy as np
import pytest

from stylegen.data.builtin import (
    BUILTIN_DATASETS,
    EMOJI_CLASSES,
    FASHION_MNIST_DIR,
    emoji_class,
    emoji_codepoints,
    fashion_mnist_arrays,
    find_emoji_font,
    open_builtin,
    read_idx,
    render_emoji,
)
from stylegen.data.datasets import InMemoryDataset
from stylegen.data.open import open_dataset
from stylegen.errors import UserError

REPO = Path(__file__).resolve().parents[2]
HAS_DEBIAN_FASHION = (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file()
needs_debian_fashion = pytest.mark.skipif(
    not HAS_DEBIAN_FASHION,
    reason="Debian package dataset-fashion-mnist is not installed "
    "(apt-get install dataset-fashion-mnist)",
)
needs_emoji_font = pytest.mark.skipif(
    find_emoji_font() is None,
    reason="Debian package fonts-noto-color-emoji is not installed "
    "(apt-get install fonts-noto-color-emoji)",
)


def raw_idx_file(path: Path, offset: int) -> np.ndarray:
    """Independent reader using the fixed header sizes of the Fashion-MNIST files."""
    return np.frombuffer(gzip.decompress(path.read_bytes()), np.uint8, offset=offset)


def test_builtin_names():
    assert BUILTIN_DATASETS == ("fashion-mnist", "emoji")


def test_read_idx_parses_hand_made_file():
    payload = bytes(range(24))
    header = b"\x00\x00\x08\x03" + (2).to_bytes(4, "big") + (3).to_bytes(4, "big")
    arr = read_idx(io.BytesIO(gzip.compress(header + (4).to_bytes(4, "big") + payload)))
    assert arr.shape == (2, 3, 4)
    assert arr[1, 2, 3] == 23 and arr[0, 1, 0] == 4


def test_shipped_subset_shape_labels_and_padding():
    images, labels = fashion_mnist_arrays(source_dir=None)
    assert images.shape == (10000, 1, 32, 32) and images.dtype == np.uint8
    np.testing.assert_array_equal(np.bincount(labels), [1000] * 10)
    # 2 black pixels on every side, and something inside.
    assert not images[:, :, :2].any() and not images[:, :, -2:].any()
    assert not images[:, :, :, :2].any() and not images[:, :, :, -2:].any()
    assert images[:, :, 2:30, 2:30].reshape(10000, -1).max(axis=1).min() > 0


def test_fallback_to_shipped_subset_when_package_missing(tmp_path):
    images, _ = fashion_mnist_arrays(source_dir=tmp_path / "not-installed")
    assert len(images) == 10000


@needs_debian_fashion
def test_shipped_subset_is_first_1000_per_class_of_debian_train():
    train_x = raw_idx_file(FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz", 16)
    train_x = train_x.reshape(-1, 28, 28)
    train_y = raw_idx_file(FASHION_MNIST_DIR / "train-labels-idx1-ubyte.gz", 8)
    keep = sorted(i for c in range(10) for i in np.flatnonzero(train_y == c)[:1000])
    images, labels = fashion_mnist_arrays(source_dir=None)
    np.testing.assert_array_equal(labels, train_y[keep])
    np.testing.assert_array_equal(images[:, 0, 2:30, 2:30], train_x[keep])


@needs_debian_fashion
def test_debian_source_gives_all_70000():
    ds = open_builtin("fashion-mnist", use_labels=True)
    assert len(ds) == 70000 and ds.image_shape == [1, 32, 32] and ds.label_dim == 10
    test_y = raw_idx_file(FASHION_MNIST_DIR / "t10k-labels-idx1-ubyte.gz", 8)
    assert int(ds.get_label(69999).argmax()) == test_y[-1]
    assert ds.class_names[9] == "Ankle boot"


def test_fashion_mnist_dataset_interface():
    ds = open_dataset("fashion-mnist", use_labels=True, max_size=50, xflip=True, random_seed=1)
    assert isinstance(ds, InMemoryDataset) and ds.name == "fashion-mnist"
    assert len(ds) == 100 and ds.resolution == 32 and ds.num_channels == 1
    img, label = ds[60]
    np.testing.assert_array_equal(img, ds[10][0][:, :, ::-1])
    assert label.shape == (10,) and label.sum() == 1
    assert open_dataset("fashion-mnist").label_dim == 0


def test_unknown_builtin():
    with pytest.raises(UserError, match="unknown built-in dataset 'mnist'"):
        open_builtin("mnist")


def test_rebuild_script_helpers_are_deterministic():
    spec = importlib.util.spec_from_file_location(
        "make_builtin_fashion_mnist", REPO / "scripts" / "make_builtin_fashion_mnist.py"
    )
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    blob = script.idx_gz_bytes(arr)
    assert blob == script.idx_gz_bytes(arr)  # mtime 0: same bytes every time
    np.testing.assert_array_equal(read_idx(io.BytesIO(blob)), arr)
    labels = np.array([1, 0, 1, 2, 0, 1, 2, 2])
    np.testing.assert_array_equal(script.select_subset(labels, 2), [0, 1, 2, 3, 4, 6])


def test_emoji_missing_font_says_how_to_install(tmp_path):
    with pytest.raises(UserError, match="apt-get install fonts-noto-color-emoji"):
        render_emoji(font_path=tmp_path / "NotoColorEmoji.ttf")


def test_emoji_class_groups():
    assert EMOJI_CLASSES[emoji_class(0x1F600)][0] == "emoticons"
    assert EMOJI_CLASSES[emoji_class(0x1F697)][0] == "transport-and-map"
    assert EMOJI_CLASSES[emoji_class(0x2600)][0] == "symbols"


@needs_emoji_font
def test_emoji_codepoints_exclude_non_pictures():
    cps = emoji_codepoints(find_emoji_font())
    assert 0x1F600 in cps and 0x2764 in cps
    for cp in (0x200D, 0xFE0F, 0x20E3, 0x1F3FB, 0x1F1E6, 0x30, 0xE0061):
        assert cp not in cps
    assert len(cps) > 1000


@needs_emoji_font
def test_emoji_dataset():
    ds = open_builtin("emoji", use_labels=True)
    assert ds.image_shape == [3, 64, 64] and ds.label_dim == len(EMOJI_CLASSES)
    assert len(ds) > 1000
    images, labels = render_emoji()
    assert render_emoji() is render_emoji()  # rendered once, then cached
    # White background: the corners of nearly every emoji are white.
    corners = images[:, :, [0, 0, -1, -1], [0, -1, 0, -1]]
    assert (corners == 255).all(axis=(1, 2)).mean() > 0.7
    # The grinning face is yellow: red and green high, blue low, in its middle.
    grin = images[emoji_codepoints(find_emoji_font()).index(0x1F600)]
    r, g, b = grin[:, 24:40, 24:40].reshape(3, -1).mean(axis=1)
    assert r > 180 and g > 130 and b < 100
    assert EMOJI_CLASSES[int(labels.max())][0] == "supplemental"
