"""TensorFlow-era NVIDIA snapshots as our modules, without TensorFlow and without running anything
stored in the file: ProGAN (Karras et al. 2018, "Progressive Growing of GANs"; tkarras/
progressive_growing_of_gans and NVlabs/stylegan's networks_progan) and StyleGAN (Karras et al.
2019, "A Style-Based Generator Architecture for GANs"; NVlabs/stylegan's networks_stylegan).

Those snapshots pickle a tuple (G, D, Gs) of `dnnlib.tflib.network.Network` (ProGAN's own code:
`tfutil.Network`) objects. Unpickling one normally `exec`s the network module source stored in
it. interop/nvlabs.py's restricted unpickler resolves those classes to `TFNetworkRecord` instead,
which keeps the pickled state as data: the builder's name (e.g.
`training.networks_stylegan.G_style`), its keyword arguments, sub-networks (`components`) and the
variables as NumPy arrays; the embedded source is only hashed. Here the records become our
networks (models/progan.py, models/stylegan1.py): the keyword arguments, with the official
signature defaults where absent, become our configs (a setting our modules do not implement is
refused in one line), and each TF variable maps to one of our tensors by name (TF convolution
weights [kh, kw, in, out] and dense weights [in, out] are transposed to PyTorch's layout; the
equalised-learning-rate storage is the same). Every variable must be used and every tensor of
ours filled, with matching shapes. The `lod` variable comes along: a snapshot saved while growing
renders its current resolution, as it did in TensorFlow.

The official "fused" up- and down-sampling convolutions (at 128 pixels and up) store the same
weights as the separate nearest-up-sampling / box-down-sampling + convolution they compute, so
they map to the same tensors. What is not checked here, for want of TensorFlow: the outputs
against the official code's (the tests round-trip our own weights through the TF layout).
StyleGAN2's TF snapshots (networks_stylegan2) are not read: convert those with the official
stylegan2-ada-pytorch `legacy.py`.
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any

import numpy as np
import torch
from torch import nn

from stylegen.errors import UserError

__all__ = ["TF_KINDS", "TFDataError", "TFNetworkRecord", "build_network", "tf_kind"]

# builder function (last dotted part) -> what we build from it
TF_KINDS = {
    "G_style": "stylegan1.Generator",
    "D_basic": "stylegan1.Discriminator",
    "G_paper": "progan.Generator",
    "D_paper": "progan.Discriminator",
}
STYLEGAN2_TF = ("G_main", "D_stylegan2")
STATE_VERSIONS = (2, 3, 4, 5)  # tfutil (ProGAN) 2; dnnlib.tflib 3-5


class TFDataError(Exception):
    """Structurally bad data inside the pickle (interop/nvlabs.py words the message)."""


class TFNetworkRecord:
    """A pickled TF `Network` as data: name, builder name, kwargs, components, variables.

    The unpickler makes it with `__new__` alone and fills it from the pickled state with
    `__setstate__` (which only stores data)."""

    version: int | None = None
    name: str = ""
    build_func_name: str = ""
    source_sha256: str = ""
    static_kwargs: dict[str, Any]
    components: dict[str, TFNetworkRecord]
    variables: dict[str, np.ndarray]

    def __setstate__(self, state: Any) -> None:
        if "version" in self.__dict__:
            raise TFDataError("a TF network record built twice")
        if not isinstance(state, dict):
            raise TFDataError("a TF network whose state is not a dict")
        version = state.get("version")
        if version not in STATE_VERSIONS:
            raise TFDataError(f"a TF network of state version {version!r}")
        name, func = state.get("name"), state.get("build_func_name")
        kwargs, source = state.get("static_kwargs"), state.get("build_module_src")
        components = state.get("components") or {}
        if not (isinstance(name, str) and isinstance(func, str) and isinstance(source, str)):
            raise TFDataError("a TF network without a name, builder name or source text")
        if not isinstance(kwargs, dict) or not isinstance(components, dict):
            raise TFDataError("a TF network whose kwargs or components are not dicts")
        if not all(isinstance(c, TFNetworkRecord) for c in components.values()):
            raise TFDataError("a TF network whose components are not networks")
        variables = state.get("variables")
        if not isinstance(variables, (list, tuple)):
            raise TFDataError("a TF network whose variables are not a list")
        values: dict[str, np.ndarray] = {}
        for item in variables:
            if not (
                isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str)
            ):
                raise TFDataError("a TF variable that is not a (name, value) pair")
            values[item[0]] = _array(item[1])
        self.version = version
        self.name, self.build_func_name = name, func
        self.static_kwargs = dict(kwargs)
        self.components = dict(components)
        self.variables = values
        self.source_sha256 = hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()

    @property
    def builder(self) -> str:
        return self.build_func_name.rsplit(".", 1)[-1]


def _array(value: Any) -> np.ndarray:
    """A variable's value: an unpickled NumPy array (its `.value`) or a plain number."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return np.asarray(value, dtype=np.float32)
    array = getattr(value, "value", None)
    if isinstance(array, np.ndarray) and array.dtype.kind in "fiu":
        return array
    raise TFDataError("a TF variable that is not numeric")


def tf_kind(record: TFNetworkRecord) -> str:
    """'<family>.<class>' we build from a TF network record, or its builder's name."""
    return TF_KINDS.get(record.builder, f"tensorflow.{record.builder}")


# ---------------------------------------------------------------------------------------------
# kwargs -> configs


class _Kw:
    """A TF network's static kwargs read with the official signature defaults."""

    def __init__(self, record: TFNetworkRecord, where: str) -> None:
        self.kw = record.static_kwargs
        self.where = where

    def get(self, name: str, default: Any) -> Any:
        return self.kw.get(name, default)

    def need(self, name: str, default: Any, ok: Any, what: str | None = None) -> Any:
        """A kwarg that our modules implement for the value(s) `ok` only."""
        value = self.kw.get(name, default)
        allowed = ok if isinstance(ok, list) else [ok]
        if value not in allowed:
            raise UserError(
                f"{self.where}: {name}={value!r} is not supported "
                f"({what or 'stylegen implements ' + ' or '.join(map(repr, allowed))})"
            )
        return value

    def int(self, name: str, default: int) -> int:
        value = self.kw.get(name, default)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise UserError(f"{self.where}: {name}={value!r} is not a non-negative integer")
        return value


def _common(kw: _Kw, res_default: int, channels_default: int) -> dict[str, Any]:
    res = kw.int("resolution", res_default)
    fmap_base = kw.int("fmap_base", 8192)
    kw.need("fmap_decay", 1.0, [1.0, 1], "only fmap_decay 1")
    kw.need("use_wscale", True, True)
    return dict(
        img_resolution=res,
        img_channels=kw.int("num_channels", channels_default),
        c_dim=kw.int("label_size", 0),
        channel_base=2 * fmap_base,  # our channels(r) = min(2 * fmap_base / r, fmap_max)
        channel_max=kw.int("fmap_max", 512),
    )


def _stylegan1_generator(record: TFNetworkRecord, where: str) -> nn.Module:
    from stylegen.models.stylegan1 import Generator, StyleGAN1GeneratorConfig

    kw = _Kw(record, where)
    common = _common(kw, 1024, 3)
    w_dim = kw.int("dlatent_size", 512)
    kw.need("mapping_fmaps", 512, w_dim, "the mapping's width must equal dlatent_size")
    for name in ("use_styles", "const_input_layer", "use_instance_norm", "normalize_latents"):
        kw.need(name, True, True)
    kw.need("use_pixel_norm", False, False)
    kw.need("nonlinearity", "lrelu", "lrelu")
    kw.need("mapping_nonlinearity", "lrelu", "lrelu")
    blur = kw.need("blur_filter", [1, 2, 1], [[1, 2, 1], None])
    cutoff = kw.get("truncation_cutoff", 8)
    beta = kw.get("dlatent_avg_beta", 0.995)
    cfg = StyleGAN1GeneratorConfig(
        z_dim=kw.int("latent_size", 512),
        w_dim=w_dim,
        mapping_layers=kw.int("mapping_layers", 8),
        mapping_lr_multiplier=float(kw.get("mapping_lrmul", 0.01)),
        w_avg_beta=float(beta) if beta is not None else 0.995,
        use_noise=bool(kw.get("use_noise", True)),
        blur=blur is not None,
        truncation_cutoff=cutoff if isinstance(cutoff, int) and cutoff > 0 else None,
        **common,
    )
    return Generator(cfg)


def _progan_generator(record: TFNetworkRecord, where: str) -> nn.Module:
    from stylegen.models.progan import Generator, ProGANGeneratorConfig

    kw = _Kw(record, where)
    common = _common(kw, 32, 1)
    kw.need("normalize_latents", True, True)
    kw.need("use_leakyrelu", True, True)
    kw.need("pixelnorm_epsilon", 1e-8, 1e-8)
    latent = kw.get("latent_size", None)
    if latent is None:
        latent = min(common["channel_base"] // 2, common["channel_max"])  # official nf(0)
    cfg = ProGANGeneratorConfig(
        z_dim=int(latent), use_pixelnorm=bool(kw.get("use_pixelnorm", True)), **common
    )
    return Generator(cfg)


def _discriminator(record: TFNetworkRecord, where: str, blur: bool) -> nn.Module:
    from stylegen.models.progan import Discriminator, ProGANDiscriminatorConfig

    kw = _Kw(record, where)
    common = _common(kw, 32, 1)
    if blur:
        kw.need("nonlinearity", "lrelu", "lrelu")
        blur = kw.need("blur_filter", [1, 2, 1], [[1, 2, 1], None]) is not None
    elif common["c_dim"]:
        raise UserError(
            f"{where}: a conditional ProGAN discriminator (its AC-GAN label outputs) is not "
            "supported; convert the generator (G or Gs) instead"
        )
    cfg = ProGANDiscriminatorConfig(
        mbstd_group_size=kw.int("mbstd_group_size", 4),
        mbstd_num_channels=kw.int("mbstd_num_features", 1),
        blur=blur,
        **common,
    )
    return Discriminator(cfg)


# ---------------------------------------------------------------------------------------------
# TF variable names -> our state_dict names


def _conv(a: np.ndarray) -> torch.Tensor:  # [kh, kw, in, out] -> [out, in, kh, kw]
    return torch.from_numpy(a.transpose(3, 2, 0, 1).copy(order="C"))


def _dense(a: np.ndarray) -> torch.Tensor:  # [in, out] -> [out, in]
    return torch.from_numpy(a.T.copy(order="C"))


def _same(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a.copy(order="C"))


def _squeeze_to(dims: int):
    """Drop leading size-1 axes down to `dims` axes (const [1, C, 4, 4], noise [1, 1, r, r])."""

    def convert(a: np.ndarray) -> torch.Tensor:
        while a.ndim > dims and a.shape[0] == 1:
            a = a[0]
        return _same(a)

    return convert


_LAYER = {"weight": ("conv.weight", _conv), "bias": ("bias", _same)}
_STYLE = {
    "Noise/weight": ("noise_strength", _same),
    "StyleMod/weight": ("affine.weight", _dense),
    "StyleMod/bias": ("affine.bias", _same),
}


def _synthesis_name(name: str, img_resolution: int) -> tuple[str, Any] | None:
    m = re.fullmatch(r"(\d+)x\1/(Const|Conv|Conv0_up|Conv1)/(.+)", name)
    if m:
        res, layer, rest = int(m.group(1)), m.group(2), m.group(3)
        slot = "conv0" if layer in ("Const", "Conv0_up") else "conv1"
        if layer == "Const" and rest == "const":
            return f"b{res}.const", _squeeze_to(3)
        target = {**_LAYER, **_STYLE}.get(rest)
        if target is None or (layer == "Const" and rest == "weight"):
            return None
        return f"b{res}.{slot}.{target[0]}", target[1]
    m = re.fullmatch(r"ToRGB_lod(\d+)/(weight|bias)", name)
    if m:
        res = img_resolution >> int(m.group(1))
        return f"b{res}.to_rgb.{m.group(2)}", _conv if m.group(2) == "weight" else _same
    m = re.fullmatch(r"noise(\d+)", name)
    if m:
        i = int(m.group(1))
        return f"b{4 << (i // 2)}.conv{i % 2}.noise_const", _squeeze_to(2)
    if name == "lod":
        return "lod", _same
    return None


def _mapping_name(name: str) -> tuple[str, Any] | None:
    m = re.fullmatch(r"Dense(\d+)/(weight|bias)", name)
    if m:
        return f"fc{m.group(1)}.{m.group(2)}", _dense if m.group(2) == "weight" else _same
    if name == "LabelConcat/weight":
        return "embed", _same
    return None


def _progan_g_name(name: str, img_resolution: int) -> tuple[str, Any] | None:
    m = re.fullmatch(r"4x4/Dense/(weight|bias)", name)
    if m:
        return ("b4.dense.weight", _dense) if m.group(1) == "weight" else ("b4.bias", _same)
    m = re.fullmatch(r"(\d+)x\1/(Conv|Conv0_up|Conv0|Conv1)/(weight|bias)", name)
    if m:
        res, layer, what = int(m.group(1)), m.group(2), m.group(3)
        slot = {"Conv": "conv", "Conv0_up": "conv0", "Conv0": "conv0", "Conv1": "conv1"}[layer]
        return f"b{res}.{slot}.{what}", _conv if what == "weight" else _same
    m = re.fullmatch(r"ToRGB_lod(\d+)/(weight|bias)", name)
    if m:
        res = img_resolution >> int(m.group(1))
        return f"b{res}.to_rgb.{m.group(2)}", _conv if m.group(2) == "weight" else _same
    return ("lod", _same) if name == "lod" else None


def _discriminator_name(name: str, img_resolution: int) -> tuple[str, Any] | None:
    m = re.fullmatch(r"FromRGB_lod(\d+)/(weight|bias)", name)
    if m:
        res = img_resolution >> int(m.group(1))
        return f"b{res}.from_rgb.{m.group(2)}", _conv if m.group(2) == "weight" else _same
    m = re.fullmatch(r"(\d+)x\1/(Conv0|Conv1_down|Conv1|Conv|Dense0|Dense1)/(weight|bias)", name)
    if m:
        res, layer, what = int(m.group(1)), m.group(2), m.group(3)
        slot = {"Conv0": "conv0", "Conv1_down": "conv1", "Conv1": "conv1", "Conv": "conv"}
        slot |= {"Dense0": "fc", "Dense1": "out"}
        if (res == 4) != (layer in ("Conv", "Dense0", "Dense1")):
            return None
        dense = layer.startswith("Dense")
        convert = (_dense if dense else _conv) if what == "weight" else _same
        return f"b{res}.{slot[layer]}.{what}", convert
    return ("lod", _same) if name == "lod" else None


def _state(record: TFNetworkRecord, kind: str, res: int, where: str) -> dict[str, torch.Tensor]:
    """Our state_dict from the record's variables (and its components')."""
    sources: list[tuple[str, dict[str, np.ndarray], Any]] = []
    if kind == "stylegan1.Generator":
        synthesis, mapping = record.components.get("synthesis"), record.components.get("mapping")
        if synthesis is None or mapping is None:
            raise UserError(f"{where}: a StyleGAN generator without its synthesis and mapping")
        own = {"dlatent_avg": ("mapping.w_avg", _same)}
        sources.append(("", record.variables, own.get))
        sources.append(("synthesis.", synthesis.variables, lambda n: _synthesis_name(n, res)))
        sources.append(("mapping.", mapping.variables, _mapping_name))
    elif kind == "progan.Generator":
        sources.append(("", record.variables, lambda n: _progan_g_name(n, res)))
    else:
        sources.append(("", record.variables, lambda n: _discriminator_name(n, res)))
    tensors: dict[str, torch.Tensor] = {}
    for prefix, variables, name_of in sources:
        for name, value in variables.items():
            if prefix == "" and kind == "stylegan1.Generator" and name == "lod":
                continue  # G_style's copy of the synthesis lod (the same value)
            target = name_of(name)
            if target is None:
                raise UserError(
                    f"{where}: TF variable {prefix.replace('.', '/')}{name} has no counterpart "
                    "in our network; the snapshot uses settings stylegen does not implement"
                )
            ours, convert = target
            tensors[prefix + ours] = convert(np.asarray(value, dtype=np.float32))
    return tensors


def _load(model: nn.Module, tensors: dict[str, torch.Tensor], where: str) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    shapes = [
        f"{k} {tuple(tensors[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in tensors and tensors[k].shape != v.shape
    ]
    if missing or unexpected or shapes:
        raise UserError(
            f"{where}: weights do not match its settings (missing {missing[:3]}, unexpected "
            f"{unexpected[:3]}, wrong shape {shapes[:3]}); the snapshot is inconsistent"
        )
    bad = [k for k, v in tensors.items() if not torch.isfinite(v).all()]
    if bad:
        raise UserError(f"{where}: {bad[0]} holds non-finite values")
    with torch.no_grad():
        model.load_state_dict(tensors)


def build_network(record: TFNetworkRecord, where: str) -> nn.Module:
    """Our module with the weights of a TF network record, in eval mode, on the CPU."""
    kind = tf_kind(record)
    if record.builder in STYLEGAN2_TF:
        raise UserError(
            f"{where} is a TensorFlow StyleGAN2 network ({record.build_func_name}); convert it "
            "first with the official stylegan2-ada-pytorch code (`python legacy.py "
            "--source=IN.pkl --dest=converted.pkl`) and pass converted.pkl"
        )
    builders = {
        "stylegan1.Generator": _stylegan1_generator,
        "progan.Generator": _progan_generator,
        "stylegan1.Discriminator": lambda r, w: _discriminator(r, w, blur=True),
        "progan.Discriminator": lambda r, w: _discriminator(r, w, blur=False),
    }
    if kind not in builders:
        supported = ", ".join(f"{k} ({v})" for k, v in TF_KINDS.items())
        raise UserError(
            f"{where} was built by {record.build_func_name!r}, which stylegen cannot read "
            f"(supported TF builders: {supported})"
        )
    try:
        model = builders[kind](record, where)
    except UserError:
        raise
    except (TypeError, ValueError, AssertionError) as exc:
        raise UserError(f"{where}: its settings do not build a network ({exc})") from None
    _load(model, _state(record, kind, model.img_resolution, where), where)
    lod = float(getattr(model, "synthesis", model).lod)
    if not (math.isfinite(lod) and lod >= 0):
        raise UserError(f"{where}: level of detail {lod} is not a number >= 0")
    return model.eval().requires_grad_(False)
