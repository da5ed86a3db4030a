"""Fixtures for metric tests: tiny in-memory datasets and a tiny TorchScript stand-in detector."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from stylegen.metrics.features import InceptionFeatures


class FakeDataset:
    """The dataset interface the metrics use: len, ds[i] -> (uint8 [C, H, W], label), shape."""

    def __init__(self, images: np.ndarray) -> None:
        self.images = images
        self.resolution = images.shape[-1]
        self.num_channels = images.shape[1]
        self.reads = 0

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        self.reads += 1
        return self.images[i], np.zeros([0], np.float32)


class TinyNet(torch.nn.Module):
    """Pools the 299x299 input to 4x4 and projects it to 16 features: cheap but input-sensitive."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.register_buffer("proj", torch.randn(48, 16, generator=g))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.nn.functional.adaptive_avg_pool2d(x, 4).flatten(1)
        return torch.relu(pooled @ self.proj)


class CountingDetector(InceptionFeatures):
    """InceptionFeatures that counts how many images it has seen."""

    calls = 0

    def __call__(self, images):  # type: ignore[override]
        self.calls += len(images)
        return super().__call__(images)


def jit_script(module: torch.nn.Module) -> torch.jit.ScriptModule:
    """torch.jit.script without torch's TorchScript deprecation warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.script(module)


def jit_save(module: torch.nn.Module, path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(jit_script(module), str(path))


def random_images(n: int, channels: int = 3, res: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(
        0, 256, size=(n, channels, res, res), dtype=np.uint8
    )


@pytest.fixture
def tiny_detector() -> CountingDetector:
    return CountingDetector(jit_script(TinyNet()), sha1="tiny0", source="test")


@pytest.fixture
def fake_dataset() -> FakeDataset:
    return FakeDataset(random_images(24))
