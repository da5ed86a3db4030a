"""Live comparison with the official NVIDIA code, when a checkout of it is available.

Set STYLEGEN_NVLABS_REPO to a local checkout of NVlabs/stylegan2-ada-pytorch or NVlabs/stylegan3
(runnable on a CPU). A subprocess with that checkout on sys.path builds official networks,
moves their weights off the init, pickles them exactly like the official training loop
(`pickle.dump` of a dict of deep copies, including a real AugmentPipe) and records their outputs
for fixed inputs with `force_fp32=True`. We read the pickle with our restricted reader and compare
images (G and G_ema, truncation 1 and 0.7, noise_mode='const') and D logits: max abs diff <= 1e-4.
With a stylegan3 checkout, networks_stylegan3 generators (configs T and R, with and without
labels, and as `--fp32` writes them) are compared too, including an image under the user transform
that the official gen_images.py sets for `--translate 0.1,0 --rotate 10`.
Nothing from the official code is part of stylegen; this test only drives a checkout you supply.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import stylegen
from stylegen.interop import nvlabs
from stylegen.models import Discriminator
from stylegen.models.stylegan3 import Generator as Generator3
from tests.interop.official_pickles import snapshot_dict, write_pickle

REPO = os.environ.get("STYLEGEN_NVLABS_REPO")
pytestmark = pytest.mark.skipif(
    not REPO, reason="set STYLEGEN_NVLABS_REPO to a local stylegan2-ada-pytorch/stylegan3 checkout"
)

# Official kwargs per case, in the official vocabulary. Settings left out take each code base's
# own defaults (they differ: conv_clamp, w_avg_beta, num_fp16_res), which the reader must find.
CASES = {
    "uncond-skip-fp16": dict(
        c_dim=0,
        res=16,
        mapping=dict(num_layers=2),
        synthesis=dict(channel_base=512, channel_max=32, num_fp16_res=4, conv_clamp=256),
        D=dict(channel_base=512, channel_max=32, num_fp16_res=4, conv_clamp=256),
        D_epilogue=dict(mbstd_group_size=4),
    ),
    "cond-resnet-defaults": dict(
        c_dim=3,
        res=16,
        mapping=dict(num_layers=2),
        synthesis=dict(channel_base=512, channel_max=32, architecture="resnet"),
        D=dict(channel_base=512, channel_max=32, architecture="skip"),
        D_mapping=dict(num_layers=2),
        D_epilogue=dict(mbstd_group_size=2),
    ),
    "orig-nonoise": dict(
        c_dim=0,
        res=8,
        mapping=dict(num_layers=3, w_avg_beta=0.99, lr_multiplier=0.05),
        synthesis=dict(channel_base=256, channel_max=32, architecture="orig", use_noise=False),
        D=dict(channel_base=256, channel_max=32, architecture="orig", conv_clamp=None),
        D_epilogue=dict(mbstd_group_size=None, mbstd_num_channels=2),
    ),
}

# StyleGAN3 generators (networks_stylegan3, stylegan3 checkouts only), with the kwargs the
# official train.py passes for --cfg=stylegan3-t / stylegan3-r (batch 32), at 16x16 with the
# default 14 layers; the snapshot's D is a networks_stylegan2 Discriminator as in train.py.
SG3_EMA_BETA = 0.5 ** (32 / (20 * 1e3))
SG3_CASES = {
    "stylegan3-t-uncond": dict(
        c_dim=0,
        res=16,
        G=dict(channel_base=1024, channel_max=32, magnitude_ema_beta=SG3_EMA_BETA),
        D=dict(channel_base=512, channel_max=32),
    ),
    "stylegan3-r-cond": dict(
        c_dim=3,
        res=16,
        G=dict(
            channel_base=2048,
            channel_max=64,
            magnitude_ema_beta=SG3_EMA_BETA,
            conv_kernel=1,
            use_radial_filters=True,
        ),
        D=dict(channel_base=512, channel_max=32),
        D_mapping=dict(num_layers=2),
    ),
    "stylegan3-t-cond-fp32": dict(  # train.py --fp32: no float16 layers, no clamping
        c_dim=2,
        res=16,
        G=dict(
            channel_base=1024,
            channel_max=32,
            magnitude_ema_beta=SG3_EMA_BETA,
            num_fp16_res=0,
            conv_clamp=None,
        ),
        D=dict(channel_base=512, channel_max=32, num_fp16_res=0, conv_clamp=None),
    ),
}
TRANSFORM = dict(translate=(0.1, 0.0), rotate=10.0)  # as `generate --translate 0.1,0 --rotate 10`
HAS_SG3 = bool(REPO) and Path(REPO, "training", "networks_stylegan3.py").exists()

DRIVER = r"""
import copy, json, pickle, sys
import numpy as np
import torch

repo, out_dir, cases = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
sg3_cases, transform = json.loads(sys.argv[4]), json.loads(sys.argv[5])
sys.path.insert(0, repo)
import dnnlib
from training.augment import AugmentPipe
try:
    from training import networks_stylegan2 as networks  # stylegan3 checkout
    flat = True
except ImportError:
    from training import networks  # stylegan2-ada-pytorch checkout
    flat = False

def perturb(module, seed):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in list(module.named_parameters()) + list(module.named_buffers()):
            if not name.endswith(('resample_filter', 'up_filter', 'down_filter')):
                t.add_(torch.randn(t.shape, generator=gen) * 0.2)

for name, case in cases.items():
    E = dnnlib.EasyDict
    dims = dict(z_dim=32, w_dim=32, c_dim=case['c_dim'], img_resolution=case['res'], img_channels=3)
    G_kwargs = dict(dims, mapping_kwargs=E(case['mapping']))
    if flat:
        G_kwargs.update(case['synthesis'], fused_modconv_default='inference_only')
    else:
        G_kwargs['synthesis_kwargs'] = E(case['synthesis'])
    D_kwargs = dict(c_dim=case['c_dim'], img_resolution=case['res'], img_channels=3, **case['D'],
                    block_kwargs=E(freeze_layers=0), mapping_kwargs=E(case.get('D_mapping', {})),
                    epilogue_kwargs=E(case.get('D_epilogue', {})))
    G = networks.Generator(**G_kwargs).train().requires_grad_(False)
    D = networks.Discriminator(**D_kwargs).train().requires_grad_(False)
    perturb(G, 1)
    perturb(D, 2)
    G_ema = copy.deepcopy(G).eval()
    perturb(G_ema, 3)
    augment_pipe = AugmentPipe(xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1,
                               brightness=1, contrast=1, lumaflip=1, hue=1, saturation=1)
    training_set_kwargs = E(class_name='training.dataset.ImageFolderDataset', path='/data/x.zip',
                            use_labels=case['c_dim'] > 0, max_size=100, xflip=False,
                            resolution=case['res'])
    # The official training loop's snapshot: a dict of deep copies, written with pickle.dump.
    snapshot = dict(training_set_kwargs=dict(training_set_kwargs))
    for key, module in [('G', G), ('D', D), ('G_ema', G_ema), ('augment_pipe', augment_pipe)]:
        snapshot[key] = copy.deepcopy(module).eval().requires_grad_(False).cpu()
    with open(f'{out_dir}/{name}.pkl', 'wb') as f:
        pickle.dump(snapshot, f)

    gen = torch.Generator().manual_seed(0)
    z = torch.randn([4, 32], generator=gen)
    c = torch.eye(case['c_dim'])[torch.arange(4) % case['c_dim']] if case['c_dim'] else None
    real = torch.rand([4, 3, case['res'], case['res']], generator=gen) * 2 - 1
    out = dict(z=z, real=real)
    if c is not None:
        out['c'] = c
    G.eval()
    D.eval()
    with torch.no_grad():
        for key, net in [('G', G), ('G_ema', G_ema)]:
            for psi in (1.0, 0.7):
                out[f'{key}.psi{psi}'] = net(z, c, truncation_psi=psi, noise_mode='const',
                                             force_fp32=True)
        out['D.real'] = D(real, c, force_fp32=True)
        out['D.fake'] = D(out['G_ema.psi1.0'], c, force_fp32=True)
    # Settings whose defaults differ between the two code bases, as the official modules hold them.
    out['settings'] = dict(
        G_conv_clamp=G.synthesis.b4.conv1.conv_clamp,
        w_avg_beta=G.mapping.w_avg_beta,
        D_conv_clamp=D.b4.conv.conv_clamp,
    )
    torch.save(out, f'{out_dir}/{name}.pt')

if sg3_cases:
    from training import networks_stylegan3
for name, case in sg3_cases.items():
    E = dnnlib.EasyDict
    G = networks_stylegan3.Generator(z_dim=32, w_dim=32, mapping_kwargs=E(num_layers=2),
                                     c_dim=case['c_dim'], img_resolution=case['res'],
                                     img_channels=3, **case['G']).train().requires_grad_(False)
    D = networks.Discriminator(c_dim=case['c_dim'], img_resolution=case['res'], img_channels=3,
                               **case['D'], block_kwargs=E(freeze_layers=0),
                               mapping_kwargs=E(case.get('D_mapping', {})),
                               epilogue_kwargs=E(mbstd_group_size=4)).train().requires_grad_(False)
    perturb(G, 1)
    perturb(D, 2)
    with torch.no_grad():  # magnitude EMAs must stay positive; identity user transform
        for module in G.modules():
            if hasattr(module, 'magnitude_ema'):
                module.magnitude_ema.abs_().add_(0.1)
        G.synthesis.input.transform.copy_(torch.eye(3))
    G_ema = copy.deepcopy(G).eval()
    perturb(G_ema, 3)
    with torch.no_grad():
        for module in G_ema.modules():
            if hasattr(module, 'magnitude_ema'):
                module.magnitude_ema.abs_().add_(0.1)
        G_ema.synthesis.input.transform.copy_(torch.eye(3))
    snapshot = dict(G=G, D=D, G_ema=G_ema, augment_pipe=None)
    snapshot = {k: copy.deepcopy(v).eval().requires_grad_(False).cpu() if v is not None else None
                for k, v in snapshot.items()}
    snapshot['training_set_kwargs'] = dict(E(class_name='training.dataset.ImageFolderDataset',
        path='/data/x.zip', use_labels=case['c_dim'] > 0, max_size=100, xflip=False,
        resolution=case['res']))
    with open(f'{out_dir}/{name}.pkl', 'wb') as f:
        pickle.dump(snapshot, f)

    gen = torch.Generator().manual_seed(0)
    z = torch.randn([4, 32], generator=gen)
    c = torch.eye(case['c_dim'])[torch.arange(4) % case['c_dim']] if case['c_dim'] else None
    out = dict(z=z)
    if c is not None:
        out['c'] = c
    G.eval()
    with torch.no_grad():
        for key, net in [('G', G), ('G_ema', G_ema)]:
            for psi in (1.0, 0.7):
                out[f'{key}.psi{psi}'] = net(z, c, truncation_psi=psi, noise_mode='const',
                                             force_fp32=True)
        # The official gen_images.py: the inverse of [[cos, sin, tx], [-sin, cos, ty], [0, 0, 1]].
        a = np.radians(transform['rotate'])
        tx, ty = transform['translate']
        m = np.array([[np.cos(a), np.sin(a), tx], [-np.sin(a), np.cos(a), ty], [0, 0, 1]])
        G_ema.synthesis.input.transform.copy_(torch.from_numpy(np.linalg.inv(m)))
        out['G_ema.transform'] = G_ema(z, c, noise_mode='const', force_fp32=True)
    first = getattr(G.synthesis, G.synthesis.layer_names[0])
    out['settings'] = dict(
        conv_kernel=first.conv_kernel,
        use_radial_filters=bool(first.down_radial),
        magnitude_ema_beta=first.magnitude_ema_beta,
        conv_clamp=first.conv_clamp,
        num_fp16_res=G.synthesis.num_fp16_res,
        w_avg_beta=G.mapping.w_avg_beta,
        num_layers=G.synthesis.num_layers,
    )
    torch.save(out, f'{out_dir}/{name}.pt')
"""


@pytest.fixture(scope="module")
def official_outputs(tmp_path_factory):
    marker = Path(REPO, "torch_utils", "persistence.py")
    assert marker.exists(), f"STYLEGEN_NVLABS_REPO={REPO} is not an official checkout"
    out = tmp_path_factory.mktemp("official")
    driver = out / "driver.py"
    driver.write_text(DRIVER)
    proc = subprocess.run(
        [
            sys.executable,
            str(driver),
            REPO,
            str(out),
            json.dumps(CASES),
            json.dumps(SG3_CASES if HAS_SG3 else {}),
            json.dumps(TRANSFORM),
        ],
        cwd=out,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_official_code(official_outputs, case):
    pkl = official_outputs / f"{case}.pkl"
    ref = torch.load(official_outputs / f"{case}.pt", weights_only=True)
    z, c, real = ref["z"], ref.get("c"), ref["real"]
    diffs = {}
    with torch.no_grad():
        for which in ("G", "G_ema"):
            G = stylegen.load(pkl, which=which)
            for psi in (1.0, 0.7):
                img = G(z, c, truncation_psi=psi, noise_mode="const")
                diffs[f"{which}.psi{psi}"] = (img - ref[f"{which}.psi{psi}"]).abs().max().item()
        D = stylegen.load(pkl, which="D")
        diffs["D.real"] = (D(real, c) - ref["D.real"]).abs().max().item()
        diffs["D.fake"] = (D(ref["G_ema.psi1.0"], c) - ref["D.fake"]).abs().max().item()
        settings = dict(
            G_conv_clamp=G.config.conv_clamp,
            w_avg_beta=G.config.w_avg_beta,
            D_conv_clamp=D.config.conv_clamp,
        )
    print(f"\n{Path(REPO).name} {case}: max abs diff {json.dumps(diffs)}")
    assert settings == ref["settings"]
    assert max(diffs.values()) <= 1e-4, diffs
    # The networks produce real images, not constants, and G differs from G_ema.
    assert ref["G.psi1.0"].std() > 0.01
    assert (ref["G.psi1.0"] - ref["G_ema.psi1.0"]).abs().max() > 0.01
    assert (ref["D.real"] - ref["D.fake"]).abs().max() > 1e-3


@pytest.mark.parametrize("case", sorted(SG3_CASES))
def test_stylegan3_matches_official_code(official_outputs, case):
    if not HAS_SG3:
        pytest.skip(f"{REPO} is a stylegan2-ada-pytorch checkout; StyleGAN3 needs stylegan3")
    pkl = official_outputs / f"{case}.pkl"
    ref = torch.load(official_outputs / f"{case}.pt", weights_only=True)
    z, c = ref["z"], ref.get("c")
    diffs = {}
    with torch.no_grad():
        for which in ("G", "G_ema"):
            G = stylegen.load(pkl, which=which)
            assert isinstance(G, Generator3)
            for psi in (1.0, 0.7):
                img = G(z, c, truncation_psi=psi, noise_mode="const")
                diffs[f"{which}.psi{psi}"] = (img - ref[f"{which}.psi{psi}"]).abs().max().item()
        G.set_transform(TRANSFORM["translate"], TRANSFORM["rotate"])
        diffs["G_ema.transform"] = (G(z, c) - ref["G_ema.transform"]).abs().max().item()
        cfg = G.config
        settings = dict(
            conv_kernel=cfg.conv_kernel,
            use_radial_filters=cfg.use_radial_filters,
            magnitude_ema_beta=cfg.magnitude_ema_beta,
            conv_clamp=cfg.conv_clamp,
            num_fp16_res=cfg.num_fp16_res,
            w_avg_beta=cfg.w_avg_beta,
            num_layers=cfg.num_layers,
        )
        assert isinstance(stylegen.load(pkl, which="D"), Discriminator)
    print(f"\n{Path(REPO).name} {case}: max abs diff {json.dumps(diffs)}")
    assert settings == ref["settings"]
    assert max(diffs.values()) <= 1e-4, diffs
    assert ref["G.psi1.0"].std() > 0.01
    assert (ref["G.psi1.0"] - ref["G_ema.psi1.0"]).abs().max() > 0.01
    assert (ref["G_ema.transform"] - ref["G_ema.psi1.0"]).abs().max() > 0.01


def _layout(path: Path) -> tuple[set, dict]:
    """The globals a pickle names, and per network: class, init-kwarg keys, tensor shapes."""
    names: set[tuple[str, str]] = set()

    class Recording(nvlabs._SnapshotUnpickler):
        def find_class(self, module, name):
            names.add((module, name))
            return super().find_class(module, name)

    with open(path, "rb") as f:
        Recording(f, path).load()
    snap = nvlabs.read_snapshot(path)
    networks = {
        which: (
            rec.class_name,
            sorted(rec.init_kwargs),
            {k: tuple(v.shape) for k, v in nvlabs.official_state(rec).items()},
        )
        for which, rec in snap.networks.items()
    }
    return names, networks


def test_fixture_pickles_have_the_official_layout(official_outputs, tmp_path):
    """tests/interop/official_pickles.py writes what the official code writes."""
    official = official_outputs / "cond-resnet-defaults.pkl"
    flavour = "sg3" if Path(REPO, "training", "networks_stylegan2.py").exists() else "ada"
    nets = {which: stylegen.load(official, which=which) for which in ("G", "D", "G_ema")}
    snap = snapshot_dict(nets, flavour=flavour, omit_defaults=True)  # as the case passes none
    ours = write_pickle(snap, tmp_path / "ours.pkl")
    official_names, official_networks = _layout(official)
    our_names, our_networks = _layout(ours)
    # The official file also pickles its AugmentPipe; ours leaves augment_pipe None.
    assert our_names <= official_names
    numpy_free = {n for n in official_names if not n[0].startswith("numpy")}
    assert numpy_free <= our_names | {("builtins", "set")}  # our attributes are Python floats
    for which, (cls, kwargs, shapes) in official_networks.items():
        our_cls, our_kwargs, our_shapes = our_networks[which]
        assert (our_cls, our_shapes) == (cls, shapes)
        # Without num_fp16_res in a D's kwargs we store its number of fp16 blocks instead (the
        # same effect; it only matters for float16 training anyway).
        assert set(our_kwargs) - {"num_fp16_res"} == set(kwargs) - {"num_fp16_res"}


def test_stylegan3_fixture_pickles_have_the_official_layout(official_outputs, tmp_path):
    """official_pickles.py writes StyleGAN3 generators as the official code does, and every
    attribute the reader takes from the official modules exists there."""
    if not HAS_SG3:
        pytest.skip(f"{REPO} is a stylegan2-ada-pytorch checkout; StyleGAN3 needs stylegan3")
    official = official_outputs / "stylegan3-r-cond.pkl"
    nets = {which: stylegen.load(official, which=which) for which in ("G", "D", "G_ema")}
    ours = write_pickle(snapshot_dict(nets, flavour="sg3", omit_defaults=True), tmp_path / "o.pkl")
    official_names, official_networks = _layout(official)
    our_names, our_networks = _layout(ours)
    assert our_names <= official_names
    for which in ("G", "G_ema"):
        assert our_networks[which] == official_networks[which]
    record = nvlabs.read_snapshot(official).record("G_ema")
    synthesis = record.child("synthesis")
    for name in synthesis.state["layer_names"]:
        assert set(nvlabs._SG3_LAYER_ATTRS) <= set(synthesis.child(name).state), name
    assert set(nvlabs._SG3_INPUT_ATTRS) <= set(synthesis.child("input").state)
    first = f"synthesis.{synthesis.state['layer_names'][0]}"
    for owner, attr in nvlabs.SG3_STORED.values():
        assert attr in record.descendant(first if owner == "L0" else owner).state, (owner, attr)
    assert "bias_gain" in record.descendant("mapping.fc0").state


# TensorFlow StyleGAN2 snapshots: converted by the official legacy.py (run with the official code)
# and by our reader; the two conversions must compute the same images and logits.
TF_CASES = {
    # NVlabs/stylegan2 config-f: skip G, resnet D, no labels, no clamping
    "tf-stylegan2-config-f": dict(flavour="stylegan2", c_dim=0),
    # TF stylegan2-ada, conditional: LabelEmbed in G's mapping, D's label embedding + mapping
    "tf-ada-cond": dict(flavour="ada", c_dim=3, conv_clamp=256, mapping_layers=2),
    "tf-ada-cond-nomap": dict(flavour="ada", c_dim=2, mapping_layers=0),
}

TF_DRIVER = r"""
import json, sys
import torch
repo, out_dir, names = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
sys.path.insert(0, repo)
import legacy
for name in names:
    with open(f'{out_dir}/{name}.pkl', 'rb') as f:
        data = legacy.load_network_pkl(f)
    inputs = torch.load(f'{out_dir}/{name}.in.pt')
    z, c, real = inputs['z'], inputs.get('c'), inputs['real']
    out = {}
    with torch.no_grad():
        for key in ('G', 'G_ema'):
            for psi in (1.0, 0.7):
                out[f'{key}.psi{psi}'] = data[key](z, c, truncation_psi=psi, noise_mode='const',
                                                   force_fp32=True)
        out['D.real'] = data['D'](real, c, force_fp32=True)
        out['D.fake'] = data['D'](out['G_ema.psi1.0'], c, force_fp32=True)
    torch.save(out, f'{out_dir}/{name}.out.pt')
"""


@pytest.fixture(scope="module")
def tf_official(tmp_path_factory):
    from tests.interop.tf_pickles import random_networks, tf_network_class, write_tf_snapshot

    out = tmp_path_factory.mktemp("official_tf")
    for i, (name, case) in enumerate(TF_CASES.items()):
        c_dim = case["c_dim"]
        extra = {"mapping_layers": case["mapping_layers"]} if c_dim else {}
        G, D = random_networks(c_dim=c_dim, conv_clamp=case.get("conv_clamp"), seed=i, **extra)
        G_ema, _ = random_networks(c_dim=c_dim, conv_clamp=case.get("conv_clamp"), seed=10 + i)
        with tf_network_class() as net:
            write_tf_snapshot(out / f"{name}.pkl", G, D, net, case["flavour"], G_ema=G_ema)
        gen = torch.Generator().manual_seed(i)
        inputs = dict(z=torch.randn([4, 16], generator=gen))
        inputs["real"] = torch.rand([4, 3, 16, 16], generator=gen) * 2 - 1
        if c_dim:
            inputs["c"] = torch.eye(c_dim)[torch.arange(4) % c_dim]
        torch.save(inputs, out / f"{name}.in.pt")
    driver = out / "driver.py"
    driver.write_text(TF_DRIVER)
    proc = subprocess.run(
        [sys.executable, str(driver), REPO, str(out), json.dumps(sorted(TF_CASES))],
        cwd=out,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


@pytest.mark.parametrize("case", sorted(TF_CASES))
def test_tf_stylegan2_matches_official_legacy_conversion(tf_official, case):
    pkl = tf_official / f"{case}.pkl"
    inputs = torch.load(tf_official / f"{case}.in.pt", weights_only=True)
    ref = torch.load(tf_official / f"{case}.out.pt", weights_only=True)
    z, c, real = inputs["z"], inputs.get("c"), inputs["real"]
    diffs = {}
    with torch.no_grad():
        for which in ("G", "G_ema"):
            G = stylegen.load(pkl, which=which)
            assert G.checkpoint_metadata["source"] == "nvlabs-tf-snapshot"
            for psi in (1.0, 0.7):
                img = G(z, c, truncation_psi=psi, noise_mode="const")
                diffs[f"{which}.psi{psi}"] = (img - ref[f"{which}.psi{psi}"]).abs().max().item()
        D = stylegen.load(pkl, which="D")
        diffs["D.real"] = (D(real, c) - ref["D.real"]).abs().max().item()
        diffs["D.fake"] = (D(ref["G_ema.psi1.0"], c) - ref["D.fake"]).abs().max().item()
    print(f"\n{Path(REPO).name} {case}: max abs diff {json.dumps(diffs)}")
    assert max(diffs.values()) <= 1e-4, diffs
    assert ref["G.psi1.0"].std() > 0.01
    assert (ref["G.psi1.0"] - ref["G_ema.psi1.0"]).abs().max() > 0.01
    assert (ref["D.real"] - ref["D.fake"]).abs().max() > 1e-3
