"""Reduced precision for the highest-resolution blocks, as the official `num_fp16_res` does.

StyleGAN2-ADA (Karras et al. 2020, "Training Generative Adversarial Networks with Limited Data")
runs the synthesis and discriminator blocks at the `num_fp16_res` highest resolutions in float16
with channels-last tensors and activations clamped at `conv_clamp`, while weights, styles,
demodulation coefficients, the skip image and the epilogue stay float32. We follow the same recipe
but use bfloat16: it has float32's exponent range (no loss scaling, no overflow pre-normalisation)
and fast matrix units on current CPUs (AVX512-BF16/AMX) and GPUs.

Reduced precision is a runtime switch, off by default, so that generation and imported official
weights reproduce float32 outputs exactly; training turns it on with `--precision mixed`.
"""

from __future__ import annotations

import logging
import math

import torch
from torch import nn

__all__ = [
    "REDUCED_DTYPE",
    "block_dtype",
    "block_memory_format",
    "fp16_resolution",
    "set_reduced_precision",
]

REDUCED_DTYPE = torch.bfloat16
logger = logging.getLogger(__name__)


def fp16_resolution(img_resolution: int, num_fp16_res: int) -> int:
    """Lowest resolution whose blocks may run in reduced precision (never below 8, as official)."""
    return max(2 ** (int(math.log2(img_resolution)) + 1 - num_fp16_res), 8)


def set_reduced_precision(module: nn.Module, enabled: bool) -> nn.Module:
    """Turn reduced precision on/off for every block of `module` that its config marks as fp16."""
    eligible = [sub for sub in module.modules() if getattr(sub, "use_fp16", False)]
    if enabled and not eligible:
        logger.warning(
            "reduced precision requested but %s has no fp16 blocks (num_fp16_res is 0); "
            "it runs in float32",
            type(module).__name__,
        )
    for sub in eligible:
        sub.reduced_precision = bool(enabled)
    return module


def block_dtype(block: nn.Module) -> torch.dtype:
    return REDUCED_DTYPE if getattr(block, "reduced_precision", False) else torch.float32


def block_memory_format(block: nn.Module) -> torch.memory_format:
    # Channels-last suits the oneDNN/cuDNN bfloat16 convolutions; float32 stays as it always was.
    if getattr(block, "reduced_precision", False):
        return torch.channels_last
    return torch.contiguous_format
