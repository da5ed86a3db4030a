"""Editing along a direction: degree 0 is the original, only the chosen layers move."""

import numpy as np
import pytest
import torch
from PIL import Image

from stylegen.errors import UserError
from stylegen.latent.edit import edit_grid, edit_images, edit_ws, parse_degrees, write_edit
from stylegen.latent.noise import random_noise
from stylegen.latent.ws import render_ws, ws_from_seeds


def test_edit_ws_maths():
    ws, n = torch.randn(2, 6, 4), torch.randn(4)
    e = edit_ws(ws, n, [-1.0, 0.0, 2.5], [1, 3])
    assert e.shape == (2, 3, 6, 4)
    assert torch.equal(e[:, 1], ws)  # degree 0
    assert torch.equal(e[:, :, [0, 2, 4, 5]], ws[:, None, [0, 2, 4, 5]].expand(-1, 3, -1, -1))
    torch.testing.assert_close(e[1, 2, 3], ws[1, 3] + 2.5 * n)


def test_edit_ws_on_the_latents_device_with_a_cpu_direction():
    # Directions load to the CPU; latents may live on a GPU ("meta" stands in for it: mixing
    # it with a CPU tensor raises as CUDA does).
    e = edit_ws(torch.randn(2, 6, 4, device="meta"), torch.randn(4), [-1.0, 2.0], [0])
    assert e.device.type == "meta" and e.shape == (2, 2, 6, 4)


def test_degree_zero_renders_the_original_also_with_projected_noise(G2):
    ws = ws_from_seeds(G2, [0, 1])
    noise = random_noise(G2, 2, torch.Generator().manual_seed(0))
    images = edit_images(G2, ws, torch.randn(G2.w_dim), [-3, 0, 3], [0, 1, 2], noise=noise)
    assert images.shape == (2, 3, 3, 16, 16)
    assert torch.equal(images[:, 1], render_ws(G2, ws, noise=noise, batch_size=3))
    assert not torch.equal(images[:, 0], images[:, 1])
    grid = edit_grid(images)
    assert grid.shape == (3, 32, 48)
    assert np.array_equal(grid[:, 16:, 32:], images[1, 2].numpy())


def test_write_edit(G2, tmp_path):
    images = edit_images(G2, ws_from_seeds(G2, [4]), torch.randn(G2.w_dim), [-1, 0, 1.5], [0])
    write_edit(tmp_path / "out", images, ["seed4"], [-1, 0, 1.5], gif=True)
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == [
        "grid.png",
        "seed4_deg+0.png",
        "seed4_deg+1.5.png",
        "seed4_deg-1.png",
        "sweep.gif",
    ]
    with Image.open(tmp_path / "out" / "sweep.gif") as gif:
        assert gif.n_frames == 4  # -1, 0, 1.5, 0


def test_bad_input(G2):
    assert parse_degrees("-5,-2.5,0,2.5,5") == [-5.0, -2.5, 0.0, 2.5, 5.0]
    with pytest.raises(UserError, match=r"--degrees '1,x': 'x' is not a number"):
        parse_degrees("1,x")
    with pytest.raises(UserError, match="must be finite numbers"):
        parse_degrees("1,inf")
    ws = ws_from_seeds(G2, [0])
    with pytest.raises(UserError, match=r"--layers \[6\] must lie in 0-5"):
        edit_images(G2, ws, torch.zeros(G2.w_dim), [0], [6])
    with pytest.raises(UserError, match="the directions were made for another network"):
        edit_images(G2, ws, torch.zeros(7), [0], [0])
    with pytest.raises(UserError, match=r"this network takes \[N, 6, 32\]"):
        edit_images(G2, torch.zeros(1, 5, 32), torch.zeros(32), [0], [0])
