"""Reduced precision for the highest-resolution blocks, as the official `num_fp16_res` does.

StyleGAN2-ADA (Karras et al. 2020, "Training Generative Adversarial Networks with Limited Data")
runs the synthesis and discriminator blocks at the `num_fp16_res` highest resolutions in float16
with channels-last tensors and activations clamped at `conv_clamp`, while weights, styles,
demodulation coefficients, the skip image and the epilogue stay float32. We follow the same recipe
but use bfloat16: it has float32's exponent range (no loss scaling, no overflow pre-normalisation)
and fast matrix units on current CPUs (AVX512-BF16/AMX) and GPUs.

Reduced precision is a runtime switch, off by default, so that generation and imported official
weights reproduce float32 outputs exactly; training turns it on with `--precision mixed`, or with
`--precision auto` where the device computes bfloat16 in hardware (`has_fast_bfloat16`): a CPU
without AVX512-BF16 or AMX emulates it, a matrix product 36x slower than in float32
(RESULTS.md round 9).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import torch
from torch import nn

__all__ = [
    "REDUCED_DTYPE",
    "block_dtype",
    "block_memory_format",
    "fp16_resolution",
    "has_fast_bfloat16",
    "resolve_precision",
    "set_reduced_precision",
]

REDUCED_DTYPE = torch.bfloat16
logger = logging.getLogger(__name__)

CPUINFO = Path("/proc/cpuinfo")
# CPUINFO flags of the instructions that compute bfloat16 products natively (x86, x86, ARM).
_BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})


def _cpu_flags() -> set[str] | None:
    """The CPU's feature flags from CPUINFO; None where there is no such file (not Linux)."""
    try:
        text = CPUINFO.read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):  # x86 / ARM spelling
            return set(line.partition(":")[2].split())
    return set()


def has_fast_bfloat16(device: torch.device | str) -> bool:
    """Whether `device` multiplies bfloat16 in hardware, so that `--precision mixed` pays off.

    CUDA: the GPU supports bfloat16 (Ampere and later). CPU: AVX512-BF16 or AMX on x86 (bf16 on
    ARM), from /proc/cpuinfo; elsewhere oneDNN's own bfloat16 check. Without them PyTorch emulates
    bfloat16 matrix products, which on a 2-core AVX2 EPYC ran 36x slower than float32.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    flags = _cpu_flags()
    if flags is None:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return not _BF16_CPU_FLAGS.isdisjoint(flags)


def resolve_precision(precision: str, device: torch.device | str) -> str:
    """The precision a run trains in, fp32 or mixed: "auto" is mixed where the device has fast
    bfloat16, else fp32; an explicit "mixed" on a device without it is kept, with a warning."""
    if precision == "fp32":  # nothing to decide: no device query
        return precision
    fast = has_fast_bfloat16(device)
    if precision == "auto":
        resolved = "mixed" if fast else "fp32"
        logger.info("--precision auto: %s (fast bfloat16 on %s: %s)", resolved, device, fast)
        return resolved
    if precision == "mixed" and not fast:
        logger.warning(
            "--precision mixed on %s, which has no bfloat16 hardware (AVX512-BF16/AMX): "
            "expect it to run many times slower than float32; use --precision auto or fp32",
            device,
        )
    return precision


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
