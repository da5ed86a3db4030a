"""Official-format StyleGAN3 (networks_stylegan3) snapshots -> our StyleGAN3 generator: identical
outputs for configs T and R with and without labels, defaults found on the official modules,
consistency checks (designed filters, layer frequencies), `stylegen convert` and
`stylegen generate --network x.pkl --translate/--rotate`.

The snapshots are built at test time from our own modules in the official layout
(tests/interop/official_pickles.py); test_nvlabs_official_live.py compares with the official code.
"""

import copy
import json

import numpy as np
import pytest
import torch
from PIL import Image

import stylegen
from stylegen.checkpoint import load as load_checkpoint
from stylegen.commands import main
from stylegen.errors import UserError
from stylegen.interop import nvlabs
from stylegen.models import Discriminator
from stylegen.models.discriminator import DiscriminatorConfig
from stylegen.models.stylegan3 import Generator, StyleGAN3GeneratorConfig
from tests.interop.official_pickles import (
    network_record,
    perturbed,
    snapshot_dict,
    write_pickle,
)

TINY = dict(
    z_dim=16,
    w_dim=16,
    img_resolution=16,
    mapping_layers=2,
    channel_base=64,
    channel_max=8,
    num_layers=4,
    num_critical=1,
)
CASES = {
    # name: (overrides, c_dim); "-defaults" cases leave official defaults out of the kwargs.
    "t-uncond": (dict(num_fp16_res=0, conv_clamp=None, magnitude_ema_beta=0.99), 0),
    "t-cond-defaults": (dict(), 2),
    "r-uncond-defaults": (
        dict(conv_kernel=1, use_radial_filters=True, channel_base=128, channel_max=16),
        0,
    ),
    "r-cond": (
        dict(
            conv_kernel=1,
            use_radial_filters=True,
            channel_base=128,
            channel_max=16,
            w_avg_beta=0.99,
            mapping_lr_multiplier=0.05,
            output_scale=0.5,
            margin_size=4,
        ),
        3,
    ),
}


def build(case):
    over, c_dim = CASES[case]
    G = Generator(StyleGAN3GeneratorConfig(**{**TINY, **over, "c_dim": c_dim}))
    D = Discriminator(
        DiscriminatorConfig(
            c_dim=c_dim, img_resolution=16, channel_base=128, channel_max=16, mapping_layers=2
        )
    )
    return perturbed(G, 1), perturbed(G, 2), perturbed(D, 3)


def inputs(G, n=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn([n, G.z_dim], generator=gen)
    c = torch.eye(G.c_dim)[torch.arange(n) % G.c_dim] if G.c_dim else None
    return z, c


def max_diff(ours, theirs, transform=None):
    """Largest |ours - theirs| over truncation 1 and 0.7 (and a user transform, if given)."""
    z, c = inputs(ours)
    diffs = []
    with torch.no_grad():
        for psi in (1.0, 0.7):
            a = ours(z, c, truncation_psi=psi)
            b = theirs(z, c, truncation_psi=psi)
            diffs.append((a - b).abs().max().item())
        if transform is not None:  # on copies: the fixtures are shared between tests
            ours, theirs = copy.deepcopy(ours), copy.deepcopy(theirs)
            for net in (ours, theirs):
                net.set_transform(*transform)
            diffs.append((ours(z, c) - theirs(z, c)).abs().max().item())
    return max(diffs)


@pytest.fixture(scope="module", params=sorted(CASES))
def snapshot(request, tmp_path_factory):
    case = request.param
    G, G_ema, D = build(case)
    snap = snapshot_dict(
        dict(G=G, D=D, G_ema=G_ema),
        flavour="sg3",
        omit_defaults=case.endswith("-defaults"),
        resolution=16,
        use_labels=G.c_dim > 0,
    )
    path = tmp_path_factory.mktemp("sg3") / "network-snapshot-000200.pkl"
    return write_pickle(snap, path), G, G_ema, D


def test_stylegan3_networks_equal_ours(snapshot):
    path, G, G_ema, D = snapshot
    snap = nvlabs.read_snapshot(path)
    assert snap.kind("G_ema") == snap.kind("G") == "stylegan3.Generator"
    assert snap.kind("D") == "stylegan2.Discriminator"
    got = {name: snap.build(name) for name in ("G_ema", "G", "D")}
    assert isinstance(got["G_ema"], Generator)
    assert got["G_ema"].config == G_ema.config  # every setting translated, defaults resolved
    for name, ref in [("G_ema", G_ema), ("G", G), ("D", D)]:
        ours = got[name].state_dict()
        assert sorted(ours) == sorted(ref.state_dict())
        for k, v in ref.state_dict().items():
            assert torch.equal(ours[k], v), (name, k)
    # transform, freqs, phases, magnitude_ema and w_avg were moved off their init: loaded.
    assert not torch.equal(got["G_ema"].synthesis.input.transform, torch.eye(3))
    assert max_diff(G_ema, got["G_ema"], transform=((0.1, 0.0), 10.0)) <= 1e-4
    assert max_diff(G, got["G"]) <= 1e-4
    z, c = inputs(G)
    with torch.no_grad():
        assert (G(z, c) - G_ema(z, c)).abs().max() > 0.01  # picking the wrong one is caught
    meta = got["G_ema"].checkpoint_metadata
    assert meta["official_kind"] == "stylegan3.Generator" and meta["c_dim"] == G.c_dim
    json.dumps(meta)


def test_convert_and_generate_with_translate_rotate(snapshot, tmp_path):
    path, G, G_ema, D = snapshot
    out = tmp_path / "converted"
    assert main(["convert", str(path), str(out), "--which", "all"]) == 0
    assert isinstance(load_checkpoint(out / "G_ema"), Generator)
    assert max_diff(G_ema, load_checkpoint(out / "G_ema")) <= 1e-4
    assert max_diff(G, stylegen.load(path, which="G")) <= 1e-4
    label = ["--class", "1"] if G.c_dim else []
    pngs = {}
    for name, network, extra in [
        ("pkl", path, ["--translate", "0.1,0", "--rotate", "10"]),
        ("ckpt", out / "G_ema", ["--translate", "0.1,0", "--rotate", "10"]),
        ("plain", path, []),
    ]:
        folder = tmp_path / name
        argv = ["generate", "--network", str(network), "--seeds", "3", "--outdir", str(folder)]
        assert main(argv + label + extra) == 0
        pngs[name] = np.asarray(Image.open(folder / "seed0003.png"), dtype=np.int16)
    assert np.array_equal(pngs["pkl"], pngs["ckpt"])
    assert np.abs(pngs["pkl"] - pngs["plain"]).max() > 0  # the transform did something


# ---------------------------------------------------------------------------------------------
# kwargs translation and consistency checks


@pytest.fixture(scope="module")
def tiny_r():
    G, _, _ = build("r-cond")
    return G


def _load_with(G, tmp_path, edit, omit_defaults=False):
    rec = network_record(G, "sg3", omit_defaults)
    edit(rec)
    path = write_pickle(snapshot_dict(dict(G_ema=rec), flavour="sg3"), tmp_path / "e.pkl")
    return nvlabs.load_network(path)


@pytest.mark.parametrize(
    "edit,msg",
    [
        # networks_stylegan3 has no fused_modconv_default: a stylegan2 kwarg means a foreign file.
        (
            lambda r: r.state["_init_kwargs"].update(fused_modconv_default=True),
            "unknown init kwarg",
        ),
        (lambda r: r.state["_init_kwargs"].update(sampling="cubic"), "unknown.*sampling"),
        (
            lambda r: r.state["_init_kwargs"]["mapping_kwargs"].update(embed_features=16),
            "mapping_kwargs: unknown init kwarg.*embed_features",
        ),
        # Settings that do not describe the stored layers.
        (lambda r: r.state["_init_kwargs"].update(first_stopband=2.0), "not the ones its settings"),
        (lambda r: r.state["_init_kwargs"].update(filter_size=4), "up_taps"),
        (lambda r: r.state["_init_kwargs"].update(channel_base=256), "L2_24_16.*inconsistent"),
        (
            lambda r: r.state["_init_kwargs"]["mapping_kwargs"].update(num_layers=3),
            r"weights do not match.*missing \['mapping.fc2",
        ),
        (lambda r: r.state["_init_kwargs"].update(img_resolution=12), "power of two"),
    ],
)
def test_bad_stylegan3_kwargs(tiny_r, tmp_path, edit, msg):
    with pytest.raises(UserError, match=msg):
        _load_with(tiny_r, tmp_path, edit)


def test_stored_filters_must_be_the_designed_ones(tiny_r, tmp_path):
    name = tiny_r.synthesis.layer_names[0]

    def tamper(rec):
        buffers = rec.child(f"synthesis.{name}").state["_buffers"]
        buffers["down_filter"] = buffers["down_filter"] * 1.01

    with pytest.raises(UserError, match=f"{name}.down_filter differs from the filter"):
        _load_with(tiny_r, tmp_path, tamper)

    def nan(rec):
        buffers = rec.child(f"synthesis.{name}").state["_buffers"]
        buffers["up_filter"] = buffers["up_filter"] * float("nan")

    with pytest.raises(UserError, match=f"{name}.up_filter differs from the filter"):
        _load_with(tiny_r, tmp_path, nan)
    # Within tolerance (another scipy's rounding), the stored filter is the one used, as the
    # official network would.
    stored = getattr(tiny_r.synthesis, name).down_filter + nvlabs.FILTER_TOLERANCE / 4

    def jitter(rec):
        rec.child(f"synthesis.{name}").state["_buffers"]["down_filter"] = stored

    G = _load_with(tiny_r, tmp_path, jitter)
    assert torch.equal(getattr(G.synthesis, name).down_filter, stored)


def test_settings_left_out_are_read_from_the_official_modules(tiny_r, tmp_path):
    """Without kwargs, the values the official modules stored on themselves are used."""

    def strip(rec):
        kwargs = rec.state["_init_kwargs"]
        for name in nvlabs.SG3_STORED:
            kwargs.pop(name, None)
        kwargs["mapping_kwargs"] = {"num_layers": 2}  # w_avg_beta, lr_multiplier left out

    G = _load_with(tiny_r, tmp_path, strip)
    assert G.config == tiny_r.config  # margin 4, output_scale 0.5, w_avg_beta 0.99, lr 0.05
    assert max_diff(tiny_r, G) <= 1e-4

    def contradict(rec):  # a stored attribute that disagrees with the kwargs is caught
        strip(rec)
        rec.child("synthesis.input").state["bandwidth"] = 3.0

    with pytest.raises(UserError, match="first_cutoff|bandwidth|not the ones"):
        _load_with(tiny_r, tmp_path, contradict)
