"""Checkpoint round trips and every load error."""

import json

import pytest
import torch

from stylegen.checkpoint import load, save
from stylegen.errors import UserError
from stylegen.models import Discriminator, Generator
from stylegen.training.stylegan_config import build_configs


@pytest.fixture()
def tiny_g():
    g, _ = build_configs("tiny", img_resolution=8, c_dim=2)
    G = Generator(g).eval()
    G.mapping.w_avg.normal_()
    return G


def test_round_trip_gives_identical_outputs(tmp_path, tiny_g):
    tiny_g.save(tmp_path / "ck", metadata={"kimg": 3})
    G2 = load(tmp_path / "ck")
    z, c = torch.randn(3, tiny_g.z_dim), torch.eye(2)[[0, 1, 0]]
    torch.testing.assert_close(
        G2(z, c, truncation_psi=0.5, noise_mode="const"),
        tiny_g(z, c, truncation_psi=0.5, noise_mode="const"),
        rtol=0,
        atol=0,
    )
    assert G2.config == tiny_g.config and G2.checkpoint_metadata == {"kimg": 3}
    for k, v in tiny_g.state_dict().items():
        assert torch.equal(v, G2.state_dict()[k]), k


def test_discriminator_round_trip(tmp_path):
    _, d = build_configs("tiny", img_resolution=8)
    D = Discriminator(d)
    save(D, tmp_path / "d")
    img = torch.randn(4, 3, 8, 8)
    torch.testing.assert_close(load(tmp_path / "d")(img), D(img), rtol=0, atol=0)


def test_save_replaces_atomically_and_leaves_no_temp(tmp_path, tiny_g):
    tiny_g.save(tmp_path / "ck")
    tiny_g.mapping.w_avg.zero_()
    tiny_g.save(tmp_path / "ck")
    assert torch.equal(load(tmp_path / "ck").mapping.w_avg, torch.zeros(tiny_g.w_dim))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]


def test_run_folder_resolves_to_newest_snapshot(tmp_path, tiny_g):
    tiny_g.save(tmp_path / "run" / "snapshot-000001")
    tiny_g.mapping.w_avg.fill_(7)
    tiny_g.save(tmp_path / "run" / "snapshot-000002")
    assert load(tmp_path / "run").mapping.w_avg[0].item() == 7


def test_load_errors(tmp_path, tiny_g):
    with pytest.raises(UserError, match="does not exist"):
        load(tmp_path / "nope")
    pkl = tmp_path / "network-snapshot-000100.pkl"
    pkl.write_bytes(b"\x80\x04")
    with pytest.raises(UserError, match="is truncated"):  # official .pkl files load directly
        load(pkl)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="neither a checkpoint nor a run folder"):
        load(tmp_path / "empty")

    ck = tiny_g.save(tmp_path / "ck")
    weights = ck / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(UserError, match="truncated or corrupt"):
        load(ck)
    weights.unlink()
    with pytest.raises(UserError, match="model.safetensors is missing"):
        load(ck)

    ck = tiny_g.save(tmp_path / "ck2")
    doc = json.loads((ck / "config.json").read_text())
    doc["format_version"] = 99
    (ck / "config.json").write_text(json.dumps(doc))
    with pytest.raises(UserError, match="format version 99"):
        load(ck)
    doc["format_version"] = 1
    doc["model_class"] = "os.system"
    (ck / "config.json").write_text(json.dumps(doc))
    with pytest.raises(UserError, match="unknown model class 'os.system'"):
        load(ck)


def test_weights_of_another_model_are_refused(tmp_path, tiny_g):
    other, _ = build_configs("tiny", img_resolution=16)
    src = Generator(other).save(tmp_path / "other")
    ck = tiny_g.save(tmp_path / "ck")
    (ck / "model.safetensors").write_bytes((src / "model.safetensors").read_bytes())
    with pytest.raises(UserError, match="does not match stylegan2.Generator"):
        load(ck)
