"""Config helpers shared by every family: dataclass <-> JSON and the validation helpers.

Every checkpoint stores its model config as JSON, so a checkpoint alone rebuilds its model. The
network config dataclasses live beside their networks (models/stylegan2.py, discriminator.py,
stylegan3.py, cyclegan.py); training configs and named presets live with their training family
(training/stylegan_config.py, training/cyclegan_config.py). This module imports no torch.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
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


# Largest network sizes a config may ask for, checked in validate() before anything is allocated
# (a hostile config.json with z_dim 1e9 would otherwise try to allocate 128 GB). Every official
# StyleGAN2/2-ADA/3 config is far inside them: z_dim = w_dim = 512, channel_base <= 65536
# (StyleGAN3-R), channel_max <= 1024, mapping_layers <= 8, resolution <= 1024, 14 synthesis layers.
MAX_LATENT_DIM = 4096  # z_dim, w_dim, cmap_dim
MAX_CHANNELS = 4096  # channel_max
MAX_CHANNEL_BASE = 2**20  # channel_base (channels = min(channel_base / resolution, channel_max))
MAX_RESOLUTION = 8192
MAX_MAPPING_LAYERS = 64
MAX_HIDDEN = 65536  # an MLP layer's width (the MLP GAN's widest is 1024)
MAX_CLASS_DIM = 100_000  # c_dim: the most classes a dataset may have (data/datasets.MAX_CLASSES)


def check_network_sizes(cfg: Any) -> None:
    """Bound the sizes a network config has (any family: each bound applies to the fields that
    exist); the message states the limit. Every family's validate() calls it first."""
    bounds = {
        "z_dim": (1, MAX_LATENT_DIM),
        "w_dim": (1, MAX_LATENT_DIM),
        "c_dim": (0, MAX_CLASS_DIM),
        "img_resolution": (4, MAX_RESOLUTION),
        "img_channels": (1, 4),  # grey, RGB, RGBA
        "channel_base": (1, MAX_CHANNEL_BASE),
        "channel_max": (1, MAX_CHANNELS),
        "mapping_layers": (0, MAX_MAPPING_LAYERS),
        "num_fp16_res": (0, 32),
        "cmap_dim": (1, MAX_LATENT_DIM),
        "mbstd_group_size": (0, 4096),
        "mbstd_num_channels": (0, 4096),
        "num_layers": (1, 64),
        "num_critical": (0, 64),
        "margin_size": (0, 4096),
        "conv_kernel": (1, 31),
        "filter_size": (1, 64),
        "lrelu_upsampling": (1, 16),
        "channels": (1, MAX_CHANNELS),  # VAE
        "ngf": (1, MAX_CHANNELS),  # DCGAN
        "ndf": (1, MAX_CHANNELS),
        "truncation_cutoff": (0, 64),  # StyleGAN (2019)
    }
    for name, (low, high) in bounds.items():
        if hasattr(cfg, name):
            optional = name in ("cmap_dim", "truncation_cutoff")
            check_number(
                name, getattr(cfg, name), integer=True, low=low, high=high, optional=optional
            )
    hidden = getattr(cfg, "hidden", ())  # MLP widths
    if not isinstance(hidden, (list, tuple)) or len(hidden) > MAX_MAPPING_LAYERS:
        raise UserError(f"hidden {hidden!r} must be a list of at most {MAX_MAPPING_LAYERS} widths")
    for width in hidden:
        check_number("hidden width", width, integer=True, low=1, high=MAX_HIDDEN)
    for name in ("mapping_lr_multiplier", "first_cutoff", "first_stopband", "last_stopband_rel"):
        if hasattr(cfg, name):
            check_number(name, getattr(cfg, name), low=0, low_open=True)
    for name in ("w_avg_beta", "magnitude_ema_beta"):
        if hasattr(cfg, name):
            check_number(name, getattr(cfg, name), low=0, high=1)
    if hasattr(cfg, "output_scale"):
        check_number("output_scale", cfg.output_scale)
    check_number(
        "conv_clamp", getattr(cfg, "conv_clamp", None), low=0, low_open=True, optional=True
    )


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """A config dataclass as a JSON-ready dict."""
    return dataclasses.asdict(cfg)


def config_from_dict(
    cls: type, data: dict[str, Any], source: str | None = None, prefix: str = ""
) -> Any:
    """Rebuild a config dataclass from JSON, checking every value against its field's type.

    Unknown keys, missing required fields and values of the wrong type (a string or null for an
    int, a bool for an int or float, NaN or infinity for a float) are refused in one line naming
    `source` (the file) and `prefix` + the field, so a hostile or damaged file never reaches a
    constructor. Sizes are bounded by the config's validate(), which the models call before
    allocating anything.
    """
    where = source or cls.__name__
    if not isinstance(data, dict):
        raise UserError(f"{where}: {prefix or 'config'} must be a JSON object, got {_short(data)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise UserError(
            f"{source + ': ' if source else ''}{cls.__name__} has no field(s) "
            f"{', '.join(_key(prefix + n) for n in unknown[:5])}; "
            "the checkpoint was written by a newer stylegen: upgrade stylegen"
        )
    required = dataclasses.MISSING
    missing = [
        n
        for n, f in fields.items()
        if n not in data and f.default is required and f.default_factory is required
    ]
    if missing:
        raise UserError(f"{where}: {prefix}{missing[0]} is missing; the file is incomplete")
    hints = typing.get_type_hints(cls)
    for name, value in data.items():
        hint = hints.get(name, Any)
        if not _matches(value, hint):
            raise UserError(
                f"{where}: {prefix}{name} is {_short(value)}, but must be {_describe(hint)}; "
                "the file was edited or damaged"
            )
    return cls(**data)


def _key(name: str) -> str:
    """A JSON key for a one-line message: as is when printable and short, else quoted."""
    return name if name.isprintable() and len(name) <= 60 else repr(name[:60])


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _matches(value: Any, hint: Any) -> bool:
    """Whether a JSON value fits a field annotation: int, float, bool, str, None, X | None,
    tuple[...] / list[...] (a JSON list), dict[...], Any. bool is not an int; an int is a float."""
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, h) for h in typing.get_args(hint))
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return (
            isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        )
    if hint is str:
        return isinstance(value, str)
    if hint in (tuple, list) or origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            return False
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        if not args:
            return True
        if len(args) == 1:
            return all(_matches(v, args[0]) for v in value)
        return len(value) == len(args) and all(_matches(v, a) for v, a in zip(value, args))
    if hint is dict or origin is dict:
        return isinstance(value, dict)
    return isinstance(value, hint) if isinstance(hint, type) else True


def _describe(hint: Any) -> str:
    """A field annotation in words, for messages."""
    if hint is type(None):
        return "null"
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(_describe(h) for h in typing.get_args(hint))
    words = {
        int: "an integer",
        float: "a finite number",
        bool: "true or false",
        str: "a string",
        dict: "an object",
    }
    if hint in words:
        return words[hint]
    origin = typing.get_origin(hint)
    if hint in (tuple, list) or origin in (tuple, list):
        return "a list"
    if origin is dict:
        return "an object"
    return getattr(hint, "__name__", str(hint))
