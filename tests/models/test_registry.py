"""The model registry: decorator registration, look-up errors, exact-class names, build_model."""

from dataclasses import dataclass

import pytest

import stylegen.models  # noqa: F401  (registers every model class)
from stylegen.errors import UserError
from stylegen.models import registry
from stylegen.models.base import ConfiguredModule
from stylegen.models.registry import (
    build_model,
    lookup,
    name_of,
    register_model,
    registered_models,
)
from stylegen.models.stylegan2 import Generator, GeneratorConfig
from stylegen.models.stylegan3 import StyleGAN3GeneratorConfig

# The names are written into every saved config.json: they must never change.
SAVED_NAMES = [
    "stylegan2.Generator",
    "stylegan2.Discriminator",
    "stylegan3.Generator",
    "cyclegan.ResnetGenerator",
    "cyclegan.PatchDiscriminator",
    "gan.MLPGenerator",
    "gan.MLPDiscriminator",
    "dcgan.Generator",
    "dcgan.Discriminator",
    "vae.VAE",
    "progan.Generator",
    "progan.Discriminator",
    "stylegan1.Generator",
    "srcnn.SRCNN",
    "espcn.ESPCN",
]


@pytest.fixture()
def scratch_registry(monkeypatch):
    """Registrations made in a test vanish after it."""
    monkeypatch.setattr(registry, "MODEL_REGISTRY", dict(registry.MODEL_REGISTRY))


@dataclass
class _ToyConfig:
    width: int = 2


def test_the_saved_names_are_registered():
    assert sorted(registered_models()) == sorted(SAVED_NAMES)


def test_unknown_name_is_a_user_error():
    with pytest.raises(UserError, match="unknown model class 'os.system' in checkpoint; known: "):
        lookup("os.system")


def test_register_model_records_class_and_config(scratch_registry):
    @register_model("toy.Net")
    class Net(ConfiguredModule):
        config_class = _ToyConfig

        def __init__(self, config):
            super().__init__()
            self.config = config

    assert Net.registry_name == "toy.Net" and "toy.Net" in registered_models()
    assert lookup("toy.Net").cls is Net and lookup("toy.Net").config_cls is _ToyConfig
    net = build_model(_ToyConfig(3))
    assert type(net) is Net and net.config.width == 3 and name_of(net) == "toy.Net"


def test_register_model_refuses_bad_registrations(scratch_registry):
    with pytest.raises(TypeError, match="config_class"):

        @register_model("toy.NoConfig")
        class NoConfig(ConfiguredModule):
            pass

    with pytest.raises(ValueError, match="is taken"):

        @register_model("stylegan2.Generator")
        class Impostor(ConfiguredModule):
            config_class = _ToyConfig

    with pytest.raises(ValueError, match="already describes"):

        @register_model("toy.SameConfig")
        class SameConfig(ConfiguredModule):
            config_class = GeneratorConfig


def test_a_subclass_is_not_its_parent(scratch_registry):
    class Tweaked(Generator):
        pass

    model = Tweaked(GeneratorConfig(z_dim=4, w_dim=4, img_resolution=4, channel_base=16))
    with pytest.raises(TypeError, match="not a registered model class"):
        name_of(model)


def test_build_model_picks_the_class_of_the_config():
    cfg = dict(z_dim=4, w_dim=4, img_resolution=8, channel_base=64, channel_max=8)
    assert name_of(build_model(GeneratorConfig(**cfg))) == "stylegan2.Generator"
    sg3 = StyleGAN3GeneratorConfig(**cfg, num_layers=2, num_critical=1, mapping_layers=1)
    assert name_of(build_model(sg3)) == "stylegan3.Generator"
    with pytest.raises(TypeError, match="no model is registered for _ToyConfig"):
        build_model(_ToyConfig())
