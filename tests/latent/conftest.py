"""Tiny StyleGAN2/3 generators for the style-control tests (built in milliseconds)."""

import dataclasses

import pytest
import torch

from stylegen.latent.perceptual import PerceptualEmbedding
from stylegen.models.registry import build_generator
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
    G = build_generator(g).eval().requires_grad_(False)
    if noise_strength:
        for name, p in G.named_parameters():
            if name.endswith("noise_strength"):
                p.data.fill_(noise_strength)
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
