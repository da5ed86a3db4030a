"""float <-> uint8 conversion (the official x*127.5+128 mapping), grids and atomic image writes."""

import numpy as np
import torch
from PIL import Image

from stylegen.images import float_to_uint8, make_grid, save_image, uint8_to_float


def test_float_to_uint8_matches_official_formula():
    x = torch.tensor([-2.0, -1.0, -0.5, 0.0, 0.999, 1.0, 3.0]).reshape(1, 1, 1, 7)
    want = [0, 0, 64, 128, 255, 255, 255]  # floor(x*127.5+128) clamped to [0, 255]
    assert float_to_uint8(x).flatten().tolist() == want
    back = uint8_to_float(torch.tensor([0, 255], dtype=torch.uint8))
    assert back.tolist() == [-1.0, 1.0]


def test_make_grid_places_images_row_by_row():
    imgs = np.stack([np.full((1, 2, 3), i, dtype=np.uint8) for i in range(5)])
    grid = make_grid(imgs, ncols=3)
    assert grid.shape == (1, 4, 9)
    assert grid[0, 0, 3] == 1 and grid[0, 2, 0] == 3 and grid[0, 2, 3] == 4
    assert grid[0, 2, 6] == 0  # the empty sixth cell stays black


def test_save_image_gray_and_rgb(tmp_path):
    gray = np.arange(12, dtype=np.uint8).reshape(1, 3, 4)
    rgb = np.zeros((3, 2, 2), dtype=np.uint8)
    rgb[0] = 255
    save_image(gray, tmp_path / "g.png")
    save_image(rgb, tmp_path / "c.png")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "g.png")), gray[0])
    assert Image.open(tmp_path / "c.png").getpixel((0, 0)) == (255, 0, 0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.png", "g.png"]
