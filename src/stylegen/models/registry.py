"""Model registry: class name <-> (module class, config dataclass), used by checkpoint loading.

Each model class registers itself where it is defined (timm's `@register_model` style):

    @register_model("stylegan2.Generator")
    class Generator(ConfiguredModule):
        config_class = GeneratorConfig

A checkpoint's config.json names its class by this name; only registered classes can be rebuilt,
so loading never imports or executes anything named by a file. This module imports no model:
importing `stylegen.models` imports every family, which registers them all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from torch import nn

from stylegen.errors import UserError

__all__ = [
    "MODEL_REGISTRY",
    "ModelEntry",
    "build_model",
    "lookup",
    "name_of",
    "register_model",
    "registered_models",
]

ModelClass = TypeVar("ModelClass", bound=type)


@dataclass(frozen=True)
class ModelEntry:
    cls: type[nn.Module]
    config_cls: type


# name -> entry, in registration order
MODEL_REGISTRY: dict[str, ModelEntry] = {}


def register_model(name: str) -> Callable[[ModelClass], ModelClass]:
    """Class decorator: register a model class under `name` (saved in every checkpoint's
    config.json, so never rename one) with its `config_class`, and set `cls.registry_name`."""

    def decorator(cls: ModelClass) -> ModelClass:
        config_cls = cls.__dict__.get("config_class")
        if not isinstance(config_cls, type):
            raise TypeError(f"{cls.__name__} needs a `config_class` class attribute to register")
        known = MODEL_REGISTRY.get(name)
        if known is not None and known.cls.__qualname__ != cls.__qualname__:
            raise ValueError(f"model name {name!r} is taken by {known.cls.__qualname__}")
        for other, entry in MODEL_REGISTRY.items():
            if other != name and entry.config_cls is config_cls:
                raise ValueError(f"{config_cls.__name__} already describes {other!r}")
        cls.registry_name = name
        MODEL_REGISTRY[name] = ModelEntry(cls, config_cls)
        return cls

    return decorator


def registered_models() -> list[str]:
    """Names of every registered model class (those imported so far; `stylegen.models` has all)."""
    return list(MODEL_REGISTRY)


def lookup(name: str) -> ModelEntry:
    """The class and config dataclass registered as `name`; UserError for an unknown name."""
    if name not in MODEL_REGISTRY:
        raise UserError(
            f"unknown model class {name!r} in checkpoint; known: {', '.join(MODEL_REGISTRY)} "
            "(upgrade stylegen if the checkpoint is newer)"
        )
    return MODEL_REGISTRY[name]


def name_of(model: nn.Module) -> str:
    """The registered name of `model`'s class (exactly that class, not a subclass)."""
    cls = type(model)
    name = cls.__dict__.get("registry_name")
    entry = MODEL_REGISTRY.get(name) if isinstance(name, str) else None
    if entry is None or entry.cls is not cls:
        raise TypeError(f"{cls.__name__} is not a registered model class")
    return name


def build_model(config: Any) -> nn.Module:
    """The registered model that the config dataclass describes, e.g. a StyleGAN2 or StyleGAN3
    generator for a GeneratorConfig or StyleGAN3GeneratorConfig."""
    for entry in MODEL_REGISTRY.values():
        if type(config) is entry.config_cls:
            return entry.cls(config)
    raise TypeError(f"no model is registered for {type(config).__name__}")
