"""Build pickles with the file structure of official NVIDIA StyleGAN snapshots, from our modules.

The official training loops `pickle.dump` a dict {training_set_kwargs, G, D, G_ema, augment_pipe}
whose networks reduce to `torch_utils.persistence._reconstruct_persistent_obj(meta)` with
meta = {type, version, module_src, class_name, state}; `state` is the module's `__dict__` plus
`_init_args`/`_init_kwargs`, and nested modules are records of their own inside `_modules`.
Tensors pickle through torch's own reducers; kwargs dicts are `dnnlib.util.EasyDict`s.

Here each of our modules (whose class, parameter and buffer names equal the official ones) is
written as such a record. Stand-in modules named `torch_utils.persistence` and `dnnlib.util` are
put into `sys.modules` only while pickling, so that pickle can name those globals; no official
code is involved. The stand-in reconstruct function refuses to run, so these files cannot be
opened with a plain `pickle.load` by accident.
"""

from __future__ import annotations

import contextlib
import copy
import pickle
import sys
import types
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from stylegen.models.discriminator import DiscriminatorConfig
from stylegen.models.stylegan2 import GeneratorConfig
from stylegen.models.stylegan3 import StyleGAN3GeneratorConfig

FAKE_SOURCE = "# stand-in for the official training/networks.py; never executed\n"

# Defaults of the two official code bases where they differ (see interop/nvlabs.py).
FLAVOUR_DEFAULTS = {
    "ada": dict(conv_clamp=None, w_avg_beta=0.995, num_fp16_res=0),
    "sg3": dict(conv_clamp=256, w_avg_beta=0.998, num_fp16_res=4),
}


def _reconstruct_persistent_obj(meta: Any) -> Any:
    raise RuntimeError("fixture pickles are only for stylegen's restricted reader")


_reconstruct_persistent_obj.__module__ = "torch_utils.persistence"


class EasyDict(dict):
    """Named like dnnlib.util.EasyDict so that it pickles under that global."""


EasyDict.__module__ = "dnnlib.util"


@contextlib.contextmanager
def official_names():
    """Make `torch_utils.persistence` and `dnnlib.util` importable while pickling."""
    persistence = types.ModuleType("torch_utils.persistence")
    persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj
    util = types.ModuleType("dnnlib.util")
    util.EasyDict = EasyDict
    fakes = {
        "torch_utils": types.ModuleType("torch_utils"),
        "torch_utils.persistence": persistence,
        "dnnlib": types.ModuleType("dnnlib"),
        "dnnlib.util": util,
    }
    saved = {name: sys.modules.get(name) for name in fakes}
    sys.modules.update(fakes)
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


class Persistent:
    """Pickles exactly like an official persistent object: reconstruct(meta), no extra state."""

    def __init__(self, meta: dict[str, Any]) -> None:
        self.meta = meta

    def __reduce__(self):
        return (_reconstruct_persistent_obj, (self.meta,))

    @property
    def state(self) -> dict[str, Any]:
        return self.meta["state"]

    def child(self, dotted: str) -> Persistent:
        rec = self
        for name in dotted.split("."):
            rec = rec.state["_modules"][name]
        return rec


def record_of(
    module: nn.Module,
    init_kwargs: dict[str, Any] | None = None,
    source: str = FAKE_SOURCE,
    class_name: str | None = None,
) -> Persistent:
    """Our module (and its submodules) as official persistence records."""
    state: dict[str, Any] = {}
    for key, value in module.__dict__.items():
        if key == "config":  # ours only; the official modules keep their kwargs instead
            continue
        if key == "_modules":
            value = OrderedDict(
                (name, None if sub is None else record_of(sub, source=source))
                for name, sub in value.items()
            )
        elif key in ("_parameters", "_buffers"):
            value = OrderedDict(value)
        state[key] = value
    state["_init_args"] = ()
    state["_init_kwargs"] = dict(init_kwargs or {})
    meta = dict(
        type="class",
        version=6,
        module_src=source,
        class_name=class_name or type(module).__name__,
        state=state,
    )
    return Persistent(meta)


def _maybe(out: dict, name: str, value: Any, default: Any, omit_defaults: bool) -> None:
    if not (omit_defaults and value == default):
        out[name] = value


def generator_kwargs(cfg: GeneratorConfig, flavour: str, omit_defaults: bool = False) -> dict:
    """The init kwargs the official Generator of `flavour` ('ada' or 'sg3') would have stored."""
    d = FLAVOUR_DEFAULTS[flavour]
    mapping = EasyDict(num_layers=cfg.mapping_layers)
    _maybe(mapping, "w_avg_beta", cfg.w_avg_beta, d["w_avg_beta"], omit_defaults)
    _maybe(mapping, "lr_multiplier", cfg.mapping_lr_multiplier, 0.01, omit_defaults)
    synth = EasyDict(channel_base=cfg.channel_base, channel_max=cfg.channel_max)
    _maybe(synth, "num_fp16_res", cfg.num_fp16_res, d["num_fp16_res"], omit_defaults)
    _maybe(synth, "conv_clamp", cfg.conv_clamp, d["conv_clamp"], omit_defaults)
    _maybe(synth, "architecture", cfg.architecture, "skip", omit_defaults)
    _maybe(synth, "use_noise", cfg.use_noise, True, True)
    dims = dict(
        z_dim=cfg.z_dim,
        w_dim=cfg.w_dim,
        c_dim=cfg.c_dim,
        img_resolution=cfg.img_resolution,
        img_channels=cfg.img_channels,
    )
    if flavour == "ada":
        return dict(dims, mapping_kwargs=mapping, synthesis_kwargs=synth)
    return dict(dims, mapping_kwargs=mapping, **synth, fused_modconv_default="inference_only")


def discriminator_kwargs(
    cfg: DiscriminatorConfig, flavour: str, omit_defaults: bool = False
) -> dict:
    d = FLAVOUR_DEFAULTS[flavour]
    out = dict(
        c_dim=cfg.c_dim,
        img_resolution=cfg.img_resolution,
        img_channels=cfg.img_channels,
        channel_base=cfg.channel_base,
        channel_max=cfg.channel_max,
    )
    _maybe(out, "architecture", cfg.architecture, "resnet", omit_defaults)
    _maybe(out, "num_fp16_res", cfg.num_fp16_res, d["num_fp16_res"], omit_defaults)
    _maybe(out, "conv_clamp", cfg.conv_clamp, d["conv_clamp"], omit_defaults)
    _maybe(out, "cmap_dim", cfg.cmap_dim, None, True)
    out["block_kwargs"] = EasyDict(freeze_layers=0)
    mapping = EasyDict()
    _maybe(mapping, "num_layers", cfg.mapping_layers, 8, omit_defaults)
    out["mapping_kwargs"] = mapping
    epilogue = EasyDict(mbstd_group_size=cfg.mbstd_group_size)
    _maybe(epilogue, "mbstd_num_channels", cfg.mbstd_num_channels, 1, True)
    out["epilogue_kwargs"] = epilogue
    return out


# networks_stylegan3 signature defaults (facts from the official code).
SG3_DEFAULTS = dict(
    channel_base=32768,
    channel_max=512,
    num_layers=14,
    num_critical=2,
    first_cutoff=2,
    first_stopband=2**2.1,
    last_stopband_rel=2**0.3,
    margin_size=10,
    output_scale=0.25,
    num_fp16_res=4,
    conv_kernel=3,
    filter_size=6,
    lrelu_upsampling=2,
    use_radial_filters=False,
    conv_clamp=256,
    magnitude_ema_beta=0.999,
)


def stylegan3_kwargs(cfg: StyleGAN3GeneratorConfig, omit_defaults: bool = False) -> dict:
    """Init kwargs of an official networks_stylegan3.Generator, flat as train.py passes them."""
    mapping = EasyDict(num_layers=cfg.mapping_layers)
    _maybe(mapping, "w_avg_beta", cfg.w_avg_beta, 0.998, omit_defaults)
    _maybe(mapping, "lr_multiplier", cfg.mapping_lr_multiplier, 0.01, omit_defaults)
    out = dict(
        z_dim=cfg.z_dim,
        w_dim=cfg.w_dim,
        mapping_kwargs=mapping,
        c_dim=cfg.c_dim,
        img_resolution=cfg.img_resolution,
        img_channels=cfg.img_channels,
    )
    for name, default in SG3_DEFAULTS.items():
        _maybe(out, name, getattr(cfg, name), default, omit_defaults)
    return out


def stylegan3_official_attributes(rec: Persistent, G: nn.Module) -> None:
    """Give the records the attributes that only the official modules have (and drop ours)."""
    cfg = G.config
    synthesis = rec.child("synthesis")
    del synthesis.state["specs"]
    synthesis.state.update(
        num_critical=cfg.num_critical, margin_size=cfg.margin_size, num_fp16_res=cfg.num_fp16_res
    )
    # The official modules keep sizes as [width, height] NumPy arrays.
    inp = synthesis.child("input")
    inp.state["size"] = np.broadcast_to(np.asarray(inp.state["size"]), [2])
    for idx, name in enumerate(G.synthesis.layer_names):
        layer = synthesis.child(name)
        rate = G.synthesis.specs[idx].sampling_rate
        layer.state["use_fp16"] = bool(rate * 2**cfg.num_fp16_res > cfg.img_resolution)
        for key in ("in_size", "out_size"):
            layer.state[key] = np.broadcast_to(np.asarray(layer.state[key]), [2])


def stylegan3_record(G: nn.Module, omit_defaults: bool = False) -> Persistent:
    rec = record_of(G, stylegan3_kwargs(G.config, omit_defaults))
    stylegan3_official_attributes(rec, G)
    return rec


def network_record(model: nn.Module, flavour: str = "ada", omit_defaults: bool = False):
    if isinstance(model.config, StyleGAN3GeneratorConfig):
        return stylegan3_record(model, omit_defaults)
    if isinstance(model.config, GeneratorConfig):
        kwargs = generator_kwargs(model.config, flavour, omit_defaults)
    else:
        kwargs = discriminator_kwargs(model.config, flavour, omit_defaults)
    return record_of(model, kwargs)


def snapshot_dict(
    networks: dict[str, nn.Module | Persistent],
    flavour: str = "ada",
    omit_defaults: bool = False,
    resolution: int | None = None,
    use_labels: bool = False,
    augment_pipe: Persistent | None = None,
) -> dict[str, Any]:
    """{training_set_kwargs, G, D, G_ema, augment_pipe} in the official order of each flavour."""
    records = {
        name: net if isinstance(net, Persistent) else network_record(net, flavour, omit_defaults)
        for name, net in networks.items()
    }
    training_set = dict(
        EasyDict(
            class_name="training.dataset.ImageFolderDataset",
            path="/data/faces.zip",
            use_labels=use_labels,
            max_size=1000,
            xflip=False,
            resolution=resolution,
            random_seed=0,
        )
    )
    if flavour == "ada":
        snap: dict[str, Any] = dict(training_set_kwargs=training_set)
        snap.update({k: records.get(k) for k in ("G", "D", "G_ema")})
        snap["augment_pipe"] = augment_pipe
        return snap
    snap = {k: records.get(k) for k in ("G", "D", "G_ema")}
    snap.update(augment_pipe=augment_pipe, training_set_kwargs=training_set)
    return snap


def augment_pipe_record(p: Any) -> Persistent:
    """An official AugmentPipe as pickled: its probability multiplier `p` is a buffer."""
    module = nn.Module()
    module.register_buffer("p", torch.as_tensor(p, dtype=torch.float32))
    return record_of(module, {"xflip": 1, "rotate90": 1, "xint": 1}, class_name="AugmentPipe")


def write_pickle(obj: Any, path: Path, protocol: int = 4) -> Path:
    with official_names(), open(path, "wb") as f:
        pickle.dump(obj, f, protocol=protocol)
    return path


def perturbed(model: nn.Module, seed: int, scale: float = 0.2) -> nn.Module:
    """A copy with every parameter and buffer (but the designed FIR filters) moved off its init."""
    model = copy.deepcopy(model).eval().requires_grad_(False)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith(("resample_filter", "up_filter", "down_filter")):
                continue
            t.add_(torch.randn(t.shape, generator=gen) * scale)
    return model
