"""TensorFlow-era snapshots (ProGAN, StyleGAN 2019) read without TensorFlow and without running
their embedded code. With no TensorFlow here, the snapshots are made the way the official code
pickles them: a tuple (G, D, Gs) of `dnnlib.tflib.network.Network` (ProGAN: `tfutil.Network`)
objects whose state holds the builder's name and source, its kwargs, components and the variables
as NumPy arrays under the official names and TF layouts. Our own random networks are exported
that way (the helpers below follow the official variable names) and must come back identical."""

import pickle
import sys
import types

import numpy as np
import pytest
import torch

import stylegen
from stylegen.commands import main
from stylegen.errors import UserError
from stylegen.generate import generate_images
from stylegen.models import progan, stylegan1

TINY = dict(channel_base=64, channel_max=8)


def _network_class(module: str):
    """A class pickled as `<module>.Network`, with the official __getstate__ layout."""

    class Network:
        def __init__(self, state):
            self.state = state

        def __getstate__(self):
            return self.state

    Network.__module__ = module
    Network.__qualname__ = "Network"
    return Network


@pytest.fixture
def tf_modules(monkeypatch):
    classes = {}
    for module in ("dnnlib.tflib.network", "tfutil"):
        cls = _network_class(module)
        mod = types.ModuleType(module)
        mod.Network = cls
        monkeypatch.setitem(sys.modules, module, mod)
        classes[module] = cls
    for parent in ("dnnlib", "dnnlib.tflib"):
        monkeypatch.setitem(sys.modules, parent, types.ModuleType(parent))
    return classes


def _state(func, kwargs, variables, components=None, version=4, source="# builder source\n"):
    state = {
        "version": version,
        "name": func.rsplit(".", 1)[-1],
        "static_kwargs": kwargs,
        "build_module_src": source,
        "build_func_name": func,
        "variables": [(k, np.asarray(v, dtype=np.float32)) for k, v in variables.items()],
    }
    if components is not None:
        state["components"] = components
    return state


def _conv(t):
    return t.detach().permute(2, 3, 1, 0).numpy()  # [out, in, kh, kw] -> [kh, kw, in, out]


def _dense(t):
    return t.detach().T.numpy()


# -- exporters: our networks under the official TF variable names -----------------------------


def _export_sg1(G, net):
    syn, mapping = G.synthesis, G.mapping
    R = G.img_resolution
    v = {"lod": np.float32(float(syn.lod))}
    for i, res in enumerate(syn.block_resolutions):
        block = getattr(syn, f"b{res}")
        names = ("Const", "Conv") if res == 4 else ("Conv0_up", "Conv1")
        for name, layer in zip(names, (block.conv0, block.conv1)):
            scope = f"{res}x{res}/{name}"
            if layer.conv is not None:
                v[f"{scope}/weight"] = _conv(layer.conv.weight)
            v[f"{scope}/Noise/weight"] = layer.noise_strength.detach().numpy()
            v[f"{scope}/bias"] = layer.bias.detach().numpy()
            v[f"{scope}/StyleMod/weight"] = _dense(layer.affine.weight)
            v[f"{scope}/StyleMod/bias"] = layer.affine.bias.detach().numpy()
        if res == 4:
            v["4x4/Const/const"] = block.const.detach()[None].numpy()
        lod = int(np.log2(R // res))
        v[f"ToRGB_lod{lod}/weight"] = _conv(block.to_rgb.weight)
        v[f"ToRGB_lod{lod}/bias"] = block.to_rgb.bias.detach().numpy()
        for j, layer in enumerate((block.conv0, block.conv1)):
            v[f"noise{2 * i + j}"] = layer.noise_const.detach()[None, None].numpy()
    m = {}
    for k in range(mapping.num_layers):
        fc = getattr(mapping, f"fc{k}")
        m[f"Dense{k}/weight"] = _dense(fc.weight)
        m[f"Dense{k}/bias"] = fc.bias.detach().numpy()
    if G.c_dim:
        m["LabelConcat/weight"] = mapping.embed.detach().numpy()
    cfg = G.config
    kwargs = dict(
        num_channels=cfg.img_channels,
        resolution=R,
        label_size=cfg.c_dim,
        latent_size=cfg.z_dim,
        dlatent_size=cfg.w_dim,
        mapping_fmaps=cfg.w_dim,
        mapping_layers=cfg.mapping_layers,
        fmap_base=cfg.channel_base // 2,
        fmap_max=cfg.channel_max,
    )
    func = "training.networks_stylegan."
    components = {
        "synthesis": net(_state(func + "G_synthesis", kwargs, v)),
        "mapping": net(_state(func + "G_mapping", kwargs, m)),
    }
    own = {"lod": np.float32(float(syn.lod)), "dlatent_avg": mapping.w_avg.numpy()}
    return net(_state(func + "G_style", kwargs, own, components))


def _export_d(D, net, func, version=4):
    R = D.img_resolution
    v = {"lod": np.float32(float(D.lod))}
    for res in [*D.block_resolutions, 4]:
        block = getattr(D, f"b{res}")
        lod = int(np.log2(R // res))
        v[f"FromRGB_lod{lod}/weight"] = _conv(block.from_rgb.weight)
        v[f"FromRGB_lod{lod}/bias"] = block.from_rgb.bias.detach().numpy()
        layers = (
            {"Conv0": block.conv0, "Conv1_down": block.conv1}
            if res > 4
            else {"Conv": block.conv, "Dense0": block.fc, "Dense1": block.out}
        )
        for name, layer in layers.items():
            export = _dense if name.startswith("Dense") else _conv
            v[f"{res}x{res}/{name}/weight"] = export(layer.weight)
            v[f"{res}x{res}/{name}/bias"] = layer.bias.detach().numpy()
    cfg = D.config
    kwargs = dict(
        num_channels=cfg.img_channels,
        resolution=R,
        label_size=cfg.c_dim,
        fmap_base=cfg.channel_base // 2,
        fmap_max=cfg.channel_max,
        mbstd_group_size=cfg.mbstd_group_size,
    )
    if not cfg.blur:
        kwargs["fused_scale"] = True
    return net(_state(func, kwargs, v, {} if version > 2 else None, version=version))


def _export_progan_g(G, net, version=2):
    R = G.img_resolution
    v = {"lod": np.float32(float(G.lod))}
    v["4x4/Dense/weight"] = _dense(G.b4.dense.weight)
    v["4x4/Dense/bias"] = G.b4.bias.detach().numpy()
    v["4x4/Conv/weight"] = _conv(G.b4.conv.weight)
    v["4x4/Conv/bias"] = G.b4.conv.bias.detach().numpy()
    for res in G.block_resolutions:
        block = getattr(G, f"b{res}")
        if res > 4:
            for name, layer in (("Conv0", block.conv0), ("Conv1", block.conv1)):
                v[f"{res}x{res}/{name}/weight"] = _conv(layer.weight)
                v[f"{res}x{res}/{name}/bias"] = layer.bias.detach().numpy()
        lod = int(np.log2(R // res))
        v[f"ToRGB_lod{lod}/weight"] = _conv(block.to_rgb.weight)
        v[f"ToRGB_lod{lod}/bias"] = block.to_rgb.bias.detach().numpy()
    cfg = G.config
    kwargs = dict(
        num_channels=cfg.img_channels,
        resolution=R,
        label_size=cfg.c_dim,
        latent_size=cfg.z_dim,
        fmap_base=cfg.channel_base // 2,
        fmap_max=cfg.channel_max,
        fused_scale=False,
    )
    return net(_state("networks.G_paper", kwargs, v, None, version=version))


def _write(path, obj):
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=4)  # pickle.HIGHEST_PROTOCOL of the official Python 3.6
    return path


def _sg1_and_d(c_dim=0):
    torch.manual_seed(5)
    g_cfg = stylegan1.StyleGAN1GeneratorConfig(
        z_dim=8, w_dim=8, mapping_layers=2, img_resolution=16, img_channels=3, c_dim=c_dim, **TINY
    )
    G = stylegan1.Generator(g_cfg).eval()
    with torch.no_grad():
        for p in G.parameters():
            p.add_(torch.randn_like(p) * 0.1)  # no zero noise strengths or style biases
        G.mapping.w_avg.normal_()
    G.set_lod(0.5)
    d_cfg = progan.ProGANDiscriminatorConfig(
        img_resolution=16, img_channels=3, c_dim=c_dim, blur=True, mbstd_group_size=2, **TINY
    )
    D = progan.Discriminator(d_cfg).eval()
    return G, D


# ---------------------------------------------------------------------------------------------


def test_stylegan_tf_snapshot_loads_identically_and_runs_nothing(tf_modules, tmp_path):
    net = tf_modules["dnnlib.tflib.network"]
    G, D = _sg1_and_d(c_dim=3)
    marker = tmp_path / "ran"
    gs = _export_sg1(G, net)
    gs.state["build_module_src"] = f"open({str(marker)!r}, 'w').close()\n"
    path = _write(
        tmp_path / "karras2019stylegan-tiny.pkl",
        (gs, _export_d(D, net, "training.networks_stylegan.D_basic"), gs),
    )

    loaded = stylegen.load(path)
    assert type(loaded) is stylegan1.Generator and loaded.current_resolution() == (16, 0.5)
    assert loaded.checkpoint_metadata["source"] == "nvlabs-tf-snapshot"
    for psi in (1.0, 0.7):
        want = generate_images(G, [0, 1], truncation_psi=psi, class_idx=1)
        assert torch.equal(generate_images(loaded, [0, 1], truncation_psi=psi, class_idx=1), want)
    torch.testing.assert_close(loaded.mapping.w_avg, G.mapping.w_avg)
    img, c = torch.randn(2, 3, 16, 16), torch.eye(3)[[0, 2]]
    d = stylegen.load(path, which="D")
    assert d.config.blur and torch.equal(d(img, c), D(img, c))
    assert not marker.exists()  # the builder's source was never run

    out = tmp_path / "converted"
    assert main(["convert", str(path), str(out)]) == 0
    again = stylegen.load(out)
    assert torch.equal(
        generate_images(again, [3], class_idx=0), generate_images(G, [3], class_idx=0)
    )


def test_progan_tf_snapshot_from_the_original_code(tf_modules, tmp_path):
    net = tf_modules["tfutil"]
    torch.manual_seed(6)
    cfg = progan.ProGANGeneratorConfig(z_dim=8, img_resolution=16, img_channels=1, **TINY)
    G = progan.Generator(cfg).eval()
    G.set_lod(1.0)
    d_cfg = progan.ProGANDiscriminatorConfig(img_resolution=16, img_channels=1, **TINY)
    D = progan.Discriminator(d_cfg).eval()
    gs = _export_progan_g(G, net)
    path = _write(
        tmp_path / "network-final.pkl", (gs, _export_d(D, net, "networks.D_paper", 2), gs)
    )
    loaded = stylegen.load(path)
    assert type(loaded) is progan.Generator and loaded.current_resolution() == (8, 1.0)
    assert torch.equal(generate_images(loaded, [0, 1, 2]), generate_images(G, [0, 1, 2]))
    img = torch.randn(4, 1, 16, 16)
    assert torch.equal(stylegen.load(path, which="D")(img), D(img))


def test_unsupported_tf_networks_are_one_line_errors(tf_modules, tmp_path):
    net = tf_modules["dnnlib.tflib.network"]
    G, D = _sg1_and_d()
    gs = _export_sg1(G, net)

    def refused(obj, match, which="G_ema"):
        path = _write(tmp_path / "x.pkl", obj)
        with pytest.raises(UserError, match=match):
            stylegen.load(path, which=which)

    sg2 = net(_state("training.networks_stylegan2.G_main", {"resolution": 16}, {}, {}))
    refused((sg2, sg2, sg2), "TensorFlow StyleGAN2 network.*legacy.py")
    other = net(_state("my.networks.G_fancy", {}, {}, {}))
    refused((other,), "built by 'my.networks.G_fancy', which stylegen cannot read")
    gs.state["static_kwargs"]["use_instance_norm"] = False
    refused((gs, gs, gs), "use_instance_norm=False is not supported")
    gs.state["static_kwargs"]["use_instance_norm"] = True
    gs.state["components"]["synthesis"].state["variables"].append(("8x8/Extra/weight", np.ones(3)))
    refused((gs, gs, gs), "TF variable synthesis/8x8/Extra/weight has no counterpart")
    bad = _export_sg1(G, net)
    bad.state["version"] = 9
    refused((bad, bad, bad), "TF network of state version 9")
    bad = _export_sg1(G, net)
    bad.state["variables"] = [("lod", "text")]
    refused((bad, bad, bad), "not numeric")
