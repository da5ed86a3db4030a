"""The super-resolution family (--arch srcnn|espcn): the sub-pixel shuffle against a plain loop,
a short run beating bicubic on smooth images, exact resume, bad input in one line."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from stylegen import runs
from stylegen.checkpoint import load
from stylegen.commands import main
from stylegen.errors import UserError
from stylegen.images import uint8_to_float
from stylegen.ops.resize import bicubic_down, bicubic_up, pixel_shuffle
from stylegen.training.families import resume
from stylegen.training.sr import train
from stylegen.training.sr_config import SRConfig, hr_patch


def test_pixel_shuffle_against_a_plain_loop():
    r, c, h, w = 3, 2, 4, 5
    x = torch.randn(2, c * r * r, h, w, generator=torch.Generator().manual_seed(0))
    out = pixel_shuffle(x, r)
    expected = torch.empty(2, c, h * r, w * r)
    for n in range(2):
        for ch in range(c):
            for y in range(h * r):
                for xx in range(w * r):
                    # the paper's PS(T)[x, y, c] = T[x // r, y // r, c r^2 + r (y mod r) + x mod r]
                    expected[n, ch, y, xx] = x[
                        n, ch * r * r + r * (y % r) + xx % r, y // r, xx // r
                    ]
    assert torch.equal(out, expected)
    assert torch.equal(out, F.pixel_shuffle(x, r))


def test_bicubic_round_trip_keeps_a_constant_image():
    img = torch.full((1, 1, 12, 12), 0.25)
    assert torch.allclose(bicubic_up(bicubic_down(img, 3), 3), img, atol=1e-6)


def _smooth_images(folder, n: int, seed: int, res: int = 32):
    """Grey images made of a few low-frequency waves: SR has structure to learn."""
    folder.mkdir()
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:res, 0:res] / res
    for i in range(n):
        img = np.zeros((res, res))
        for _ in range(3):
            fx, fy = rng.uniform(-4, 4, 2)
            img += np.sin(2 * np.pi * (fx * xx + fy * yy) + rng.uniform(0, 2 * np.pi))
        img = (img - img.min()) / (img.max() - img.min()) * 255
        Image.fromarray(img.astype(np.uint8)).save(folder / f"{i:03d}.png")
    return folder


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(4 / (a - b).square().mean()))


@pytest.mark.parametrize("arch, scale, kimg", [("espcn", 2, 0.8), ("srcnn", 3, 0.8)])
def test_a_short_run_beats_bicubic_on_smooth_images(tmp_path, arch, scale, kimg):
    data = _smooth_images(tmp_path / "train", 48, seed=0)
    held_out = _smooth_images(tmp_path / "test", 8, seed=1)
    cfg = SRConfig(
        data=str(data), outdir=str(tmp_path / "runs"), arch=arch, scale=scale, kimg=kimg, snap=100
    )
    net = load(train(cfg))
    hr = torch.stack(
        [uint8_to_float(np.array(Image.open(p))[None]) for p in sorted(held_out.iterdir())]
    )
    side = 32 // scale * scale
    hr = hr[..., :side, :side]
    lr = bicubic_down(hr, scale)
    with torch.no_grad():
        ours = _psnr(net(lr).clamp(-1, 1), hr)
    bicubic = _psnr(bicubic_up(lr, scale).clamp(-1, 1), hr)
    assert ours > bicubic + 0.3, (ours, bicubic)


def test_interrupted_and_resumed_equals_uninterrupted(tmp_path):
    base = dict(data="fashion-mnist", preset="tiny", max_size=32, snap=100, arch="espcn", scale=2)
    full = train(SRConfig(outdir=str(tmp_path / "full"), kimg=0.032, **base))
    half = train(SRConfig(outdir=str(tmp_path / "half"), kimg=0.016, **base))
    resumed = resume(half.parent, kimg=0.032)
    assert resumed.name == full.name
    a = torch.load(full / runs.STATE_FILE, weights_only=True)
    b = torch.load(resumed / runs.STATE_FILE, weights_only=True)
    for k in a["net"]:
        assert torch.equal(a["net"][k], b["net"][k]), k
    assert (resumed.parent / "losses.png").exists() and (resumed / "samples.png").exists()


def test_patch_fits_small_images():
    assert hr_patch(24, "espcn", 3, 32) == 24
    assert hr_patch(None, "espcn", 3, 32) == 30  # 51 from the paper, cut to the images
    assert hr_patch(None, "srcnn", 2, 64) == 32
    assert hr_patch(40, "srcnn", 4, 32) == 32


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--scale", "5"], "--scale 5 is not supported; use 2, 3 or 4"),
        (["--scale", "4", "--patch", "8"], "--patch 8 is too small for --scale 4"),
        (["--gamma", "1"], "--gamma does not apply to --arch espcn; leave it out"),
        (["--beta-kl", "2"], "--beta-kl does not apply to --arch espcn"),
    ],
)
def test_bad_settings_are_one_line(tmp_path, capsys, argv, message):
    args = ["train", "--arch", "espcn", "--data", "fashion-mnist", "--preset", "tiny"]
    assert main([*args, "--outdir", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())


def test_srcnn_flag_on_a_stylegan_run_is_refused(tmp_path):
    with pytest.raises(UserError, match="unknown --arch 'vdsr'"):
        SRConfig(data="x", arch="vdsr").resolved()
