"""Tiny StyleGAN2/3 generators for the style-control tests (built in milliseconds)."""

import dataclasses

import pytest
import torch

from stylegen.latent.perceptual import PerceptualEmbedding
from stylegen.models.registry import build_model
from stylegen.training.stylegan_config import build_configs


def tiny_generator(
    resolution: int = 16,
    channels: int = 3,
    c_dim: int = 0,
    arch: str = "stylegan2",
    noise_strength: float = 0.0,
    seed: int = 1,
    **fields,
) -> torch.nn.Module:
    """A tiny generator; `fields` override config fields (e.g. num_layers for StyleGAN3)."""
    g, _ = build_configs(
        "tiny", img_resolution=resolution, img_channels=channels, c_dim=c_dim, arch=arch
    )
    g = dataclasses.replace(g, **fields).validate()
    torch.manual_seed(seed)
    G = build_model(g).eval().requires_grad_(False)
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(noise_strength)
            # An untrained network's images overflow [-1, 1]; clipped pixels would make
            # projection targets unreachable, so scale the output layers down.
            last = name.startswith(f"synthesis.L{getattr(g, 'num_layers', -1)}_")
            if ("torgb" in name or last) and "affine" not in name:
                p.mul_(0.3)
    return G


@pytest.fixture(scope="session")
def G2():
    """StyleGAN2, 16x16 RGB, unconditional, noise inputs that matter."""
    return tiny_generator(noise_strength=0.3)


@pytest.fixture(scope="session")
def G2c():
    """StyleGAN2, 16x16 grey, 3 classes."""
    return tiny_generator(channels=1, c_dim=3)


@pytest.fixture(scope="session")
def G3():
    """StyleGAN3-T, 16x16 RGB, 4 synthesis layers (num_ws 6) to keep it fast."""
    return tiny_generator(arch="stylegan3-t", num_layers=4, num_critical=1)


class PixelEmbedding(PerceptualEmbedding):
    """A cheap stand-in for the perceptual network: the pixels themselves (distance = SSE / D),
    so projection tests check the optimisation, not Inception."""

    name = "pixels"
    description = "pixels (test stand-in)"

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("dummy", torch.zeros(1))

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        flat = img.flatten(1)
        return flat / flat.shape[1] ** 0.5


@pytest.fixture()
def pixels():
    return PixelEmbedding()


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny networks run fastest on one thread, and far faster than two on a busy machine (the
    OpenMP threads wait for each other); restore the setting afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
