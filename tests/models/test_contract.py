"""The contract every registered model class keeps (after timm's tests/test_models.py and
diffusers' ModelTesterMixin): it builds from a tiny config, runs forward and backward with finite
results, its config survives JSON, it saves and loads back to the same outputs, the same seed gives
the same network, and its registry name leads back to it.

A new family registers its classes with `@register_model` and adds a tiny config per class to
`FACTORIES` below; a registered name without a factory fails here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
from torch import nn

import stylegen.models  # noqa: F401  (registers every model class)
from stylegen.checkpoint import load
from stylegen.config import config_from_dict, config_to_dict
from stylegen.models.cyclegan import PatchDiscriminatorConfig, ResnetGeneratorConfig
from stylegen.models.discriminator import DiscriminatorConfig
from stylegen.models.gan import (
    DCGANDiscriminatorConfig,
    DCGANGeneratorConfig,
    MLPDiscriminatorConfig,
    MLPGeneratorConfig,
)
from stylegen.models.progan import ProGANDiscriminatorConfig, ProGANGeneratorConfig
from stylegen.models.registry import build_model, lookup, name_of, registered_models
from stylegen.models.stylegan1 import StyleGAN1GeneratorConfig
from stylegen.models.stylegan2 import GeneratorConfig
from stylegen.models.stylegan3 import StyleGAN3GeneratorConfig
from stylegen.models.superres import ESPCNConfig, SRCNNConfig
from stylegen.models.vae import VAEConfig


@dataclass
class Case:
    """A tiny config and the inputs of one forward call (made from a seeded generator)."""

    config: Any
    inputs: Callable[[torch.Generator], tuple[torch.Tensor, ...]]
    kwargs: dict[str, Any] = field(default_factory=dict)
    method: str = "forward"  # the call under test (the VAE: reconstruct, which uses both halves)


def _labels(n: int, c_dim: int, rng: torch.Generator) -> torch.Tensor:
    return torch.eye(c_dim)[torch.randint(c_dim, (n,), generator=rng)]


def _stylegan2_generator() -> Case:
    cfg = GeneratorConfig(
        z_dim=8,
        w_dim=8,
        c_dim=2,
        img_resolution=8,
        mapping_layers=2,
        channel_base=64,
        channel_max=16,
    )
    return Case(
        cfg,
        lambda rng: (torch.randn(2, 8, generator=rng), _labels(2, 2, rng)),
        dict(noise_mode="const"),
    )


def _stylegan2_discriminator() -> Case:
    cfg = DiscriminatorConfig(
        c_dim=2,
        img_resolution=8,
        channel_base=64,
        channel_max=16,
        mapping_layers=2,
        mbstd_group_size=2,
    )
    return Case(cfg, lambda rng: (torch.randn(2, 3, 8, 8, generator=rng), _labels(2, 2, rng)))


def _stylegan3_generator() -> Case:
    cfg = StyleGAN3GeneratorConfig(
        z_dim=8,
        w_dim=8,
        img_resolution=16,
        mapping_layers=2,
        channel_base=256,
        channel_max=16,
        num_layers=4,
        num_critical=1,
        margin_size=2,
    )
    return Case(cfg, lambda rng: (torch.randn(2, 8, generator=rng),))


def _cyclegan_generator() -> Case:
    cfg = ResnetGeneratorConfig(ngf=4, num_blocks=1, img_resolution=8)
    return Case(cfg, lambda rng: (torch.rand(2, 3, 8, 8, generator=rng) * 2 - 1,))


def _cyclegan_discriminator() -> Case:
    cfg = PatchDiscriminatorConfig(ndf=4, num_layers=2)
    return Case(cfg, lambda rng: (torch.rand(2, 3, 16, 16, generator=rng) * 2 - 1,))


def _mlp_generator() -> Case:
    cfg = MLPGeneratorConfig(z_dim=4, c_dim=2, img_resolution=8, hidden=(8, 16))
    return Case(cfg, lambda rng: (torch.randn(2, 4, generator=rng), _labels(2, 2, rng)))


def _mlp_discriminator() -> Case:
    cfg = MLPDiscriminatorConfig(c_dim=2, img_resolution=8, hidden=(8, 4), cond_mode="projection")
    return Case(cfg, lambda rng: (torch.randn(2, 1, 8, 8, generator=rng), _labels(2, 2, rng)))


def _dcgan_generator() -> Case:
    cfg = DCGANGeneratorConfig(z_dim=4, c_dim=2, img_resolution=16, img_channels=3, ngf=4)
    return Case(cfg, lambda rng: (torch.randn(2, 4, generator=rng), _labels(2, 2, rng)))


def _dcgan_discriminator() -> Case:
    cfg = DCGANDiscriminatorConfig(c_dim=2, img_resolution=16, img_channels=3, ndf=4)
    return Case(cfg, lambda rng: (torch.randn(2, 3, 16, 16, generator=rng), _labels(2, 2, rng)))


def _vae() -> Case:
    cfg = VAEConfig(z_dim=4, c_dim=2, img_resolution=8, channels=4)

    def inputs(rng: torch.Generator) -> tuple[torch.Tensor, ...]:
        img = torch.rand(2, 1, 8, 8, generator=rng) * 2 - 1
        return img, _labels(2, 2, rng), torch.randn(2, 4, generator=rng)

    return Case(cfg, inputs, method="reconstruct")


# Progressive networks (ProGAN, StyleGAN 2019) at 8x8 half-way through fading in the 8x8 block
# (lod 0.5): every layer, the 4x4 toRGB / fromRGB included, takes part.
def _progan_generator() -> Case:
    cfg = ProGANGeneratorConfig(z_dim=8, c_dim=2, img_resolution=8, channel_base=64, channel_max=8)
    return Case(
        cfg, lambda rng: (torch.randn(2, 8, generator=rng), _labels(2, 2, rng)), dict(lod=0.5)
    )


def _progan_discriminator() -> Case:
    cfg = ProGANDiscriminatorConfig(
        c_dim=2, img_resolution=8, channel_base=64, channel_max=8, mbstd_group_size=2, blur=True
    )
    return Case(
        cfg,
        lambda rng: (torch.randn(2, 3, 8, 8, generator=rng), _labels(2, 2, rng)),
        dict(lod=0.5),
    )


def _stylegan1_generator() -> Case:
    cfg = StyleGAN1GeneratorConfig(
        z_dim=8,
        w_dim=8,
        c_dim=2,
        img_resolution=8,
        mapping_layers=2,
        channel_base=64,
        channel_max=8,
    )
    return Case(
        cfg,
        lambda rng: (torch.randn(2, 8, generator=rng), _labels(2, 2, rng)),
        dict(noise_mode="const", lod=0.5),
    )


# The upscalers: SRCNN as the paper (no bicubic skip), ESPCN with it; colour, small widths.
def _srcnn() -> Case:
    cfg = SRCNNConfig(scale=2, img_channels=3, n1=8, n2=4, residual=False)
    return Case(cfg, lambda rng: (torch.rand(2, 3, 6, 5, generator=rng) * 2 - 1,))


def _espcn() -> Case:
    cfg = ESPCNConfig(scale=3, img_channels=3, n1=8, n2=4)
    return Case(cfg, lambda rng: (torch.rand(2, 3, 6, 5, generator=rng) * 2 - 1,))


# registry name -> tiny case; every registered model class needs one
FACTORIES: dict[str, Callable[[], Case]] = {
    "stylegan2.Generator": _stylegan2_generator,
    "stylegan2.Discriminator": _stylegan2_discriminator,
    "stylegan3.Generator": _stylegan3_generator,
    "cyclegan.ResnetGenerator": _cyclegan_generator,
    "cyclegan.PatchDiscriminator": _cyclegan_discriminator,
    "gan.MLPGenerator": _mlp_generator,
    "gan.MLPDiscriminator": _mlp_discriminator,
    "dcgan.Generator": _dcgan_generator,
    "dcgan.Discriminator": _dcgan_discriminator,
    "vae.VAE": _vae,
    "progan.Generator": _progan_generator,
    "progan.Discriminator": _progan_discriminator,
    "stylegan1.Generator": _stylegan1_generator,
    "srcnn.SRCNN": _srcnn,
    "espcn.ESPCN": _espcn,
}


def _case(name: str) -> Case:
    assert name in FACTORIES, (
        f"registered model {name!r} has no tiny config in tests/models/test_contract.py "
        "FACTORIES; add one so the contract test covers it"
    )
    return FACTORIES[name]()


def _build(case: Case, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return build_model(case.config)


def _forward(model: nn.Module, case: Case, seed: int = 1) -> torch.Tensor:
    rng = torch.Generator().manual_seed(seed)
    return getattr(model, case.method)(*case.inputs(rng), **case.kwargs)


def test_every_known_family_is_registered():
    assert set(FACTORIES) <= set(registered_models())


@pytest.mark.parametrize("name", registered_models())
def test_registry_name_round_trips(name):
    case = _case(name)
    model = _build(case, 0)
    entry = lookup(name)
    assert type(model) is entry.cls and type(case.config) is entry.config_cls
    assert model.registry_name == name == name_of(model)
    assert type(model).config_class is entry.config_cls
    assert lookup(model.registry_name).cls is type(model)


@pytest.mark.parametrize("name", registered_models())
def test_forward_and_backward_are_finite(name):
    case = _case(name)
    model = _build(case, 0).train()
    out = _forward(model, case)
    assert torch.isfinite(out).all()
    out.float().square().mean().backward()
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert trainable
    no_grad = sorted(n for n, p in trainable.items() if p.grad is None)
    assert not no_grad, f"parameters without a gradient: {no_grad}"
    bad = sorted(n for n, p in trainable.items() if not torch.isfinite(p.grad).all())
    assert not bad, f"non-finite gradients: {bad}"


@pytest.mark.parametrize("name", registered_models())
def test_forward_and_backward_stay_on_the_models_device(name):
    # No GPU in CI: the "meta" device stands in for one. Mixing it with a CPU tensor raises as
    # CUDA does, so a constant made on the CPU inside forward or backward fails here.
    case = _case(name)
    model = _build(case, 0).train().to("meta")
    inputs = [x.to("meta") for x in case.inputs(torch.Generator().manual_seed(1))]
    out = getattr(model, case.method)(*inputs, **case.kwargs)
    assert out.device.type == "meta"
    out.float().square().mean().backward()
    assert all(p.grad.device.type == "meta" for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("name", registered_models())
def test_config_json_round_trip(name):
    case = _case(name)
    model = _build(case, 0)
    doc = json.loads(json.dumps(config_to_dict(model.config)))
    assert config_from_dict(type(model).config_class, doc) == model.config


@pytest.mark.parametrize("name", registered_models())
def test_save_then_load_gives_identical_outputs(name, tmp_path):
    case = _case(name)
    model = _build(case, 0).eval()
    with torch.no_grad():
        for p in model.parameters():  # away from the initial values, so the load must restore
            p.add_(0.01 * torch.randn_like(p))
    model.save(tmp_path / "ck", metadata={"kimg": 1})
    loaded = load(tmp_path / "ck")
    assert type(loaded) is type(model) and loaded.config == model.config
    assert loaded.checkpoint_metadata == {"kimg": 1}
    with torch.no_grad():
        assert torch.equal(_forward(loaded, case), _forward(model, case))
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key


@pytest.mark.parametrize("name", registered_models())
def test_same_seed_same_network(name):
    case = _case(name)
    a, b, c = _build(case, 0).eval(), _build(case, 0).eval(), _build(case, 1).eval()
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key]), key
    with torch.no_grad():
        assert torch.equal(_forward(a, case), _forward(b, case))
    assert any(
        not torch.equal(value, c.state_dict()[key]) for key, value in a.state_dict().items()
    ), "another seed gave the same weights"
