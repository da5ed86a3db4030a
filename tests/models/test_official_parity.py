"""Our StyleGAN2 modules against the official PyTorch code.

* Key names, order and shapes of state_dict() equal those dumped from NVlabs/stylegan2-ada-pytorch
  and NVlabs/stylegan3 (networks_stylegan2) for several configs (tests/fixtures/*.json).
* Loading the official weights (perturbed random init, saved with the official code's outputs for
  fixed z, c) reproduces its ws, images and logits within float32 rounding.
"""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from stylegen.models import Discriminator, Generator
from stylegen.models.discriminator import DiscriminatorConfig
from stylegen.models.stylegan2 import GeneratorConfig

FIXTURES = Path(__file__).parent.parent / "fixtures"
KEYS = json.loads((FIXTURES / "official_state_dict_keys.json").read_text())


def configs_from_official(g: dict, d: dict) -> tuple[GeneratorConfig, DiscriminatorConfig]:
    gc = GeneratorConfig(
        z_dim=g["z_dim"],
        w_dim=g["w_dim"],
        c_dim=g["c_dim"],
        img_resolution=g["img_resolution"],
        img_channels=g["img_channels"],
        mapping_layers=g["mapping_kwargs"].get("num_layers", 8),
        channel_base=g["channel_base"],
        channel_max=g["channel_max"],
        architecture=g.get("architecture", "skip"),
        conv_clamp=g.get("conv_clamp"),
    )
    dc = DiscriminatorConfig(
        c_dim=d["c_dim"],
        img_resolution=d["img_resolution"],
        img_channels=d["img_channels"],
        architecture=d["architecture"],
        channel_base=d["channel_base"],
        channel_max=d["channel_max"],
        conv_clamp=d.get("conv_clamp"),
        mapping_layers=d["mapping_kwargs"].get("num_layers", 8),
        mbstd_group_size=d["epilogue_kwargs"].get("mbstd_group_size", 4),
    )
    return gc, dc


@pytest.mark.parametrize("name", sorted(KEYS))
def test_state_dict_keys_and_shapes_match_official(name):
    entry = KEYS[name]
    gc, dc = configs_from_official(entry["G_kwargs"], entry["D_kwargs"])
    G, D = Generator(gc), Discriminator(dc)
    assert G.num_ws == entry["num_ws"]
    assert [[k, list(v.shape)] for k, v in G.state_dict().items()] == entry["G"]
    assert [[k, list(v.shape)] for k, v in D.state_dict().items()] == entry["D"]


def _load_fixture(name: str):
    t = load_file(FIXTURES / f"official_{name}.safetensors")
    meta_key = f"stylegan2-ada-pytorch-{name}"
    gc, dc = configs_from_official(KEYS[meta_key]["G_kwargs"], KEYS[meta_key]["D_kwargs"])
    G, D = Generator(gc).eval(), Discriminator(dc).eval()
    G.load_state_dict({k[2:]: v for k, v in t.items() if k.startswith("G.")})
    D.load_state_dict({k[2:]: v for k, v in t.items() if k.startswith("D.")})
    return G, D, t


@pytest.mark.parametrize("name", ["tiny-cond", "orig32", "resnet32"])
@pytest.mark.parametrize("fused", [True, False])
def test_outputs_match_official(name, fused):
    G, D, t = _load_fixture(name)
    z, c = t["z"], t.get("c")
    with torch.no_grad():
        torch.testing.assert_close(G.mapping(z, c), t["out.ws"], rtol=0, atol=1e-5)
        ws = G.mapping(z, c, truncation_psi=0.7, truncation_cutoff=2)
        torch.testing.assert_close(ws, t["out.ws_psi07_cut2"], rtol=0, atol=1e-5)
        img = G(z, c, noise_mode="const", fused_modconv=fused)
        torch.testing.assert_close(img, t["out.img"], rtol=0, atol=1e-4)
        img = G(z, c, truncation_psi=0.7, noise_mode="const", fused_modconv=fused)
        torch.testing.assert_close(img, t["out.img_psi07"], rtol=0, atol=1e-4)
        torch.testing.assert_close(D(t["out.img"], c), t["out.D_img"], rtol=0, atol=1e-4)
        torch.testing.assert_close(D(t["real"], c), t["out.D_real"], rtol=0, atol=1e-4)
