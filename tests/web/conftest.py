"""Tiny networks saved as checkpoints for the explorer's tests, an explorer over them, and
`stylegen serve` in a subprocess on a tiny trained run.

The networks are built at test time (milliseconds): a conditional grey StyleGAN2, an RGB
StyleGAN2 with noise inputs (projection optimises its noise maps), a StyleGAN3-T and a CycleGAN
pair. Projection uses the pixel stand-in for the perceptual network. The served run is trained
for 16 images on a folder of small generated pictures (a few seconds).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("fastapi", reason="the web extra is not installed: pip install 'stylegen[web]'")

from stylegen.models.cyclegan import ResnetGenerator, ResnetGeneratorConfig  # noqa: E402
from tests.latent.conftest import PixelEmbedding, tiny_generator  # noqa: E402
from tests.web.browser import start_server  # noqa: E402


def build_networks(root) -> dict[str, str]:
    """Save the test networks under `root`; {name: path}."""
    paths = {}
    nets = {
        "sg2c": tiny_generator(channels=1, c_dim=3),
        "sg2": tiny_generator(noise_strength=0.3),
        "sg3": tiny_generator(arch="stylegan3-t", num_layers=4, num_critical=1),
    }
    for name, G in nets.items():
        paths[name] = str(G.save(root / name))
    snap = root / "cyclegan" / "snapshot-000001"
    torch.manual_seed(3)
    for sub, direction in (("G_AB", "a2b"), ("G_BA", "b2a")):
        cfg = ResnetGeneratorConfig(
            3, 3, ngf=4, num_blocks=1, img_resolution=16, direction=direction
        )
        ResnetGenerator(cfg).eval().save(snap / sub)
    paths["cyclegan"] = str(root / "cyclegan")
    return paths


@pytest.fixture(scope="session")
def network_paths(tmp_path_factory) -> dict[str, str]:
    return build_networks(tmp_path_factory.mktemp("web-networks"))


def make_explorer(network_paths: dict[str, str]):
    """An explorer over the test networks (small direction samples, pixel perceptual stand-in)."""
    from stylegen.web.state import Explorer, load_networks

    order = ["sg2c", "sg2", "sg3", "cyclegan"]
    nets = load_networks(
        [network_paths[k] for k in order], "cpu", ganspace_samples=500, class_samples=50
    )
    return Explorer(nets, perceptual=PixelEmbedding, max_project_steps=2000)


@pytest.fixture(scope="session")
def explorer(network_paths):
    ex = make_explorer(network_paths)
    yield ex
    ex.shutdown()


@pytest.fixture(scope="session")
def client(explorer):
    from fastapi.testclient import TestClient

    from stylegen.web.app import create_app

    with TestClient(create_app(explorer)) as c:
        yield c


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny networks run fastest on one thread (and far faster than two on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def png_to_array(data: bytes) -> np.ndarray:
    """PNG bytes -> uint8 [C, H, W] as stylegen's images (L -> 1 channel, RGB -> 3)."""
    with Image.open(io.BytesIO(data)) as im:
        arr = np.asarray(im)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def png_of(img) -> bytes:
    """uint8 [C, H, W] -> PNG bytes."""
    from stylegen.images import to_pil

    buf = io.BytesIO()
    to_pil(torch.as_tensor(img)).save(buf, format="PNG")
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------
# A tiny trained run and `stylegen serve` on it, in a subprocess (the browser and server tests)


def write_shapes(folder: Path, count: int = 32, size: int = 16) -> Path:
    """`count` small RGB pictures (a coloured disc on a gradient), a dataset folder to train on."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    for i in range(count):
        c0, c1, disc = rng.uniform(0, 255, (3, 3))
        cy, cx, r = rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7), rng.uniform(0.15, 0.3)
        img = c0 * (1 - yy[..., None]) + c1 * yy[..., None]
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = disc
        Image.fromarray(img.astype(np.uint8)).save(folder / f"{i:03d}.png")
    return folder


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """A run folder of the `tiny` preset trained for 16 images on `write_shapes` (seconds)."""
    from stylegen.commands import main

    root = tmp_path_factory.mktemp("web-run")
    data = write_shapes(root / "shapes")
    threads = torch.get_num_threads()
    args = ["train", "--data", str(data), "--preset", "tiny", "--kimg", "0.016"]
    rc = main([*args, "--outdir", str(root / "runs"), "--threads", "1", "--device", "cpu"])
    torch.set_num_threads(threads)
    assert rc == 0
    (run,) = (root / "runs").iterdir()
    return run


@pytest.fixture(scope="session")
def server(trained_run, tmp_path_factory):
    """`stylegen serve --network RUN --port 0` (a free port) on the tiny trained run."""
    log = tmp_path_factory.mktemp("web-server") / "stderr.log"
    srv = start_server(["--network", str(trained_run), "--port", "0", "--threads", "1"], log)
    yield srv
    # Ctrl-C: 130 and "interrupted" when uvicorn re-raises it, 0 when its handler swallows it
    # first (it varies with timing); a clean stop either way, no traceback.
    assert srv.stop() in (0, 130), log.read_text()[-2000:]
    assert "Traceback" not in log.read_text()
