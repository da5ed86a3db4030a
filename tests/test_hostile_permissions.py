"""Finished files and folders get the permissions of a plain open()/mkdir under the umask, not the
private 0600/0700 of their temporaries: snapshots, checkpoints, PNGs, GIFs, dataset zips."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stylegen.data.prepare import convert_dataset
from stylegen.fileio import atomic_dir, atomic_file, current_umask, publish_permissions
from stylegen.images import save_gif, save_image
from stylegen.models import Generator
from stylegen.training.stats import save_figure_atomic
from stylegen.training.stylegan_config import build_configs


@pytest.fixture(params=[0o022, 0o077, 0o002], ids=["022", "077", "002"])
def umask(request):
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def assert_published(path: Path, mask: int) -> None:
    """Every file 0o666 & ~mask, every folder 0o777 & ~mask, as open() and mkdir give."""
    paths = [path, *path.rglob("*")] if path.is_dir() else [path]
    for p in paths:
        want = (0o777 if p.is_dir() else 0o666) & ~mask
        assert mode(p) == want, f"{p}: {oct(mode(p))} != {oct(want)}"


def test_current_umask_does_not_change_it(umask):
    assert current_umask() == umask
    assert current_umask() == umask


def test_atomic_writers_publish_like_open_and_mkdir(tmp_path, umask):
    (tmp_path / "plain.txt").write_text("x")
    (tmp_path / "plain").mkdir()
    assert_published(tmp_path / "plain.txt", umask)  # the yardstick: what open()/mkdir give
    assert_published(tmp_path / "plain", umask)
    with atomic_file(tmp_path / "f.json") as tmp:
        tmp.write_text("{}")
    assert_published(tmp_path / "f.json", umask)
    with atomic_dir(tmp_path / "snap") as tmp:
        (tmp / "sub").mkdir(mode=0o700)
        (tmp / "sub" / "w.bin").write_bytes(b"1")
        (tmp / "x.json").write_text("{}")
        os.chmod(tmp / "x.json", 0o600)
    assert_published(tmp_path / "snap", umask)


def test_images_checkpoints_zips_figures(tmp_path, umask):
    img = np.zeros((3, 8, 8), np.uint8)
    assert_published(save_image(img, tmp_path / "a.png"), umask)
    assert_published(save_gif(np.stack([img, img]), tmp_path / "a.gif"), umask)
    g, _ = build_configs("tiny", img_resolution=8)
    assert_published(Path(Generator(g).save(tmp_path / "ck")), umask)
    (tmp_path / "src").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "src" / "a.png")
    convert_dataset(tmp_path / "src", tmp_path / "d.zip", 8)
    assert_published(tmp_path / "d.zip", umask)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure()
    try:
        assert_published(save_figure_atomic(fig, tmp_path / "losses.png"), umask)
    finally:
        plt.close(fig)


def test_symlinks_are_left_alone(tmp_path, umask):
    target = tmp_path / "target.txt"
    target.write_text("x")
    os.chmod(target, 0o600)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "link").symlink_to(target)
    publish_permissions(tmp_path / "d")
    assert mode(target) == 0o600
