"""Ensembles: the seed -> member mapping (deterministic, proportional to the weights), the
mixture's image for a seed is that member's own, save -> load round trip, weight averaging of
snapshots, and bad input in one line (exit 2)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from stylegen import runs
from stylegen.checkpoint import load
from stylegen.commands import main
from stylegen.ensembles import average_snapshots, write_ensemble
from stylegen.generate import generate_images, z_from_seeds
from stylegen.models.ensemble import Mixture, pick_members
from stylegen.models.gan import (
    DCGANGenerator,
    DCGANGeneratorConfig,
    MLPGenerator,
    MLPGeneratorConfig,
)


def _dcgan(seed: int, z_dim: int = 4, res: int = 16, channels: int = 1, c_dim: int = 0):
    torch.manual_seed(seed)
    cfg = DCGANGeneratorConfig(
        z_dim=z_dim, img_resolution=res, img_channels=channels, c_dim=c_dim, ngf=4
    )
    return DCGANGenerator(cfg).eval()


@pytest.fixture()
def members(tmp_path):
    """Three saved generators of one shape with different z sizes."""
    paths = []
    for i, z_dim in enumerate((4, 6, 5)):
        paths.append(_dcgan(i, z_dim).save(tmp_path / f"m{i}"))
    return paths


def test_pick_members_against_cumulative_weights():
    u = torch.tensor([0.0, 0.49, 0.5, 0.79, 0.8, 0.999])
    assert pick_members(u, [0.5, 0.3, 0.2]).tolist() == [0, 0, 1, 1, 2, 2]
    assert pick_members(u, [0, 1, 0]).tolist() == [1] * 6  # weight 0: never picked


def test_seed_to_member_is_deterministic_and_proportional(members):
    weights = [0.5, 0.3, 0.2]
    mix = Mixture([load(m) for m in members], weights)
    seeds = list(range(3000))
    which = mix.member_of(z_from_seeds(seeds, mix.z_dim))
    assert torch.equal(which, mix.member_of(z_from_seeds(seeds, mix.z_dim)))
    counts = np.bincount(which.numpy(), minlength=3) / len(seeds)
    for share, w in zip(counts, weights):
        assert abs(share - w) < 3 * np.sqrt(w * (1 - w) / len(seeds)) + 1e-9, counts


def test_a_seed_gives_its_members_own_image(members):
    mix = Mixture([load(m) for m in members], [1, 1, 1])
    seeds = list(range(12))
    images = generate_images(mix, seeds, batch_size=5)
    which = mix.member_of(z_from_seeds(seeds, mix.z_dim))
    assert set(which.tolist()) == {0, 1, 2}
    for k, member in enumerate(mix.members):
        mine = [i for i, w in enumerate(which.tolist()) if w == k]
        own = generate_images(member, [seeds[i] for i in mine])
        assert torch.equal(images[mine], own)


def test_save_load_round_trip_and_generate(members, tmp_path, capsys):
    ens = tmp_path / "ens"
    args = ["ensemble", "--members", ",".join(map(str, members)), "--weights", "0.5,0.3,0.2"]
    assert main([*args, "--out", str(ens)]) == 0
    doc = json.loads((ens / "config.json").read_text())
    assert doc["config"] == {"members": ["../m0", "../m1", "../m2"], "weights": [0.5, 0.3, 0.2]}
    assert not (ens / "model.safetensors").exists()  # members by path, no copied weights
    loaded = load(ens)
    direct = Mixture([load(m) for m in members], [0.5, 0.3, 0.2])
    seeds = list(range(20))
    assert torch.equal(generate_images(loaded, seeds), generate_images(direct, seeds))
    out = tmp_path / "out"
    cmd = ["generate", "--network", str(ens), "--seeds", "0-3", "--outdir", str(out)]
    assert main([*cmd, "--device", "cpu"]) == 0
    assert len(list(out.glob("seed*.png"))) == 4


def _run_with_snapshots(folder, nets):
    folder.mkdir()
    (folder / runs.OPTIONS_FILE).write_text("{}")
    for i, net in enumerate(nets):
        net.save(folder / runs.snapshot_name((i + 1) * 1000), metadata={"kimg": i + 1})
    return folder


def test_averaged_weights_equal_the_members_mean(tmp_path):
    nets = [_dcgan(seed) for seed in range(4)]
    run = _run_with_snapshots(tmp_path / "run", nets)
    out = average_snapshots(run, 3, tmp_path / "avg")
    avg = load(out)
    for key, value in avg.state_dict().items():
        values = [n.state_dict()[key] for n in nets[1:]]
        if value.is_floating_point():
            expected = torch.stack([v.double() for v in values]).mean(0).to(value.dtype)
            assert torch.allclose(value, expected, atol=1e-7), key
        else:
            assert torch.equal(value, values[-1]), key
    assert avg.checkpoint_metadata["kimg"] == 4
    assert len(avg.checkpoint_metadata["averaged_snapshots"]) == 3


def _one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


def test_averaging_different_architectures_is_one_line(tmp_path, capsys):
    mlp = MLPGenerator(MLPGeneratorConfig(z_dim=4, img_resolution=16, hidden=(8,)))
    run = _run_with_snapshots(tmp_path / "run", [_dcgan(0), mlp])
    assert main(["average", "--snapshots", str(run), "--last", "2", "--out", "x"]) == 2
    assert "average snapshots of one architecture" in _one_line(capsys)
    assert main(["average", "--snapshots", str(run), "--last", "3", "--out", "x"]) == 2
    assert "--last 3 but" in _one_line(capsys)


@pytest.mark.parametrize(
    "weights, message",
    [
        ("0,0,0", "must be finite, non-negative and sum to a positive number"),
        ("1,-1,1", "must be finite, non-negative"),
        ("1,2", "gives 2 weights for 3 members"),
        ("a,b,c", "malformed --weights 'a,b,c'"),
        ("nan,1,1", "must be finite"),
    ],
)
def test_bad_weights_are_one_line(members, tmp_path, capsys, weights, message):
    args = ["ensemble", "--members", ",".join(map(str, members)), "--weights", weights]
    assert main([*args, "--out", str(tmp_path / "ens")]) == 2
    assert message in _one_line(capsys)
    assert not (tmp_path / "ens").exists()


@pytest.mark.parametrize(
    "other, message",
    [
        (dict(res=32), "makes 32x32x1 but"),
        (dict(channels=3), "makes 16x16x3 but"),
        (dict(c_dim=2), "makes 16x16x1, 2 classes but"),
    ],
)
def test_members_of_different_shapes_are_one_line(members, tmp_path, capsys, other, message):
    odd = _dcgan(9, **other).save(tmp_path / "odd")
    args = ["ensemble", "--members", f"{members[0]},{odd}", "--out", str(tmp_path / "ens")]
    assert main(args) == 2
    assert message in _one_line(capsys)


def test_write_ensemble_needs_two_members(members, tmp_path):
    from stylegen.errors import UserError

    with pytest.raises(UserError, match="at least two networks"):
        write_ensemble(members[:1], [1.0], tmp_path / "ens")
