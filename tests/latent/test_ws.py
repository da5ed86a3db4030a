"""The ws file: round trip, shape checks, official .npz, rendering with saved noise."""

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from stylegen.errors import UserError
from stylegen.generate import generate_images
from stylegen.images import float_to_uint8
from stylegen.latent.noise import (
    noise_inputs,
    noise_regularization,
    noise_shapes,
    normalize_noise_,
    random_noise,
)
from stylegen.latent.ws import (
    check_space,
    load_ws,
    render_ws,
    render_ws_file,
    save_ws,
    ws_from_seeds,
)


def test_ws_from_seeds_renders_like_generate(G2):
    ws = ws_from_seeds(G2, [3, 4], truncation_psi=0.7)
    assert ws.shape == (2, G2.num_ws, G2.w_dim)
    ref = generate_images(G2, [3, 4], truncation_psi=0.7)
    assert (render_ws(G2, ws).int() - ref.int()).abs().max() <= 1


def test_round_trip_with_noise_and_metadata(G2, tmp_path):
    ws = torch.randn(2, G2.num_ws, G2.w_dim)
    noise = random_noise(G2, 2, torch.Generator().manual_seed(0))
    path = save_ws(
        tmp_path / "a.safetensors", ws, space="w+", network="net", noise=noise, info={"k": 1}
    )
    lat = load_ws(path, G2)
    assert torch.equal(lat.ws, ws) and lat.space == "w+" and lat.network == "net"
    assert lat.info == {"k": 1}
    assert set(lat.noise) == set(noise_shapes(G2))
    assert all(torch.equal(lat.noise[k], noise[k]) for k in noise)
    assert [p.name for p in tmp_path.iterdir()] == ["a.safetensors"]  # no temp files left
    assert torch.equal(render_ws_file(G2, path), render_ws(G2, ws, noise=noise))


def test_rendering_with_saved_noise_uses_it(G2):
    ws = ws_from_seeds(G2, [0, 1])
    noise = random_noise(G2, 2, torch.Generator().manual_seed(5))
    got = render_ws(G2, ws, noise=noise, batch_size=1)
    # Plain reference: overwrite each layer's constant noise buffer, one sample at a time.
    for i in range(2):
        saved = {}
        for name in noise:
            layer = G2.synthesis.get_submodule(name.rsplit(".", 1)[0])
            saved[name] = layer.noise_const.clone()
            layer.noise_const.copy_(noise[name][i, 0])
        ref = float_to_uint8(G2.synthesis(ws[i : i + 1], noise_mode="const"))[0]
        for name in noise:
            G2.synthesis.get_submodule(name.rsplit(".", 1)[0]).noise_const.copy_(saved[name])
        assert torch.equal(got[i], ref)
    assert not torch.equal(got, render_ws(G2, ws))  # the network's own noise differs
    with noise_inputs(G2, noise):
        pass
    assert all(b.ndim == 2 for n, b in G2.synthesis.named_buffers() if n.endswith("noise_const"))


def test_noise_regularization_and_normalisation_match_plain_formulas():
    noise = {"a": torch.randn(2, 1, 16, 16), "b": torch.randn(2, 1, 4, 4)}
    reg = noise_regularization(noise)
    for i in range(2):
        ref = 0.0
        for v in noise.values():
            x = v[i, 0].double()
            while True:
                ref += float((x * torch.roll(x, 1, 1)).mean()) ** 2
                ref += float((x * torch.roll(x, 1, 0)).mean()) ** 2
                if x.shape[0] <= 8:
                    break
                x = x.view(x.shape[0] // 2, 2, x.shape[1] // 2, 2).mean(dim=(1, 3))
        assert reg[i].item() == pytest.approx(ref, rel=1e-4)
    normalize_noise_(noise)
    for v in noise.values():
        assert torch.allclose(v.mean(dim=(1, 2, 3)), torch.zeros(2), atol=1e-6)
        assert torch.allclose(v.square().mean(dim=(1, 2, 3)), torch.ones(2), atol=1e-5)


def test_official_npz_loads(G2, tmp_path):
    w = np.random.RandomState(0).randn(1, G2.num_ws, G2.w_dim).astype(np.float32)
    np.savez(tmp_path / "projected_w.npz", w=w)
    lat = load_ws(tmp_path / "projected_w.npz", G2)
    assert np.array_equal(lat.ws.numpy(), w)


def test_wrong_shape_and_bad_files_are_one_line_errors(G2, tmp_path):
    path = save_ws(tmp_path / "a.safetensors", torch.zeros(1, 8, 32), space="w")
    with pytest.raises(UserError, match=r"shape \[1, 8, 32\] but this network takes \[N, 6, 32\]"):
        load_ws(path, G2)
    with pytest.raises(UserError, match="does not exist"):
        load_ws(tmp_path / "missing.safetensors", G2)
    (tmp_path / "junk.safetensors").write_bytes(b"not a file")
    with pytest.raises(UserError, match="not a readable safetensors"):
        load_ws(tmp_path / "junk.safetensors")
    save_file({"x": torch.zeros(1)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(UserError, match="is not a ws file"):
        load_ws(tmp_path / "other.safetensors")
    np.savez(tmp_path / "bad.npz", v=np.zeros(3))
    with pytest.raises(UserError, match="has no array 'w'"):
        load_ws(tmp_path / "bad.npz")
    with pytest.raises(UserError, match=r"--space 'q' is unknown; use w or w\+"):
        check_space("q")
    with pytest.raises(UserError, match="noise mode 'loud' is unknown"):
        render_ws(G2, torch.zeros(1, G2.num_ws, G2.w_dim), noise_mode="loud")


def test_noise_that_does_not_fit_is_dropped(G2, tmp_path):
    ws = torch.zeros(1, G2.num_ws, G2.w_dim)
    path = save_ws(
        tmp_path / "a.safetensors",
        ws,
        space="w",
        noise={"b4.conv1.noise_const": torch.zeros(1, 1, 3, 3)},
    )
    assert load_ws(path, G2).noise == {}
