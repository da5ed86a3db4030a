"""StyleGAN3 generator against the official networks_stylegan3 code, filter design, checkpoints.

Fixtures (tests/fixtures/official_sg3_*): the official generator, built with torch.manual_seed(0)
for small T/R configs at 32x32 and 64x64 (with and without labels), its biases, input affine,
w_avg and magnitude EMAs perturbed so they matter, then run on CPU: state dicts, z, c and outputs
(images, truncated ws, an image under a user transform, the EMAs after one update). The keys file
also lists state_dict keys and shapes of paper-sized official networks.
"""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import scipy.signal
import torch
from safetensors.torch import load_file

from stylegen import checkpoint
from stylegen.errors import UserError
from stylegen.models.stylegan3 import (
    Generator,
    StyleGAN3GeneratorConfig,
    design_lowpass_filter,
    input_transform,
    layer_specs,
)

FIXTURES = Path(__file__).parent.parent / "fixtures"
KEYS = json.loads((FIXTURES / "official_sg3_keys.json").read_text())
WEIGHTED = ["t32", "r32-cond", "t64-cond", "r64"]


def config_from_official(kw: dict) -> StyleGAN3GeneratorConfig:
    return StyleGAN3GeneratorConfig(
        z_dim=kw["z_dim"],
        w_dim=kw["w_dim"],
        c_dim=kw["c_dim"],
        img_resolution=kw["img_resolution"],
        img_channels=kw["img_channels"],
        mapping_layers=kw["mapping_kwargs"]["num_layers"],
        channel_base=kw["channel_base"],
        channel_max=kw["channel_max"],
        num_fp16_res=kw["num_fp16_res"],
        conv_clamp=kw["conv_clamp"],
        magnitude_ema_beta=kw["magnitude_ema_beta"],
        conv_kernel=kw.get("conv_kernel", 3),
        use_radial_filters=kw.get("use_radial_filters", False),
    )


def _official(name: str):
    entry = KEYS[name]
    G = Generator(config_from_official(entry["kwargs"]))
    t = load_file(FIXTURES / f"official_sg3_{name}.safetensors")
    return G, t


@pytest.mark.parametrize("name", sorted(KEYS))
def test_state_dict_keys_and_shapes_match_official(name):
    entry = KEYS[name]
    G = Generator(config_from_official(entry["kwargs"]))
    assert G.num_ws == entry["num_ws"]
    assert G.synthesis.layer_names == entry["layer_names"]
    assert [[k, list(v.shape)] for k, v in G.state_dict().items()] == entry["keys"]


@pytest.mark.parametrize("name", WEIGHTED)
def test_designed_filters_equal_official_buffers(name):
    G, t = _official(name)
    filters = {k: v for k, v in G.state_dict().items() if k.endswith("_filter")}
    assert filters and any(v.ndim == 2 for v in filters.values()) == name.startswith("r")
    for k, v in filters.items():
        torch.testing.assert_close(v, t[f"G.{k}"], rtol=0, atol=1e-7)


@pytest.mark.parametrize("name", WEIGHTED)
def test_outputs_match_official(name):
    G, t = _official(name)
    G.load_state_dict({k[2:]: v for k, v in t.items() if k.startswith("G.")})
    G.eval()
    z, c = t["z"], t["c"] if t["c"].shape[1] else None
    with torch.no_grad():
        torch.testing.assert_close(G.mapping(z, c), t["out.ws"], rtol=0, atol=1e-5)
        ws = G.mapping(z, c, truncation_psi=0.7, truncation_cutoff=3)
        torch.testing.assert_close(ws, t["out.ws_psi07_cut3"], rtol=0, atol=1e-5)
        torch.testing.assert_close(G(z, c), t["out.img"], rtol=0, atol=1e-4)
        if "out.img_psi05" in t:
            torch.testing.assert_close(
                G(z, c, truncation_psi=0.5), t["out.img_psi05"], rtol=0, atol=1e-4
            )
        # The official transform: inverse of translate(0.3, -0.2) @ rotate(25 deg).
        torch.testing.assert_close(input_transform((0.3, -0.2), 25.0), t["out.transform"])
        G.set_transform((0.3, -0.2), 25.0)
        torch.testing.assert_close(G(z, c), t["out.img_transformed"], rtol=0, atol=1e-4)
        G.set_transform()
        G(z, c, update_emas=True)
    torch.testing.assert_close(G.mapping.w_avg, t["out.w_avg_after"], rtol=0, atol=1e-6)
    emas = torch.stack([layer.magnitude_ema for layer in G.synthesis.layers()])
    torch.testing.assert_close(emas, t["out.magnitude_ema_after"], rtol=1e-5, atol=1e-7)


def test_checkpoint_round_trip(tmp_path):
    G, t = _official("r32-cond")
    G.load_state_dict({k[2:]: v for k, v in t.items() if k.startswith("G.")})
    G.set_transform((0.1, 0.0), 10.0)
    G.save(tmp_path / "ckpt")
    G2 = checkpoint.load(tmp_path / "ckpt")
    assert isinstance(G2, Generator) and G2.config == G.config
    z, c = t["z"], t["c"]
    with torch.no_grad():
        torch.testing.assert_close(G2(z, c), G.eval()(z, c), rtol=0, atol=0)


def test_layer_specs_follow_the_paper():
    cfg = StyleGAN3GeneratorConfig(img_resolution=256)
    specs = layer_specs(cfg)
    assert len(specs) == cfg.num_layers + 1
    cutoffs = [s.cutoff for s in specs]
    assert cutoffs[0] == 2 and all(a <= b for a, b in zip(cutoffs, cutoffs[1:]))
    # The last num_critical + 1 layers sit at the output Nyquist rate, critically sampled.
    for s in specs[-3:]:
        assert s.cutoff == pytest.approx(128) and s.sampling_rate == 256
    assert specs[-1].size == specs[-2].size == 256 and specs[0].size == 16 + 20
    assert all(s.sampling_rate >= 2 * s.cutoff for s in specs)
    assert specs[-1].channels == 3


def test_separable_filter_is_scipy_kaiser_sinc():
    f = design_lowpass_filter(12, cutoff=3.0, width=4.0, fs=16)
    want = scipy.signal.firwin(12, 3.0, width=4.0, fs=16)
    np.testing.assert_allclose(f.numpy(), want, rtol=1e-6)
    assert design_lowpass_filter(1, 3.0, 4.0, 16) is None


def test_radial_filter_is_symmetric_normalised_jinc():
    f = design_lowpass_filter(12, cutoff=3.0, width=4.0, fs=16, radial=True).double()
    assert f.shape == (12, 12)
    assert f.sum().item() == pytest.approx(1.0)
    torch.testing.assert_close(f, f.t())
    torch.testing.assert_close(f, f.flip(0))
    # Odd tap counts hit r = 0, where the jinc's limit (the cutoff) replaces 0 / 0.
    odd = design_lowpass_filter(7, cutoff=3.0, width=4.0, fs=16, radial=True)
    assert torch.isfinite(odd).all() and odd[3, 3] == odd.max()


def test_transform_translates_output_by_whole_pixels():
    """A translation of k / resolution moves the image by k pixels (up to aliasing at the
    borders, where new content enters)."""
    G, t = _official("t32")
    G.load_state_dict({k[2:]: v for k, v in t.items() if k.startswith("G.")})
    z = t["z"][:1]
    with torch.no_grad():
        ref = G(z)
        G.set_transform((2 / 32, 0.0), 0.0)
        moved = G(z)
    shifted = ref[..., :, :-2]
    assert (moved[..., :, 2:] - shifted).abs().max() < 0.2 * ref.abs().max()


@pytest.mark.parametrize("resolution", [48, 2, 100])
def test_resolutions_the_filter_design_cannot_serve(resolution):
    with pytest.raises(UserError, match=f"resolution {resolution} cannot be served"):
        StyleGAN3GeneratorConfig(img_resolution=resolution).validate()


def test_channel_base_too_small_for_resolution():
    with pytest.raises(UserError, match="channel_base 64 leaves 0 channels at resolution 128"):
        StyleGAN3GeneratorConfig(img_resolution=128, channel_base=64).validate()
    StyleGAN3GeneratorConfig(img_resolution=128, channel_base=65).validate()


def test_input_transform_rotation_direction():
    m = input_transform((0.0, 0.0), 90.0)
    # Inverse of a rotation by +90 degrees: [[0, -1], [1, 0]].
    torch.testing.assert_close(
        m[:2, :2], torch.tensor([[0.0, -1.0], [1.0, 0.0]]), atol=1e-7, rtol=0
    )
    assert math.isclose(float(m[2, 2]), 1.0)
