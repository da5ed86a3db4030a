"""SeFa, GANSpace and class directions against plain NumPy references; the directions file."""

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from stylegen.errors import UserError
from stylegen.latent.directions import (
    class_directions,
    ganspace,
    load_directions,
    pick_direction,
    save_directions,
    sefa,
)


def _sefa_reference(G, names):
    """The matrix from the paper, written out: affine weights of the named layers, rows unit."""
    rows = [G.synthesis.get_submodule(n).affine.weight.detach().double().numpy() for n in names]
    A = np.concatenate(rows)
    A = A / np.linalg.norm(A, axis=1, keepdims=True)
    return A.T @ A


@pytest.mark.parametrize(
    "layers, names",
    [
        (None, ["b4.conv1", "b8.conv0", "b8.conv1", "b16.conv0", "b16.conv1"]),
        ("0-2", ["b4.conv1", "b8.conv0", "b8.conv1"]),
    ],
)
def test_sefa_vectors_are_orthonormal_eigenvectors_of_the_stated_matrix(G2, layers, names):
    d = sefa(G2, layers)
    V, lam = d.vectors.double().numpy(), d.values.double().numpy()
    M = _sefa_reference(G2, names)
    assert V.shape == (G2.w_dim, G2.w_dim)
    np.testing.assert_allclose(V @ V.T, np.eye(G2.w_dim), atol=1e-5)
    np.testing.assert_allclose(M @ V.T, V.T * lam, atol=1e-4)
    assert (np.diff(lam) <= 1e-6).all()  # strongest first
    np.testing.assert_allclose(lam, np.sort(np.linalg.eigvalsh(M))[::-1], rtol=1e-5, atol=1e-5)
    assert (V[np.arange(len(V)), np.abs(V).argmax(1)] > 0).all()  # sign convention


def test_sefa_on_stylegan3(G3):
    d = sefa(G3, "coarse")
    assert d.layers == [0, 1] and d.vectors.shape == (G3.w_dim, G3.w_dim)
    M = _sefa_reference(G3, [G3.synthesis.layer_names[0]])  # ws 0 is the input: only ws 1 counts
    np.testing.assert_allclose(
        M @ d.vectors.double().numpy().T,
        d.vectors.double().numpy().T * d.values.double().numpy(),
        atol=1e-4,
    )


def test_ganspace_is_pca_of_sampled_w(G2):
    d = ganspace(G2, num_samples=3000, num_components=5, seed=1)
    z = np.random.RandomState(1).randn(3000, G2.z_dim)
    w = G2.mapping(torch.from_numpy(z).float(), None)[:, 0].double().numpy()
    cov = np.cov(w, rowvar=False)
    V = d.vectors.double().numpy()
    assert V.shape == (5, G2.w_dim)
    np.testing.assert_allclose(V @ V.T, np.eye(5), atol=1e-5)
    np.testing.assert_allclose(cov @ V.T, V.T * d.values.double().numpy() ** 2, atol=1e-4)
    np.testing.assert_allclose(d.values.numpy() ** 2, np.linalg.eigvalsh(cov)[::-1][:5], rtol=1e-4)
    np.testing.assert_allclose(d.mean.numpy(), w.mean(0), atol=1e-5)


def test_class_directions_are_differences_of_class_means(G2c):
    d = class_directions(G2c, num_samples=200, seed=3)
    z = torch.from_numpy(np.random.RandomState(3).randn(200, G2c.z_dim)).float()
    means = [G2c.mapping(z, torch.eye(3)[[k] * 200])[:, 0].double().mean(0) for k in range(3)]
    ref = (means[2] - means[0]).float()
    torch.testing.assert_close(pick_direction(d, 2, minus=0), ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(d.vectors.sum(0), torch.zeros(G2c.w_dim), atol=1e-5, rtol=0)


def test_file_round_trip_and_errors(G2, G2c, tmp_path):
    d = ganspace(G2, num_samples=500, num_components=3)
    path = save_directions(tmp_path / "dirs.safetensors", d)
    back = load_directions(path, G2)
    assert torch.equal(back.vectors, d.vectors) and torch.equal(back.mean, d.mean)
    assert back.method == "ganspace" and back.labels == ["pc 0", "pc 1", "pc 2"]
    other = save_directions(tmp_path / "o.safetensors", sefa(G2))
    other_net = type(G2)(type(G2.config)(**{**G2.config.__dict__, "w_dim": 16}))
    with pytest.raises(UserError, match=r"shape \[32, 32\] but this network's w has 16"):
        load_directions(other, other_net)
    with pytest.raises(UserError, match="does not exist"):
        load_directions(tmp_path / "nope.safetensors")
    save_file({"x": torch.zeros(1)}, str(tmp_path / "x.safetensors"))
    with pytest.raises(UserError, match="is not a directions file"):
        load_directions(tmp_path / "x.safetensors")
    with pytest.raises(UserError, match="--index 3 is out of range; the file holds directions 0-2"):
        pick_direction(d, 3)
    with pytest.raises(UserError, match="--from-class needs class directions"):
        pick_direction(d, 0, minus=1)
    with pytest.raises(UserError, match="class directions need a conditional network"):
        class_directions(G2)
    with pytest.raises(UserError, match="--class 0 given but the network is unconditional"):
        ganspace(G2, num_samples=10, class_idx=0)
    with pytest.raises(UserError, match="--components 99 must lie in 1-32"):
        ganspace(G2, num_components=99)
    with pytest.raises(UserError, match="index 9 is out of range"):
        sefa(G2, "9")
