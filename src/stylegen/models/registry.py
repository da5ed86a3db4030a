"""Model registry: class name <-> (module class, config dataclass), used by checkpoint loading.

A checkpoint's config.json names its class; only classes registered here can be rebuilt, so
loading never imports or executes anything named by a file.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from stylegen.config import DiscriminatorConfig, GeneratorConfig, StyleGAN3GeneratorConfig
from stylegen.errors import UserError
from stylegen.models import progan, stylegan1, stylegan3
from stylegen.models.cyclegan import (
    PatchDiscriminator,
    PatchDiscriminatorConfig,
    ResnetGenerator,
    ResnetGeneratorConfig,
)
from stylegen.models.discriminator import Discriminator
from stylegen.models.stylegan2 import Generator

__all__ = ["MODEL_REGISTRY", "ModelEntry", "build_generator", "lookup", "name_of"]


@dataclass(frozen=True)
class ModelEntry:
    cls: type[nn.Module]
    config_cls: type


MODEL_REGISTRY: dict[str, ModelEntry] = {
    "stylegan2.Generator": ModelEntry(Generator, GeneratorConfig),
    "stylegan2.Discriminator": ModelEntry(Discriminator, DiscriminatorConfig),
    "stylegan3.Generator": ModelEntry(stylegan3.Generator, StyleGAN3GeneratorConfig),
    "cyclegan.ResnetGenerator": ModelEntry(ResnetGenerator, ResnetGeneratorConfig),
    "cyclegan.PatchDiscriminator": ModelEntry(PatchDiscriminator, PatchDiscriminatorConfig),
    "progan.Generator": ModelEntry(progan.Generator, progan.ProGANGeneratorConfig),
    "progan.Discriminator": ModelEntry(progan.Discriminator, progan.ProGANDiscriminatorConfig),
    "stylegan1.Generator": ModelEntry(stylegan1.Generator, stylegan1.StyleGAN1GeneratorConfig),
}


def lookup(name: str) -> ModelEntry:
    if name not in MODEL_REGISTRY:
        raise UserError(
            f"unknown model class {name!r} in checkpoint; known: {', '.join(MODEL_REGISTRY)} "
            "(upgrade stylegen if the checkpoint is newer)"
        )
    return MODEL_REGISTRY[name]


def name_of(model: nn.Module) -> str:
    for name, entry in MODEL_REGISTRY.items():
        if type(model) is entry.cls:
            return name
    raise TypeError(f"{type(model).__name__} is not a registered model class")


def build_generator(config: GeneratorConfig | StyleGAN3GeneratorConfig) -> nn.Module:
    """The generator class that the config dataclass describes (StyleGAN2 or StyleGAN3)."""
    for entry in MODEL_REGISTRY.values():
        if type(config) is entry.config_cls:
            return entry.cls(config)
    raise TypeError(f"no model is registered for {type(config).__name__}")
