"""Checking a device name before any work: `check_device("cuda:3")` returns a torch.device or
raises a UserError naming the device and the devices this machine has.

The commands (train, generate, metrics, translate, video, cyclegan, demo) call it first thing, and
the library entry points that take a device (checkpoint.load, training start/resume) call it too,
so that `--device cuda` on a machine without a GPU is one line, not a traceback from deep inside
PyTorch. No CUDA work happens at import.
"""

from __future__ import annotations

import logging

import torch

from stylegen.errors import UserError

__all__ = ["available_devices", "check_device", "prepare_for_training"]

log = logging.getLogger(__name__)


def _cuda_count() -> int:
    try:
        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except (RuntimeError, AssertionError):  # a broken driver counts as no GPU
        return 0


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    try:
        return bool(mps is not None and mps.is_available())
    except (RuntimeError, AttributeError):
        return False


def available_devices() -> list[str]:
    """The device names this machine can run on, e.g. ['cpu', 'cuda', 'cuda:0', 'cuda:1']."""
    names = ["cpu"]
    count = _cuda_count()
    if count:
        names += ["cuda"] + [f"cuda:{i}" for i in range(count)]
    if _mps_available():
        names.append("mps")
    return names


def _available_text() -> str:
    return "available here: " + ", ".join(available_devices())


def check_device(name: str | torch.device) -> torch.device:
    """`name` as a torch.device when this machine has it; otherwise a UserError in one line that
    names the device and what is available (cpu, cuda and cuda:N for each visible GPU, mps)."""
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError, ValueError):
        raise UserError(
            f"unknown device {str(name)!r}; {_available_text()} (e.g. --device cpu)"
        ) from None
    if device.type == "cpu":
        return device
    if device.type == "cuda":
        count = _cuda_count()
        if count == 0:
            raise UserError(
                f"device {str(name)!r} is not available: no CUDA GPU is visible to PyTorch "
                f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'no'}); "
                f"{_available_text()}"
            )
        if device.index is not None and device.index >= count:
            raise UserError(
                f"device {str(name)!r} does not exist: this machine has {count} CUDA GPU(s) "
                f"(cuda:0 to cuda:{count - 1}); {_available_text()}"
            )
        return device
    if device.type == "mps":
        if not _mps_available():
            raise UserError(
                f"device {str(name)!r} is not available: Apple's MPS backend is not usable "
                f"here; {_available_text()}"
            )
        if device.index not in (None, 0):
            raise UserError(f"device {str(name)!r} does not exist; {_available_text()}")
        return device
    raise UserError(f"device {str(name)!r} is not supported by stylegen; {_available_text()}")


def prepare_for_training(device: torch.device) -> None:
    """Process-wide CUDA settings for training on `device`, as the official StyleGAN2-ADA and
    StyleGAN3 training loops set them: cuDNN times its convolution algorithms once per shape
    (a training run repeats the same shapes), and float32 stays float32 (TF32 off for cuDNN,
    whose default is on, and for cuBLAS), so "fp32" means the same maths on every device;
    `--precision mixed` is the fast option. Nothing changes on other devices."""
    if device.type != "cuda":
        return
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    log.info("CUDA: cuDNN autotuning on, TF32 off (float32 convolutions and matmuls)")
