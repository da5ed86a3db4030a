"""Interpolation walks: slerp/lerp maths, keyframes on exact frames, grids, classes, videos."""

import stat

import numpy as np
import pytest
import torch
from PIL import Image

from stylegen.errors import UserError
from stylegen.fileio import current_umask
from stylegen.generate import generate_images
from stylegen.latent import video
from stylegen.latent.interpolate import (
    frame_positions,
    interpolation_frames,
    interpolation_ws,
    lerp,
    parse_grid,
    slerp,
    walk,
)
from stylegen.latent.ws import ws_from_seeds


def test_slerp_against_the_textbook_formula():
    a, b = torch.randn(3, 7), torch.randn(3, 7)
    assert torch.equal(slerp(a, b, 0.0), a) and torch.equal(slerp(a, b, 1.0), b)
    t = 0.3
    for i in range(3):
        x, y = a[i].double().numpy(), b[i].double().numpy()
        om = np.arccos(x @ y / np.linalg.norm(x) / np.linalg.norm(y))
        ref = np.sin((1 - t) * om) / np.sin(om) * x + np.sin(t * om) / np.sin(om) * y
        np.testing.assert_allclose(slerp(a[i], b[i], t).numpy(), ref, rtol=1e-5, atol=1e-6)
    u, v = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    mid = slerp(u, v, 0.5)
    assert torch.allclose(mid, torch.tensor([0.5**0.5, 0.5**0.5]))  # stays on the circle
    assert torch.allclose(slerp(u, u * 2, 0.5), u * 1.5)  # parallel: plain lerp
    assert torch.equal(lerp(a, b, 0.0), a) and torch.equal(lerp(a, b, 1.0), b)
    assert torch.allclose(lerp(a, b, 0.25), a + 0.25 * (b - a))


def test_walks_stay_on_the_latents_device():
    # The keys of a w-space walk come off the mapping on the caller's device (a GPU): the
    # frame weights must be made there too. "meta" stands in for the GPU: mixing it with a CPU
    # tensor raises as CUDA does.
    keys = torch.randn(3, 5, device="meta")
    for fn in (lerp, slerp):
        assert fn(keys[0], keys[1], torch.tensor([0.25])).device.type == "meta"
        assert fn(keys[0], keys[1], 0.5).device.type == "meta"
    assert walk(keys, 7, False, "w").device.type == "meta"
    assert walk(keys, 7, True, "z").shape == (7, 5)


def test_frame_positions():
    assert frame_positions(3, 5, loop=False) == [
        (0, 1, 0.0),
        (0, 1, 0.5),
        (1, 2, 0.0),
        (1, 2, 0.5),
        (1, 2, 1.0),
    ]
    assert frame_positions(2, 4, loop=True) == [
        (0, 1, 0.0),
        (0, 1, 0.5),
        (1, 0, 0.0),
        (1, 0, 0.5),
    ]


@pytest.mark.parametrize("space", ["z", "w"])
def test_walk_endpoints_and_keyframes_equal_the_seeds(G2, space):
    seeds = [0, 1, 2]
    ws = interpolation_ws(G2, seeds, 9, space=space, truncation_psi=0.7)
    ref = ws_from_seeds(G2, seeds, truncation_psi=0.7)
    for frame, k in [(0, 0), (4, 1), (8, 2)]:
        assert torch.allclose(ws[frame], ref[k], atol=1e-6)
    assert not torch.allclose(ws[2], ref[0])
    frames = interpolation_frames(G2, seeds, 9, space=space, truncation_psi=0.7)
    images = generate_images(G2, seeds, truncation_psi=0.7)
    assert frames.shape == (9, 3, 16, 16)
    assert (frames[[0, 4, 8]].int() - images.int()).abs().max() <= 1


def test_loop_returns_towards_the_start(G2):
    ws = interpolation_ws(G2, [0, 1], 6, space="w", loop=True)
    ref = ws_from_seeds(G2, [0, 1])
    assert torch.allclose(ws[0], ref[0]) and torch.allclose(ws[3], ref[1])
    assert torch.allclose(ws[5], lerp(ref[1], ref[0], 2 / 3), atol=1e-6)


def test_grid_of_independent_walks(G2):
    frames = interpolation_frames(G2, [0, 1, 2, 3, 4, 5, 6, 7], 3, grid="2x2")
    assert frames.shape == (3, 3, 32, 32)
    cell = interpolation_frames(G2, [6, 7], 3)  # the bottom-right cell
    assert (frames[:, :, 16:, 16:].int() - cell.int()).abs().max() <= 1


def test_class_walk_on_a_conditional_network(G2c):
    frames = interpolation_frames(G2c, [5], 5, space="z", classes=[0, 2])
    a = generate_images(G2c, [5], class_idx=0)
    b = generate_images(G2c, [5], class_idx=2)
    assert (frames[0].int() - a[0].int()).abs().max() <= 1
    assert (frames[-1].int() - b[0].int()).abs().max() <= 1
    ws = interpolation_ws(G2c, [1, 2], 3, space="w", classes=[1, 2])
    ref = torch.cat([ws_from_seeds(G2c, [1], class_idx=1), ws_from_seeds(G2c, [2], class_idx=2)])
    assert torch.allclose(ws[[0, 2]], ref, atol=1e-6)


def test_bad_input(G2, G2c):
    with pytest.raises(UserError, match=r"--space 'x' is unknown; use z or w"):
        interpolation_ws(G2, [0, 1], 4, space="x")
    with pytest.raises(UserError, match="--class 1 given but the network is unconditional"):
        interpolation_ws(G2, [0, 1], 4, classes=[1])
    with pytest.raises(UserError, match="give one seed"):
        interpolation_ws(G2c, [0, 1, 2], 4, classes=[0, 1])
    with pytest.raises(UserError, match="at least 2 keyframes"):
        interpolation_ws(G2, [0], 4)
    with pytest.raises(UserError, match="--frames 1 is too few"):
        interpolation_ws(G2, [0, 1], 1)
    with pytest.raises(UserError, match="--grid 2x2 needs a multiple of 4 seeds"):
        interpolation_frames(G2, [0, 1, 2, 3, 4, 5], 4, grid="2x2")
    with pytest.raises(UserError, match="--grid 'two' is malformed"):
        parse_grid("two")
    with pytest.raises(UserError, match="at least one row"):
        parse_grid("0x2")


def test_gif_and_mp4_writers(tmp_path):
    frames = torch.randint(0, 255, (4, 1, 16, 24), dtype=torch.uint8)
    gif = video.write_video(frames, tmp_path / "a.gif", fps=10, scale=2)
    with Image.open(gif) as im:
        assert im.n_frames == 4 and im.size == (48, 32)
    if not video.mp4_available():
        pytest.skip("imageio-ffmpeg is not installed")
    mp4 = video.write_video(frames, tmp_path / "a.mp4", fps=10)
    assert mp4.stat().st_size > 0 and mp4.read_bytes()[4:8] == b"ftyp"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.gif", "a.mp4"]
    # the mode a plain open() gives, as for the GIF (a temporary file's own is 0600)
    assert stat.S_IMODE(mp4.stat().st_mode) == 0o666 & ~current_umask()
    assert stat.S_IMODE(mp4.stat().st_mode) == stat.S_IMODE(gif.stat().st_mode)


def test_video_errors(tmp_path, monkeypatch):
    with pytest.raises(UserError, match=r"unknown video type .avi; use .mp4 or .gif"):
        video.check_video_path(tmp_path / "a.avi")
    monkeypatch.setattr(video, "mp4_available", lambda: False)
    with pytest.raises(UserError, match="no MP4 encoder is installed; pip install imageio-ffmpeg"):
        video.write_video(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), tmp_path / "a.mp4")
    assert list(tmp_path.iterdir()) == []
