"""Official-format .pkl snapshots -> our modules: identical outputs, kwargs translation, the
`stylegen convert` command, `stylegen.load("x.pkl")`, `generate --network x.pkl`, bad input.

The snapshots are built at test time from our own modules with the official file structure
(tests/interop/official_pickles.py); test_nvlabs_official_live.py compares against the official
code itself when it is available.
"""

import json
import pickle

import numpy as np
import pytest
import torch

import stylegen
from stylegen.checkpoint import load as load_checkpoint
from stylegen.commands import main
from stylegen.errors import UserError
from stylegen.interop import nvlabs
from stylegen.models import Discriminator, Generator
from stylegen.models.discriminator import DiscriminatorConfig
from stylegen.models.stylegan2 import GeneratorConfig
from tests.interop.official_pickles import (
    EasyDict,
    Persistent,
    network_record,
    perturbed,
    record_of,
    snapshot_dict,
    write_pickle,
)

TINY = dict(z_dim=16, w_dim=16, mapping_layers=2, channel_base=128, channel_max=16)
TINY_D = dict(channel_base=128, channel_max=16, mapping_layers=2)

CASES = {
    # name: (G overrides, D overrides, c_dim, resolution)
    "uncond-skip": (dict(architecture="skip"), dict(architecture="resnet"), 0, 8),
    "cond-resnet": (dict(architecture="resnet", conv_clamp=None), dict(architecture="skip"), 3, 8),
    "uncond-orig-nonoise": (
        dict(architecture="orig", use_noise=False, w_avg_beta=0.99),
        dict(architecture="orig", mbstd_group_size=2, conv_clamp=None),
        0,
        8,
    ),
}


def build_networks(case: str):
    g_over, d_over, c_dim, res = CASES[case]
    common = dict(c_dim=c_dim, img_resolution=res, img_channels=3)
    G = Generator(GeneratorConfig(**{**TINY, **g_over, **common}))
    D = Discriminator(DiscriminatorConfig(**{**TINY_D, **d_over, **common}))
    return perturbed(G, 1), perturbed(G, 2), perturbed(D, 3)


def inputs(G, n=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn([n, G.z_dim], generator=gen)
    c = torch.eye(G.c_dim)[torch.arange(n) % G.c_dim] if G.c_dim else None
    real = torch.rand([n, G.img_channels, G.img_resolution, G.img_resolution], generator=gen)
    return z, c, real * 2 - 1


def assert_same_outputs(ours, theirs, D_ours=None, D_theirs=None):
    z, c, real = inputs(ours)
    with torch.no_grad():
        for psi in (1.0, 0.7):
            a = ours(z, c, truncation_psi=psi, noise_mode="const")
            b = theirs(z, c, truncation_psi=psi, noise_mode="const")
            assert (a - b).abs().max() <= 1e-4
        if D_ours is not None:
            assert (D_ours(real, c) - D_theirs(real, c)).abs().max() <= 1e-4


def _make_snapshot(case, flavour, tmp_path_factory):
    G, G_ema, D = build_networks(case)
    omit = case != "uncond-skip"  # also rely on each flavour's defaults for some settings
    snap = snapshot_dict(
        dict(G=G, D=D, G_ema=G_ema),
        flavour=flavour,
        omit_defaults=omit,
        resolution=G.img_resolution,
        use_labels=G.c_dim > 0,
    )
    # stylegan2-ada-pytorch asked for Python 3.7, whose pickle protocol is 3; newer Pythons use 4.
    protocol = 3 if flavour == "ada" else 4
    path = tmp_path_factory.mktemp("snap") / "network-snapshot-000100.pkl"
    write_pickle(snap, path, protocol=protocol)
    return path, G, G_ema, D


@pytest.fixture(scope="module", params=[(c, f) for c in CASES for f in ("ada", "sg3")])
def snapshot(request, tmp_path_factory):
    """Every case in both official layouts."""
    return _make_snapshot(*request.param, tmp_path_factory)


@pytest.fixture(scope="module", params=[("cond-resnet", "ada"), ("uncond-skip", "sg3")])
def cli_snapshot(request, tmp_path_factory):
    """Fewer cases for the slower end-to-end tests."""
    return _make_snapshot(*request.param, tmp_path_factory)


def test_networks_equal_ours(snapshot):
    path, G, G_ema, D = snapshot
    snap = nvlabs.read_snapshot(path)
    assert sorted(snap.networks) == ["D", "G", "G_ema"]
    got = {name: snap.build(name) for name in ("G_ema", "G", "D")}
    assert got["G_ema"].config == G_ema.config  # every setting translated, defaults resolved
    assert got["D"].config == D.config
    for name, ref in [("G_ema", G_ema), ("G", G), ("D", D)]:
        for k, v in ref.state_dict().items():
            assert torch.equal(got[name].state_dict()[k], v), (name, k)
    assert_same_outputs(G_ema, got["G_ema"], D, got["D"])
    assert_same_outputs(G, got["G"])
    # G and G_ema really are different networks, so picking the wrong one would be caught.
    z, c, _ = inputs(G)
    with torch.no_grad():
        assert (G(z, c, noise_mode="const") - G_ema(z, c, noise_mode="const")).abs().max() > 0.01


def test_training_set_metadata(snapshot):
    path, G, _, _ = snapshot
    snap = nvlabs.read_snapshot(path)
    assert snap.resolution == G.img_resolution
    assert snap.c_dim == G.c_dim
    meta = snap.build("G_ema").checkpoint_metadata
    assert meta["training_set"]["use_labels"] == (G.c_dim > 0)
    assert meta["official_kind"] == "stylegan2.Generator"
    assert meta["labels"] == (G.c_dim > 0) and meta["resolution"] == G.img_resolution
    json.dumps(meta)  # it goes into config.json


def test_load_pkl_returns_g_ema_by_default(cli_snapshot):
    path, G, G_ema, D = cli_snapshot
    assert_same_outputs(G_ema, stylegen.load(path))
    assert_same_outputs(G, stylegen.load(str(path), which="G"))
    assert isinstance(stylegen.load(path, which="D"), Discriminator)
    with pytest.raises(UserError, match="unknown network 'H'"):
        stylegen.load(path, which="H")


def test_convert_all_writes_three_checkpoints(cli_snapshot, tmp_path, capsys):
    path, G, G_ema, D = cli_snapshot
    out = tmp_path / "converted"
    assert main(["convert", str(path), str(out), "--which", "all"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["D", "G", "G_ema"]
    assert_same_outputs(G_ema, load_checkpoint(out / "G_ema"), D, load_checkpoint(out / "D"))
    assert_same_outputs(G, load_checkpoint(out / "G"))
    doc = json.loads((out / "G_ema" / "config.json").read_text())
    assert doc["metadata"]["network"] == "G_ema" and doc["metadata"]["snapshot"] == str(path)
    assert "wrote" in capsys.readouterr().out
    # Running it again replaces the earlier output (it is ours), atomically.
    assert main(["convert", str(path), str(out), "--which", "all"]) == 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_convert_single_network_and_generate(cli_snapshot, tmp_path):
    path, G, G_ema, D = cli_snapshot
    out = tmp_path / "g"
    assert main(["convert", str(path), str(out), "--which", "G"]) == 0
    assert_same_outputs(G, load_checkpoint(out))
    assert main(["convert", str(path), str(out)]) == 0  # default G_ema replaces it
    assert_same_outputs(G_ema, load_checkpoint(out))
    args = ["generate", "--network", str(path), "--seeds", "0-1", "--outdir", str(tmp_path / "i")]
    if G.c_dim:
        args += ["--class", "1"]
    assert main(args) == 0
    assert sorted(p.name for p in (tmp_path / "i").iterdir()) == ["seed0000.png", "seed0001.png"]


# ---------------------------------------------------------------------------------------------
# kwargs translation


@pytest.fixture(scope="module")
def tiny():
    G, G_ema, D = build_networks("cond-resnet")
    return G, D


def _write(tmp_path, snap, name="s.pkl"):
    return write_pickle(snap, tmp_path / name)


def test_unknown_kwarg_is_an_error(tiny, tmp_path):
    G, D = tiny
    rec = network_record(G, "ada")
    rec.state["_init_kwargs"]["synthesis_kwargs"]["magnitude_ema_beta"] = 0.5
    path = _write(tmp_path, snapshot_dict(dict(G_ema=rec)))
    with pytest.raises(UserError, match="unknown init kwarg.*magnitude_ema_beta"):
        nvlabs.load_network(path)
    rec = network_record(D, "sg3")
    rec.state["_init_kwargs"]["epilogue_kwargs"]["mbstd_mode"] = 1
    path = _write(tmp_path, snapshot_dict(dict(D=rec)), "d.pkl")
    with pytest.raises(UserError, match="unknown init kwarg.*mbstd_mode"):
        nvlabs.load_network(path, which="D")


@pytest.mark.parametrize(
    "where,name,value",
    [
        ("mapping_kwargs", "activation", "relu"),
        ("synthesis_kwargs", "resample_filter", [1, 2, 1]),
        ("mapping_kwargs", "layer_features", 7),
        ("mapping_kwargs", "w_avg_beta", None),
    ],
)
def test_kwargs_that_change_the_network_must_be_ones_we_implement(
    tiny, tmp_path, where, name, value
):
    G, _ = tiny
    rec = network_record(G, "ada")
    rec.state["_init_kwargs"][where][name] = value
    path = _write(tmp_path, snapshot_dict(dict(G_ema=rec)))
    with pytest.raises(UserError, match=name):
        nvlabs.load_network(path)


def test_inference_irrelevant_kwargs_are_accepted(tiny, tmp_path):
    G, D = tiny
    g = network_record(G, "sg3")
    g.state["_init_kwargs"].update(fp16_channels_last=True, num_fp16_res=4, activation="lrelu")
    g.state["_init_kwargs"]["mapping_kwargs"].update(lr_multiplier=0.01, embed_features=None)
    d = network_record(D, "sg3")
    d.state["_init_kwargs"]["block_kwargs"].update(freeze_layers=3, fp16_channels_last=True)
    d.state["_init_kwargs"]["mapping_kwargs"].update(lr_multiplier=0.01, activation="lrelu")
    path = _write(tmp_path, snapshot_dict(dict(G_ema=g, D=d), flavour="sg3"))
    assert nvlabs.load_network(path).config.num_fp16_res == 4
    assert_same_outputs(G, nvlabs.load_network(path), D, nvlabs.load_network(path, "D"))


def test_weights_that_do_not_match_the_kwargs_are_an_error(tiny, tmp_path):
    G, _ = tiny
    rec = network_record(G, "ada")
    rec.state["_init_kwargs"]["synthesis_kwargs"]["channel_max"] = 8
    path = _write(tmp_path, snapshot_dict(dict(G_ema=rec)))
    with pytest.raises(UserError, match="weights do not match its settings.*wrong shape"):
        nvlabs.load_network(path)


def test_numpy_values_and_a_bare_network_pickle(tiny, tmp_path):
    G, _ = tiny
    rec = network_record(G, "ada")
    rec.child("mapping").state["extra_gain"] = np.float32(0.5)  # as official attributes are
    rec.child("mapping").state["table"] = np.arange(6, dtype=np.int16).reshape(2, 3)
    path = _write(tmp_path, rec)  # `pickle.dump(G_ema)` on its own
    assert_same_outputs(G, nvlabs.load_network(path))
    snap = snapshot_dict(dict(G_ema=rec), resolution=np.int64(16))
    snap["training_set_kwargs"]["max_size"] = np.int64(7)
    read = nvlabs.read_snapshot(_write(tmp_path, snap, "np.pkl"))
    assert read.training_set["max_size"] == 7 and read.resolution == 16
    arr = read.networks["G_ema"].descendant("mapping").state["table"]
    assert np.array_equal(arr.value, np.arange(6, dtype=np.int16).reshape(2, 3))


# ---------------------------------------------------------------------------------------------
# bad input: UserError from the library, one line and exit 2 from the CLI


def _augment_pipe_as_generator() -> Persistent:
    """A known official class that is not a network we convert (an AugmentPipe)."""
    return record_of(torch.nn.Module(), {"xflip": 1}, class_name="AugmentPipe")


def _bad_files(tmp_path, tiny):
    G, D = tiny
    good = _write(tmp_path, snapshot_dict(dict(G_ema=G, D=D)), "good.pkl")
    data = good.read_bytes()
    files = {
        "not-a-pickle": (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "is not a readable pickle"),
        "text": (b"hello, I am a text file\n", "is not a readable pickle"),
        "truncated": (data[: len(data) // 2], "is truncated"),
        "empty": (b"", "is truncated"),
        "list": (pickle.dumps([1, 2, 3]), "is a pickle of a list, not an official StyleGAN"),
        "dict": (pickle.dumps({"G": 1}), "is a pickle of a dict, not an official StyleGAN"),
        "protocol2": (pickle.dumps({"G": 1}, protocol=2), "is a pickle of protocol 2"),
    }
    aug = _write(tmp_path, snapshot_dict(dict(G_ema=_augment_pipe_as_generator(), D=D)), "a.pkl")
    files["unsupported"] = (
        aug.read_bytes(),
        "G_ema in .* is a StyleGAN2-ADA augmentation pipeline, which stylegen cannot read yet "
        r"\(supported: .*StyleGAN3 generator\)",
    )
    return files


BAD = ["not-a-pickle", "text", "truncated", "empty", "list", "dict", "protocol2", "unsupported"]


@pytest.mark.parametrize("kind", BAD)
def test_bad_input_raises_user_error(tiny, tmp_path, kind):
    data, msg = _bad_files(tmp_path, tiny)[kind]
    path = tmp_path / f"{kind}.pkl"
    path.write_bytes(data)
    with pytest.raises(UserError, match=msg):
        nvlabs.load_network(path)


@pytest.mark.parametrize("kind", BAD)
def test_bad_input_cli_one_line_exit_2(tiny, tmp_path, capsys, kind):
    data, msg = _bad_files(tmp_path, tiny)[kind]
    path = tmp_path / f"{kind}.pkl"
    path.write_bytes(data)
    out = tmp_path / "out"
    assert main(["convert", str(path), str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and err.startswith("error: ")
    assert not out.exists()
    assert main(["generate", "--network", str(path), "--outdir", str(tmp_path / "g")]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_unsupported_generator_still_gives_its_discriminator(tiny, tmp_path):
    G, D = tiny
    path = _write(tmp_path, snapshot_dict(dict(G_ema=_augment_pipe_as_generator(), D=D)))
    assert nvlabs.read_snapshot(path).kind("G_ema") == "stylegan2.AugmentPipe"
    assert_same_outputs(G, G, D, nvlabs.load_network(path, which="D"))


def test_other_cli_errors(tiny, tmp_path, capsys):
    G, D = tiny
    path = _write(tmp_path, snapshot_dict(dict(G_ema=G)))
    cases = [
        (["convert", str(tmp_path / "missing.pkl"), str(tmp_path / "o")], "does not exist"),
        (["convert", str(path), str(tmp_path / "o"), "--which", "D"], "has no D network"),
    ]
    keep = tmp_path / "mine"
    keep.mkdir()
    (keep / "notes.txt").write_text("precious")
    cases.append((["convert", str(path), str(keep)], "holds other files"))
    for argv, msg in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert msg in err and err.count("\n") == 1, err
    assert (keep / "notes.txt").read_text() == "precious"
    with pytest.raises(SystemExit) as exc:
        main(["convert", str(path), str(tmp_path / "o"), "--which", "X"])
    assert exc.value.code == 2 and "invalid choice" in capsys.readouterr().err
    with pytest.raises(UserError, match="picks a network of an official .pkl"):
        load_checkpoint(G.save(tmp_path / "ck"), which="G")


def test_persistence_version_and_easydict_kwargs(tiny, tmp_path):
    G, _ = tiny
    rec = network_record(G, "ada")
    rec.meta["version"] = 5
    with pytest.raises(UserError, match="version 5"):
        nvlabs.read_snapshot(_write(tmp_path, snapshot_dict(dict(G_ema=rec))))
    rec = network_record(G, "ada")
    rec.state["_init_kwargs"] = EasyDict(rec.state["_init_kwargs"])  # EasyDict at the top works
    assert_same_outputs(G, nvlabs.load_network(_write(tmp_path, rec, "e.pkl")))


def test_kwargs_written_by_the_official_tf_converter_are_read(tmp_path):
    """NVIDIA's published .pkl files were converted from TensorFlow by the official legacy.py,
    which spells out every setting (facts from its convert_tf_generator/discriminator)."""
    G, G_ema, D = build_networks("uncond-skip")
    cg, cd = G_ema.config, D.config
    g = record_of(G_ema)
    g.state["_init_kwargs"] = dict(
        z_dim=cg.z_dim,
        c_dim=0,
        w_dim=cg.w_dim,
        img_resolution=cg.img_resolution,
        img_channels=3,
        mapping_kwargs=EasyDict(
            num_layers=cg.mapping_layers,
            embed_features=None,
            layer_features=None,
            activation="lrelu",
            lr_multiplier=0.01,
            w_avg_beta=cg.w_avg_beta,
        ),
        synthesis_kwargs=EasyDict(
            channel_base=cg.channel_base,
            channel_max=cg.channel_max,
            num_fp16_res=0,
            conv_clamp=cg.conv_clamp,
            architecture="skip",
            resample_filter=[1, 3, 3, 1],
            use_noise=True,
            activation="lrelu",
        ),
    )
    d = record_of(D)
    d.state["_init_kwargs"] = dict(
        c_dim=0,
        img_resolution=cd.img_resolution,
        img_channels=3,
        architecture="resnet",
        channel_base=cd.channel_base,
        channel_max=cd.channel_max,
        num_fp16_res=0,
        conv_clamp=cd.conv_clamp,
        cmap_dim=None,
        block_kwargs=EasyDict(activation="lrelu", resample_filter=[1, 3, 3, 1], freeze_layers=0),
        # An unconditional D has no label mapping, so these TF defaults do not matter.
        mapping_kwargs=EasyDict(
            num_layers=0,
            embed_features=None,
            layer_features=None,
            activation="lrelu",
            lr_multiplier=0.1,
        ),
        epilogue_kwargs=EasyDict(mbstd_group_size=4, mbstd_num_channels=1, activation="lrelu"),
    )
    path = _write(tmp_path, dict(G=g, D=d, G_ema=g, training_set_kwargs=None))
    assert_same_outputs(G_ema, stylegen.load(path), D, stylegen.load(path, which="D"))
    assert nvlabs.read_snapshot(path).training_set == {}
