"""Built-in class selection ('fashion-mnist:sneaker') and UnpairedDataset."""

import numpy as np
import pytest
from PIL import Image

from stylegen.data.builtin import class_slug, fashion_mnist_arrays
from stylegen.data.datasets import InMemoryDataset, UnpairedDataset
from stylegen.data.open import open_dataset
from stylegen.errors import UserError


def test_class_spec_keeps_one_class():
    images, labels = fashion_mnist_arrays()
    ds = open_dataset("fashion-mnist:ankle-boot")
    keep = np.flatnonzero(labels == 9)
    assert len(ds) == len(keep) and ds.name == "fashion-mnist-ankle-boot"
    assert np.array_equal(ds[0][0], images[keep[0]])
    assert np.array_equal(ds[len(ds) - 1][0], images[keep[-1]])
    assert len(open_dataset("fashion-mnist:Sneaker", max_size=5)) == 5
    assert class_slug("T-shirt/top") == "t-shirt-top"


def test_class_spec_keeps_a_group_of_classes_with_their_labels():
    _, labels = fashion_mnist_arrays()
    ds = open_dataset("fashion-mnist:sneaker,sandal,ankle-boot", use_labels=True)
    assert len(ds) == int(np.isin(labels, [5, 7, 9]).sum())
    assert ds.name == "fashion-mnist-sneaker-sandal-ankle-boot"
    seen = {int(ds[i][1].argmax()) for i in range(0, len(ds), 97)}
    assert seen == {5, 7, 9}  # original indices of the ten classes, not renumbered


def test_unknown_class_lists_the_choices():
    with pytest.raises(UserError, match="no class 'boots'.*ankle-boot"):
        open_dataset("fashion-mnist:boots")
    with pytest.raises(UserError, match="no class 'boot'"):
        open_dataset("fashion-mnist:sneaker,boot")


def _mem(n, channels=1, value=0, name="m"):
    imgs = np.zeros((n, channels, 8, 8), np.uint8)
    imgs[:, 0, 0, 0] = np.arange(n) + value  # pixel (0, 0) says which image it is
    return InMemoryDataset(name, imgs)


def test_epoch_covers_the_larger_domain_with_random_partners():
    data = UnpairedDataset(_mem(5), _mem(3, value=100), seed=1)
    assert len(data) == 5
    idx_a, idx_b = data.epoch_indices(0)
    assert sorted(idx_a) == [0, 1, 2, 3, 4] and set(idx_b) <= {0, 1, 2}
    again = UnpairedDataset(_mem(5), _mem(3, value=100), seed=1).epoch_indices(0)
    assert np.array_equal(again[0], idx_a) and np.array_equal(again[1], idx_b)
    other = [data.epoch_indices(e) for e in range(1, 6)]
    assert any(not np.array_equal(o[0], idx_a) for o in other)  # a fresh order per epoch
    a, b = data.batch(0, 1, 3)
    assert a.shape == (3, 1, 8, 8) and list(a[:, 0, 0, 0]) == list(idx_a[1:4])
    assert list(b[:, 0, 0, 0]) == [100 + i for i in idx_b[1:4]]
    small = UnpairedDataset(_mem(2), _mem(7))
    assert sorted(small.epoch_indices(0)[0]) == [0, 0, 0, 0, 1, 1, 1]


def test_channel_mismatch_names_the_conversion(tmp_path):
    folder = tmp_path / "rgb"
    folder.mkdir()
    for i in range(2):
        Image.new("RGB", (8, 8), (i, 0, 0)).save(folder / f"{i}.png")
    rgb = open_dataset(folder)
    with pytest.raises(UserError, match=r"1 channel.*has 3.*--dest rgb-1ch.zip.*--channels 1"):
        UnpairedDataset(_mem(2), rgb)
    grey = tmp_path / "grey"
    grey.mkdir()
    Image.new("L", (8, 8)).save(grey / "0.png")
    with pytest.raises(UserError, match=r"--source .*grey --dest grey-3ch.zip .*--channels 3"):
        UnpairedDataset(rgb, open_dataset(grey))
