"""Config helpers shared by every family: dataclass <-> JSON and the validation helpers.

Every checkpoint stores its model config as JSON, so a checkpoint alone rebuilds its model. The
network config dataclasses live beside their networks (models/stylegan2.py, discriminator.py,
stylegan3.py, cyclegan.py); training configs and named presets live with their training family
(training/stylegan_config.py, training/cyclegan_config.py). This module imports no torch.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from stylegen.errors import UserError

# torch.distributed backends a training run may ask for ("auto": NCCL on CUDA, gloo on CPU).
DIST_BACKENDS = ("auto", "gloo", "nccl")


def check_resolution(resolution: int) -> None:
    """UserError unless `resolution` is a power of two >= 4."""
    if not isinstance(resolution, int) or resolution < 4 or resolution & (resolution - 1):
        raise UserError(
            f"resolution {resolution!r} is not a power of two >= 4; "
            "resize the data with `stylegen dataset --resolution 64` (or 32, 128, ...)"
        )


def check_choice(what: str, value: str, choices: tuple[str, ...]) -> None:
    """UserError naming the choices unless `value` is one of them."""
    if value not in choices:
        raise UserError(f"unknown {what} {value!r}; choose one of: {', '.join(choices)}")


def check_number(
    name: str,
    value: Any,
    *,
    integer: bool = False,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    optional: bool = False,
) -> None:
    """Refuse a setting that is not a finite number in [low, high] (or (low, high] with
    low_open), naming it; integer=True also refuses non-integers. NaN and infinities always fail
    (NaN compares False with everything, so a plain `< 0` check lets it through), and a bool is
    never a number here. `name` is how the user wrote it, e.g. "--kimg"."""
    if value is None and optional:
        return
    kind = "an integer" if integer else "a number"
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type:
        raise UserError(f"{name} {value!r} must be {kind}")
    if not math.isfinite(value):
        raise UserError(f"{name} {value} must be a finite number")
    too_low = low is not None and (value <= low if low_open else value < low)
    if too_low or (high is not None and value > high):
        if low is not None and high is not None:
            bound = f"> {low} and <= {high}" if low_open else f"between {low} and {high}"
        elif low is not None:
            bound = f"> {low}" if low_open else f">= {low}"
        else:
            bound = f"<= {high}"
        raise UserError(f"{name} {value} must be {bound}")


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """A config dataclass as a JSON-ready dict."""
    return dataclasses.asdict(cfg)


def config_from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Rebuild a config dataclass, rejecting unknown keys with a clear message."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise UserError(
            f"{cls.__name__} has no field(s) {', '.join(unknown)}; "
            "the checkpoint was written by a newer stylegen: upgrade stylegen"
        )
    return cls(**data)
