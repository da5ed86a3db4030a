"""Style mixing against plain references: the unmixed images are `generate`'s, a cell is the row
seed's ws with the column seed's rows copied in."""

import numpy as np
import pytest
import torch
from PIL import Image

from stylegen.errors import UserError
from stylegen.generate import generate_images
from stylegen.images import float_to_uint8
from stylegen.latent.mixing import mix_ws, mixing_grid, style_mix, write_mixing
from stylegen.latent.ws import ws_from_seeds

ROWS, COLS = [85, 100], [55, 821, 1789]


@pytest.fixture(scope="module")
def result(G2):
    return style_mix(G2, ROWS, COLS, [0, 1, 2], truncation_psi=0.8)


def test_unmixed_images_equal_generate(G2, result):
    ref = generate_images(G2, ROWS + COLS, truncation_psi=0.8)
    got = torch.stack([result.unmixed[s] for s in ROWS + COLS])
    assert (got.int() - ref.int()).abs().max() <= 1  # batch composition: float rounding only


def test_a_cell_is_the_row_ws_with_the_column_styles(G2, result):
    row = ws_from_seeds(G2, [100], 0.8)[0]
    col = ws_from_seeds(G2, [821], 0.8)[0]
    ws = torch.cat([col[:3], row[3:]]).unsqueeze(0)
    ref = float_to_uint8(G2.synthesis(ws, noise_mode="const"))[0]
    assert (result.mixed[(100, 821)].int() - ref.int()).abs().max() <= 1
    assert not torch.equal(result.mixed[(100, 821)], result.unmixed[100])


def test_mixing_every_style_gives_the_column_image(G2):
    r = style_mix(G2, [1], [2], list(range(G2.num_ws)))
    assert (r.mixed[(1, 2)].int() - r.unmixed[2].int()).abs().max() <= 1


def test_mix_ws_maths():
    row, col = torch.randn(2, 5, 3), torch.randn(3, 5, 3)
    m = mix_ws(row, col, [1, 3])
    assert m.shape == (2, 3, 5, 3)
    assert torch.equal(m[1, 2, [0, 2, 4]], row[1, [0, 2, 4]])
    assert torch.equal(m[1, 2, [1, 3]], col[2, [1, 3]])


def test_grid_layout_and_files(result, tmp_path):
    grid = mixing_grid(result)
    h = w = 16
    assert grid.shape == (3, 3 * h, 4 * w)
    assert not grid[:, :h, :w].any()  # empty corner
    assert np.array_equal(grid[:, :h, w : 2 * w], result.unmixed[55].numpy())
    assert np.array_equal(grid[:, 2 * h :, :w], result.unmixed[100].numpy())
    assert np.array_equal(grid[:, h : 2 * h, 3 * w :], result.mixed[(85, 1789)].numpy())
    write_mixing(result, tmp_path / "out")
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert "grid.png" in names and "85-55.png" in names and "55-55.png" in names
    assert len(names) == 1 + 5 + 6
    assert np.array_equal(
        np.asarray(Image.open(tmp_path / "out" / "100-821.png")).transpose(2, 0, 1),
        result.mixed[(100, 821)].numpy(),
    )


def test_stylegan3_and_conditional_networks(G3, G2c):
    r3 = style_mix(G3, [1], [2], [0, 1])
    assert r3.mixed[(1, 2)].shape == (3, 16, 16)
    rc = style_mix(G2c, [1], [2], [0], class_idx=2)
    ref = generate_images(G2c, [1], class_idx=2)
    assert (rc.unmixed[1].int() - ref[0].int()).abs().max() <= 1


def test_bad_input(G2, G2c):
    with pytest.raises(UserError, match="--class 1 given but the network is unconditional"):
        style_mix(G2, [1], [2], [0], class_idx=1)
    with pytest.raises(UserError, match="pass --class N with 0 <= N < 3"):
        style_mix(G2c, [1], [2], [0])
    with pytest.raises(UserError, match="must lie in 0-5"):
        style_mix(G2, [1], [2], [6])
    with pytest.raises(UserError, match="at least one row seed"):
        style_mix(G2, [], [2], [0])
