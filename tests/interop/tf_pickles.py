"""TensorFlow-format StyleGAN2 snapshots made without TensorFlow, for the tests.

The official TF code (NVlabs/stylegan2 `training/networks_stylegan2.py`, the TF NVlabs/stylegan2-ada
`training/networks.py`) pickles a tuple (G, D, Gs) of `dnnlib.tflib.network.Network` objects whose
state holds the builder's name and source, its static kwargs, its components and its variables
as NumPy arrays, in TF layouts: convolutions [kh, kw, in, out], dense layers [in, out]. The
exporters below write our StyleGAN2 networks that way under the official variable names (this is
our own reading of the TF builders, checked against the official `legacy.py` conversion by
test_nvlabs_official_live.py): the modulation bias without the + 1 TF adds at run time, the
up-sampling convolutions of G spatially flipped, the noise constants as `noiseN` [1, 1, r, r].
"""

from __future__ import annotations

import contextlib
import pickle
import sys
import types

import numpy as np
import torch

from stylegen.models.discriminator import Discriminator, DiscriminatorConfig
from stylegen.models.stylegan2 import Generator, GeneratorConfig

MODULES = {  # flavour -> the module the official builders live in
    "stylegan2": "training.networks_stylegan2",
    "ada": "training.networks",
}
SYNTHESIS = {"stylegan2": "G_synthesis_stylegan2", "ada": "G_synthesis"}
D_BUILDER = {"stylegan2": "D_stylegan2", "ada": "D_main"}


@contextlib.contextmanager
def tf_network_class():
    """A class pickled as `dnnlib.tflib.network.Network`, with the official __getstate__."""

    class Network:
        def __init__(self, state):
            self.state = state

        def __getstate__(self):
            return self.state

    Network.__module__ = "dnnlib.tflib.network"
    Network.__qualname__ = "Network"
    names = ["dnnlib", "dnnlib.tflib", "dnnlib.tflib.network"]
    saved = {n: sys.modules.get(n) for n in names}
    for n in names:
        sys.modules[n] = types.ModuleType(n)
    sys.modules["dnnlib.tflib.network"].Network = Network
    try:
        yield Network
    finally:
        for n, m in saved.items():
            if m is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = m


def tf_state(func, kwargs, variables, components=None, version=4, source="# builder source\n"):
    return {
        "version": version,
        "name": func.rsplit(".", 1)[-1],
        "static_kwargs": dict(kwargs),
        "build_module_src": source,
        "build_func_name": func,
        "components": components or {},
        "variables": [(k, np.asarray(v, dtype=np.float32)) for k, v in variables.items()],
    }


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy().copy()


def _conv(t: torch.Tensor) -> np.ndarray:  # [out, in, kh, kw] -> [kh, kw, in, out]
    return _np(t.permute(2, 3, 1, 0))


def _conv_flipped(t: torch.Tensor) -> np.ndarray:
    return _conv(t)[::-1, ::-1].copy()


def _dense(t: torch.Tensor) -> np.ndarray:
    return _np(t.T)


def random_networks(
    c_dim=0, res=16, g_arch="skip", d_arch="resnet", conv_clamp=None, seed=0, **d_extra
) -> tuple[Generator, Discriminator]:
    """Small StyleGAN2 G and D with every weight off its init (no zero biases or strengths)."""
    torch.manual_seed(seed)
    g = GeneratorConfig(
        z_dim=16,
        w_dim=16,
        c_dim=c_dim,
        img_resolution=res,
        mapping_layers=2,
        channel_base=128,  # fmap_base 64: 16 channels at 4 and 8 pixels, 8 at 16
        channel_max=16,
        architecture=g_arch,
        conv_clamp=conv_clamp,
    )
    d = DiscriminatorConfig(
        c_dim=c_dim,
        img_resolution=res,
        channel_base=128,
        channel_max=16,
        architecture=d_arch,
        conv_clamp=conv_clamp,
        **d_extra,
    )
    G, D = Generator(g).eval(), Discriminator(d).eval()
    with torch.no_grad():
        for net in (G, D):
            for name, t in list(net.named_parameters()) + list(net.named_buffers()):
                if not name.endswith("resample_filter"):
                    t.add_(torch.randn_like(t) * 0.2)
    return G, D


def export_generator(G: Generator, net, flavour="stylegan2", extra_kwargs=None):
    """Our G as a TF G_main record with components mapping and synthesis."""
    cfg, syn, mapping = G.config, G.synthesis, G.mapping
    v = {"4x4/Const/const": _np(syn.b4.const)[None]}
    noise = {}
    for res in syn.block_resolutions:
        block = getattr(syn, f"b{res}")
        layers = {"Conv": block.conv1} if res == 4 else {"Conv0_up": block.conv0}
        if res > 4:
            layers["Conv1"] = block.conv1
        for name, layer in layers.items():
            scope = f"{res}x{res}/{name}"
            v[f"{scope}/weight"] = (_conv_flipped if name == "Conv0_up" else _conv)(layer.weight)
            v[f"{scope}/bias"] = _np(layer.bias)
            v[f"{scope}/mod_weight"] = _dense(layer.affine.weight)
            v[f"{scope}/mod_bias"] = _np(layer.affine.bias) - 1
            if cfg.use_noise:
                v[f"{scope}/noise_strength"] = _np(layer.noise_strength)
                k = int(np.log2(res))
                index = 0 if res == 4 else 2 * k - (5 if name == "Conv0_up" else 4)
                noise[f"noise{index}"] = _np(layer.noise_const)[None, None]
        if hasattr(block, "torgb"):
            t = block.torgb
            v[f"{res}x{res}/ToRGB/weight"] = _conv(t.weight)
            v[f"{res}x{res}/ToRGB/bias"] = _np(t.bias)
            v[f"{res}x{res}/ToRGB/mod_weight"] = _dense(t.affine.weight)
            v[f"{res}x{res}/ToRGB/mod_bias"] = _np(t.affine.bias) - 1
        if hasattr(block, "skip"):
            v[f"{res}x{res}/Skip/weight"] = _conv_flipped(block.skip.weight)
    v.update(noise)
    m = {}
    for i in range(mapping.num_layers):
        fc = getattr(mapping, f"fc{i}")
        m[f"Dense{i}/weight"], m[f"Dense{i}/bias"] = _dense(fc.weight), _np(fc.bias)
    if cfg.c_dim:
        m["LabelEmbed/weight"] = _dense(mapping.embed.weight)
        m["LabelEmbed/bias"] = _np(mapping.embed.bias)
    # Only kwargs the official legacy.py knows, as the official training scripts pass them.
    kwargs = dict(
        num_channels=cfg.img_channels,
        resolution=cfg.img_resolution,
        label_size=cfg.c_dim,
        latent_size=cfg.z_dim,
        dlatent_size=cfg.w_dim,
        mapping_layers=cfg.mapping_layers,
        mapping_fmaps=cfg.w_dim,  # NVlabs/stylegan2's default is 512
        mapping_lrmul=cfg.mapping_lr_multiplier,
        fmap_base=cfg.channel_base // 2,
        fmap_max=cfg.channel_max,
        architecture=cfg.architecture,
    )
    if flavour == "ada":
        kwargs.update(conv_clamp=cfg.conv_clamp, use_noise=cfg.use_noise)
    else:
        assert cfg.conv_clamp is None and cfg.use_noise, "NVlabs/stylegan2 has neither"
    kwargs.update(extra_kwargs or {})
    module = MODULES[flavour]
    components = {
        "synthesis": net(tf_state(f"{module}.{SYNTHESIS[flavour]}", kwargs, v)),
        "mapping": net(tf_state(f"{module}.G_mapping", kwargs, m)),
    }
    own = {"dlatent_avg": _np(mapping.w_avg)}
    if flavour == "stylegan2":
        own["lod"] = np.float32(0)
    return net(tf_state(f"{module}.G_main", kwargs, own, components))


def export_discriminator(D: Discriminator, net, flavour="stylegan2", extra_kwargs=None):
    cfg = D.config
    v = {}
    names = {"fromrgb": "FromRGB", "conv0": "Conv0", "conv1": "Conv1_down", "skip": "Skip"}
    for res in D.block_resolutions:
        block = getattr(D, f"b{res}")
        for ours, theirs in names.items():
            layer = getattr(block, ours, None)
            if layer is not None:
                v[f"{res}x{res}/{theirs}/weight"] = _conv(layer.weight)
                if layer.bias is not None:
                    v[f"{res}x{res}/{theirs}/bias"] = _np(layer.bias)
    b4 = D.b4
    if hasattr(b4, "fromrgb"):
        v["4x4/FromRGB/weight"], v["4x4/FromRGB/bias"] = (
            _conv(b4.fromrgb.weight),
            _np(b4.fromrgb.bias),
        )
    v["4x4/Conv/weight"], v["4x4/Conv/bias"] = _conv(b4.conv.weight), _np(b4.conv.bias)
    v["4x4/Dense0/weight"], v["4x4/Dense0/bias"] = _dense(b4.fc.weight), _np(b4.fc.bias)
    v["Output/weight"], v["Output/bias"] = _dense(b4.out.weight), _np(b4.out.bias)
    kwargs = dict(
        num_channels=cfg.img_channels,
        resolution=cfg.img_resolution,
        label_size=cfg.c_dim,
        fmap_base=cfg.channel_base // 2,
        fmap_max=cfg.channel_max,
        architecture=cfg.architecture,
        # our 0 = TF None, the whole minibatch (stylegan2-ada only: D_stylegan2 needs a number)
        mbstd_group_size=cfg.mbstd_group_size or None,
        mbstd_num_features=cfg.mbstd_num_channels,
    )
    if cfg.c_dim:
        mapping = D.mapping
        v["LabelEmbed/weight"] = _dense(mapping.embed.weight)
        v["LabelEmbed/bias"] = _np(mapping.embed.bias)
        for i in range(mapping.num_layers):
            fc = getattr(mapping, f"fc{i}")
            v[f"Mapping{i}/weight"], v[f"Mapping{i}/bias"] = _dense(fc.weight), _np(fc.bias)
        kwargs.update(mapping_layers=mapping.num_layers, mapping_fmaps=mapping.w_dim)
        if mapping.num_layers:
            kwargs["mapping_lrmul"] = 0.01  # our label mapping's
    if flavour == "ada":
        kwargs["conv_clamp"] = cfg.conv_clamp
    else:
        assert cfg.conv_clamp is None, "NVlabs/stylegan2 never clamps"
        assert cfg.mbstd_group_size > 1 and not cfg.c_dim, "not expressible in D_stylegan2"
    kwargs.update(extra_kwargs or {})
    return net(tf_state(f"{MODULES[flavour]}.{D_BUILDER[flavour]}", kwargs, v))


def write_tf_snapshot(path, G, D, net, flavour="stylegan2", G_ema=None):
    """(G, D, Gs) as the official TF training loop pickles them."""
    g = export_generator(G, net, flavour)
    gs = export_generator(G_ema if G_ema is not None else G, net, flavour)
    with open(path, "wb") as f:
        pickle.dump((g, export_discriminator(D, net, flavour), gs), f, protocol=3)
    return path
