"""The per-pixel noise inputs of a StyleGAN2 synthesis network (Karras et al. 2020), per sample.

A StyleGAN2 layer with noise adds `noise_const * noise_strength` in noise mode "const". Projection
(Karras et al. 2020, section 5 and appendix D) optimises these maps together with the latent, so
here each map can be given per sample: a tensor [N, 1, H, W] stands in for the layer's [H, W]
buffer while a block of code runs, and the network's own buffers are put back afterwards.
StyleGAN3 and networks trained without noise (`use_noise=False`) have no noise maps.

`noise_regularization` is the projector's penalty on the maps' spatial autocorrelation at every
scale down to 8x8 (official StyleGAN2 projector): it keeps the noise from encoding the image.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "NOISE_SUFFIX",
    "noise_inputs",
    "noise_regularization",
    "noise_shapes",
    "normalize_noise_",
    "random_noise",
]

NOISE_SUFFIX = "noise_const"


def noise_shapes(G: nn.Module) -> dict[str, tuple[int, int]]:
    """{buffer name in G.synthesis: (H, W)} for every constant noise map, in network order."""
    return {
        name: tuple(buf.shape)
        for name, buf in G.synthesis.named_buffers()
        if name.endswith(NOISE_SUFFIX)
    }


def random_noise(G: nn.Module, n: int, generator: torch.Generator | None = None) -> dict:
    """Fresh standard-normal maps [n, 1, H, W] for every noise input of G."""
    return {
        name: torch.randn([n, 1, h, w], generator=generator)
        for name, (h, w) in noise_shapes(G).items()
    }


@contextlib.contextmanager
def noise_inputs(G: nn.Module, noise: dict[str, torch.Tensor] | None) -> Iterator[None]:
    """Within the block, layer `name` of G.synthesis uses noise[name] ([N, 1, H, W]) as its
    constant noise map (render with noise_mode="const"); None changes nothing."""
    if not noise:
        yield
        return
    saved = []
    try:
        for name, value in noise.items():
            layer = G.synthesis.get_submodule(name.rsplit(".", 1)[0])
            saved.append((layer, layer.noise_const))
            layer.noise_const = value
        yield
    finally:
        for layer, buf in saved:
            layer.noise_const = buf


def noise_regularization(noise: dict[str, torch.Tensor]) -> torch.Tensor:
    """Per sample [N]: sum over maps and scales (halving down to 8x8) of the squared mean products
    of each map with itself shifted by one pixel horizontally and vertically."""
    total = None
    for value in noise.values():
        x = value
        while True:
            for dim in (2, 3):
                term = (x * torch.roll(x, shifts=1, dims=dim)).mean(dim=(1, 2, 3)).square()
                total = term if total is None else total + term
            if x.shape[2] <= 8:
                break
            x = F.avg_pool2d(x, kernel_size=2)
    if total is None:
        raise ValueError("no noise maps to regularise")
    return total


@torch.no_grad()
def normalize_noise_(noise: dict[str, torch.Tensor]) -> None:
    """Zero mean and unit variance per sample and map, in place."""
    for value in noise.values():
        value.sub_(value.mean(dim=(1, 2, 3), keepdim=True))
        value.mul_(value.square().mean(dim=(1, 2, 3), keepdim=True).rsqrt())
