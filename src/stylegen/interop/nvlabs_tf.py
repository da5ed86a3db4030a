"""TensorFlow-era NVIDIA snapshots as our modules, without TensorFlow and without running anything
stored in the file: ProGAN (Karras et al. 2018, "Progressive Growing of GANs"; tkarras/
progressive_growing_of_gans and NVlabs/stylegan's networks_progan), StyleGAN (Karras et al.
2019, "A Style-Based Generator Architecture for GANs"; NVlabs/stylegan's networks_stylegan) and
StyleGAN2 (below).

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

StyleGAN2 (Karras et al. 2020): NVlabs/stylegan2's networks_stylegan2 (G_main with components
`mapping` = G_mapping and `synthesis` = G_synthesis_stylegan2, configs E-F; D_stylegan2) and the
TF NVlabs/stylegan2-ada's networks (G_main / G_mapping / G_synthesis, D_main) become our
models/stylegan2.py Generator and models/discriminator.py Discriminator, whose names follow the
official PyTorch port. The facts of the mapping: modulation weights `mod_weight` are dense
layers and `mod_bias` gets + 1 (TF adds the 1 at run time, PyTorch keeps it in the bias); G's
up-sampling convolutions (`Conv0_up`, `Skip`) are spatially flipped (TF's transposed convolution
holds the kernel flipped relative to PyTorch's), D's down-sampling ones are not; `noiseN`
[1, 1, r, r] is the noise constant of conv layer N; `dlatent_avg` is `w_avg`; the constant drops
its batch axis. Conditioning is stylegan2-ada's: G's `LabelEmbed` and D's `LabelEmbed` +
`MappingN` + a projection output; NVlabs/stylegan2's (LabelConcat before the normalisation, D
projecting onto the raw labels) is refused, as are configs B-D (G_synthesis_stylegan_revised).
Settings absent from the kwargs take the builder's own signature default, which for two of them
differs between the code bases: the mapping's hidden width (stylegan2: 512, ada: dlatent_size)
and D's minibatch-std group (stylegan2: 4, ada: the whole minibatch). The official legacy.py
takes ada's defaults for both; with a batch of at most 4 the group setting gives the same
logits. Every kwarg must be known (the TF builders swallow unknown ones, so an unknown name
means code whose effect we cannot tell); those without effect on float32 inference (run-time
truncation/noise defaults, precision, training switches) are ignored. The conversion is checked
against the official legacy.py run with the official PyTorch code
(tests/interop/test_nvlabs_official_live.py): images and logits within 1e-4.
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
    "G_main": "stylegan2.Generator",  # NVlabs/stylegan2 and the TF stylegan2-ada
    "D_stylegan2": "stylegan2.Discriminator",  # NVlabs/stylegan2
    "D_main": "stylegan2.Discriminator",  # TF stylegan2-ada
}
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
        self.used: set[str] = set()  # for finish(): every kwarg must be read or ignored

    def get(self, name: str, default: Any) -> Any:
        self.used.add(name)
        return self.kw.get(name, default)

    def need(self, name: str, default: Any, ok: Any, what: str | None = None) -> Any:
        """A kwarg that our modules implement for the value(s) `ok` only."""
        value = self.get(name, default)
        allowed = ok if isinstance(ok, list) else [ok]
        if value not in allowed:
            raise UserError(
                f"{self.where}: {name}={value!r} is not supported "
                f"({what or 'stylegen implements ' + ' or '.join(map(repr, allowed))})"
            )
        return value

    def int(self, name: str, default: int) -> int:
        value = self.get(name, default)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise UserError(f"{self.where}: {name}={value!r} is not a non-negative integer")
        return value

    def number(self, name: str, default: float | None, none_ok: bool = False) -> float | None:
        value = self.get(name, default)
        if value is None and none_ok:
            return None
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
            raise UserError(f"{self.where}: {name}={value!r} is not a positive number")
        return float(value)

    def ignore(self, *names: str) -> None:
        self.used.update(names)

    def finish(self) -> None:
        """Refuse kwargs nobody read: the TF builders swallow unknown ones (`**_kwargs`), so
        an unknown name means code stylegen does not know, whose effect we cannot tell."""
        unknown = sorted(str(k) for k in self.kw if k not in self.used)
        if unknown:
            raise UserError(
                f"{self.where}: unknown TF kwarg(s) {', '.join(unknown)}; the network was built "
                "by code stylegen does not know, so it is not converted"
            )


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


# ---------------------------------------------------------------------------------------------
# StyleGAN2: NVlabs/stylegan2 (training/networks_stylegan2.py, "stylegan2") and the TF
# NVlabs/stylegan2-ada (training/networks.py, "ada"). Both pickle G as G_main with components
# `mapping` (G_mapping) and `synthesis`; they differ in a few defaults and in conditioning.

SG2_SYNTHESIS = {"G_synthesis_stylegan2": "stylegan2", "G_synthesis": "ada"}
SG2_DISCRIMINATORS = {"D_stylegan2": "stylegan2", "D_main": "ada"}
_FIR_1331 = [1, 3, 3, 1]  # the only resampling filter our StyleGAN2 modules implement
# G kwargs without effect on our float32 inference: the TF graph's own truncation/noise/run
# defaults (our callers pass truncation_psi and noise_mode), training-only switches and
# precision (we always compute in float32, as the official PyTorch code does on a CPU).
_SG2_G_MOOT = (
    "truncation_psi",
    "truncation_cutoff",
    "truncation_psi_val",
    "truncation_cutoff_val",
    "style_mixing_prob",
    "is_training",
    "is_validation",
    "return_dlatents",
    "is_template_graph",
    "force_clean_graph",
    "randomize_noise",
    "fused_modconv",
    "dtype",
    "num_fp16_res",
    "structure",  # progressive-growing structure of StyleGAN (2019); unused by StyleGAN2
    "mapping_func",  # the components' builders are checked by name instead
    "synthesis_func",
    "dlatent_broadcast",
)
# D kwargs without effect on our inference: training-only and precision settings.
_SG2_D_MOOT = ("dtype", "num_fp16_res", "freeze_layers", "augment_strength", "structure")
_SG2_D_MOOT += ("is_template_graph", "pagan_num", "pagan_fade")


def _sg2_channels(kw: _Kw, res: int) -> tuple[int, int]:
    """(fmap_base, fmap_max), refusing capacity settings our channel formula cannot express."""
    fmap_base, fmap_max = kw.int("fmap_base", 16384), kw.int("fmap_max", 512)
    kw.need("fmap_decay", 1, [1, 1.0], "only fmap_decay 1")
    fmap_min = kw.int("fmap_min", 1)
    # TF nf(stage) = clip(fmap_base / 2**stage, fmap_min, fmap_max); ours has no lower clip
    smallest = min(fmap_base >> (int(math.log2(max(res, 4))) - 1), fmap_max)
    if fmap_min > max(smallest, 1):
        raise UserError(f"{kw.where}: fmap_min={fmap_min} is not supported (must not bind)")
    return fmap_base, fmap_max


def _nf(stage: int, fmap_base: int, fmap_max: int) -> int:
    return min(int(fmap_base / 2.0**stage), fmap_max)


def _resample_kernel(kw: _Kw) -> None:
    value = kw.get("resample_kernel", _FIR_1331)
    if not (isinstance(value, (list, tuple)) and list(value) == _FIR_1331):
        raise UserError(
            f"{kw.where}: resample_kernel={value!r} is not supported (stylegen implements "
            "[1, 3, 3, 1])"
        )


def _conv_clamp(kw: _Kw) -> float | None:
    return kw.number("conv_clamp", None, none_ok=True)


def _sg2_components(
    record: TFNetworkRecord, where: str
) -> tuple[str, TFNetworkRecord, TFNetworkRecord]:
    """(flavour, synthesis, mapping) of a G_main record, with their builders checked."""
    synthesis, mapping = record.components.get("synthesis"), record.components.get("mapping")
    if synthesis is None or mapping is None or set(record.components) != {"synthesis", "mapping"}:
        raise UserError(
            f"{where}: a StyleGAN2 generator needs exactly the components synthesis and mapping "
            f"(it has: {', '.join(sorted(record.components)) or 'none'}); it is malformed"
        )
    flavour = SG2_SYNTHESIS.get(synthesis.builder)
    if flavour is None:
        raise UserError(
            f"{where}: its synthesis network {synthesis.build_func_name!r} is not supported "
            "(stylegen reads G_synthesis_stylegan2, configs E-F, and stylegan2-ada's "
            "G_synthesis)"
        )
    if mapping.builder != "G_mapping":
        raise UserError(f"{where}: mapping network {mapping.build_func_name!r} is not supported")
    if "LabelConcat/weight" in mapping.variables:
        raise UserError(
            f"{where}: label conditioning by LabelConcat (NVlabs/stylegan2's mapping) is not "
            "supported; stylegen reads the LabelEmbed conditioning of stylegan2-ada"
        )
    return flavour, synthesis, mapping


def _stylegan2_generator(record: TFNetworkRecord, where: str) -> nn.Module:
    from stylegen.models.stylegan2 import Generator, GeneratorConfig

    flavour, _, _ = _sg2_components(record, where)
    kw = _Kw(record, where)
    res = kw.int("resolution", 1024)
    fmap_base, fmap_max = _sg2_channels(kw, res)
    z_dim, w_dim = kw.int("latent_size", 512), kw.int("dlatent_size", 512)
    c_dim = kw.int("label_size", 0)
    kw.need("fmap_const", None, [None, _nf(1, fmap_base, fmap_max)], "only fmap_const None")
    # Hidden mapping widths: NVlabs/stylegan2 defaults to 512, stylegan2-ada to dlatent_size.
    kw.need(
        "mapping_fmaps",
        512 if flavour == "stylegan2" else None,
        [None, w_dim],
        f"the mapping's width must equal dlatent_size {w_dim}",
    )
    label_fmaps = kw.get("label_fmaps", None)
    if c_dim and (z_dim if label_fmaps is None else label_fmaps) != w_dim:
        raise UserError(
            f"{where}: label_fmaps={label_fmaps!r} (latent_size {z_dim} when None) is not "
            f"supported (stylegen embeds labels to dlatent_size {w_dim})"
        )
    kw.need("normalize_latents", True, True)
    kw.need("mapping_nonlinearity", "lrelu", "lrelu")
    kw.need("nonlinearity", "lrelu", "lrelu")
    _resample_kernel(kw)
    beta = kw.get("dlatent_avg_beta", 0.995)  # None: W's average is frozen, like beta 1
    kw.ignore(*_SG2_G_MOOT)
    cfg = dict(
        z_dim=z_dim,
        c_dim=c_dim,
        w_dim=w_dim,
        img_resolution=res,
        img_channels=kw.int("num_channels", 3),
        mapping_layers=kw.int("mapping_layers", 8),
        mapping_lr_multiplier=kw.number("mapping_lrmul", 0.01),
        w_avg_beta=1.0 if beta is None else beta,
        channel_base=2 * fmap_base,  # our channels(r) = min(2 * fmap_base / r, fmap_max)
        channel_max=fmap_max,
        architecture=kw.need("architecture", "skip", ["orig", "skip", "resnet"]),
        conv_clamp=_conv_clamp(kw),  # stylegan2-ada only; NVlabs/stylegan2 never clamps
        use_noise=kw.need("use_noise", True, [True, False]),  # stylegan2-ada only
    )
    kw.finish()
    return Generator(_sg2_config(GeneratorConfig, cfg, where))


def _stylegan2_discriminator(record: TFNetworkRecord, where: str) -> nn.Module:
    from stylegen.models.discriminator import Discriminator, DiscriminatorConfig

    flavour = SG2_DISCRIMINATORS[record.builder]
    kw = _Kw(record, where)
    res = kw.int("resolution", 1024)
    fmap_base, fmap_max = _sg2_channels(kw, res)
    nf0, nf1 = _nf(0, fmap_base, fmap_max), _nf(1, fmap_base, fmap_max)
    if nf0 != nf1:  # TF Dense0 is nf(0) wide, the PyTorch epilogue's fc nf(1)
        raise UserError(
            f"{where}: fmap_base={fmap_base} with fmap_max={fmap_max} is not supported (its 4x4 "
            f"Dense0 is {nf0} wide, stylegen's and the PyTorch port's {nf1}); needs "
            "fmap_base >= 2 * fmap_max"
        )
    c_dim = kw.int("label_size", 0)
    kw.need("nonlinearity", "lrelu", "lrelu")
    _resample_kernel(kw)
    if flavour == "stylegan2":
        if c_dim:
            raise UserError(
                f"{where}: label_size={c_dim} is not supported for D_stylegan2 (its output "
                "projects onto the raw labels); stylegen reads stylegan2-ada's conditional D"
            )
        group = kw.int("mbstd_group_size", 4)
        features = kw.int("mbstd_num_features", 1) if group > 1 else 0  # it skips mbstd then
        if group <= 1:
            group = 0
    else:
        group = kw.get("mbstd_group_size", None)  # None: the whole minibatch, our 0
        if group is not None:
            group = kw.int("mbstd_group_size", 0)
        group = group or 0
        features = kw.int("mbstd_num_features", 1)
        kw.need("use_pagan", False, False)
        kw.need("use_spectral_norm", False, False)
        kw.need("adaptive_dropout", 0, [0, 0.0])
        kw.need("score_size", 1, 1)
        kw.need("score_max", 1, 1)
    mapping_layers = kw.int("mapping_layers", 0)
    mapping_fmaps = kw.get("mapping_fmaps", None)
    lrmul = kw.get("mapping_lrmul", 0.1)
    if c_dim and mapping_layers and lrmul != 0.01:
        raise UserError(
            f"{where}: mapping_lrmul={lrmul!r} with mapping_layers={mapping_layers} is not "
            "supported (stylegen's label mapping uses 0.01)"
        )
    kw.ignore(*_SG2_D_MOOT)
    cfg = dict(
        c_dim=c_dim,
        img_resolution=res,
        img_channels=kw.int("num_channels", 3),
        architecture=kw.need("architecture", "resnet", ["orig", "skip", "resnet"]),
        channel_base=2 * fmap_base,
        channel_max=fmap_max,
        conv_clamp=_conv_clamp(kw),
        cmap_dim=nf0 if mapping_fmaps is None else mapping_fmaps,
        mapping_layers=mapping_layers,
        mbstd_group_size=group,
        mbstd_num_channels=features,
    )
    kw.finish()
    return Discriminator(_sg2_config(DiscriminatorConfig, cfg, where))


def _sg2_config(cls: type, values: dict[str, Any], where: str) -> Any:
    try:
        return cls(**values).validate()
    except UserError as exc:
        raise UserError(f"{where}: {exc}") from None


def _mod(name: str) -> tuple[str, Any] | None:
    """A modulated layer's variable -> (our suffix, converter)."""
    return {
        "weight": ("weight", _conv),
        "bias": ("bias", _same),
        "noise_strength": ("noise_strength", _same),
        "mod_weight": ("affine.weight", _dense),
        "mod_bias": ("affine.bias", _plus_one),
    }.get(name)


def _plus_one(a: np.ndarray) -> torch.Tensor:
    # TF adds the 1 after the bias (style = dense(w) + mod_bias + 1); ours is in the bias
    return _same(a + np.float32(1))


def _conv_flipped(a: np.ndarray) -> torch.Tensor:
    # TF's up-sampling convolution (conv2d_transpose) holds the kernel spatially flipped
    # relative to the PyTorch transposed convolution our up-sampling layers run
    return _conv(a[::-1, ::-1])


_SG2_G_LAYERS = {"Conv": "conv1", "Conv0_up": "conv0", "Conv1": "conv1", "ToRGB": "torgb"}


def _stylegan2_synthesis_name(name: str) -> tuple[str, Any] | None:
    if name == "4x4/Const/const":
        return "b4.const", _squeeze_to(3)
    m = re.fullmatch(r"(\d+)x\1/(Conv|Conv0_up|Conv1|ToRGB)/(\w+)", name)
    if m:
        res, layer, what = int(m.group(1)), m.group(2), m.group(3)
        target = _mod(what)
        conv_at_4 = layer == "Conv" if layer != "ToRGB" else res == 4
        if (
            target is None
            or conv_at_4 != (res == 4)
            or (layer, what) == ("ToRGB", "noise_strength")
        ):
            return None  # 4x4 has Conv, the others Conv0_up and Conv1; ToRGB has no noise
        convert = _conv_flipped if (layer, what) == ("Conv0_up", "weight") else target[1]
        return f"b{res}.{_SG2_G_LAYERS[layer]}.{target[0]}", convert
    m = re.fullmatch(r"(\d+)x\1/Skip/weight", name)
    if m and int(m.group(1)) > 4:
        return f"b{m.group(1)}.skip.weight", _conv_flipped
    m = re.fullmatch(r"noise(\d+)", name)
    if m:  # one per conv layer but the last ToRGB: layer i runs at 2**((i + 5) // 2) pixels
        i = int(m.group(1))
        slot = "conv1" if i % 2 == 0 else "conv0"
        return f"b{2 ** ((i + 5) // 2)}.{slot}.noise_const", _squeeze_to(2)
    return None


def _stylegan2_mapping_name(name: str) -> tuple[str, Any] | None:
    m = re.fullmatch(r"(Dense\d+|LabelEmbed)/(weight|bias)", name)
    if m:
        layer = "embed" if m.group(1) == "LabelEmbed" else f"fc{m.group(1)[5:]}"
        return f"{layer}.{m.group(2)}", _dense if m.group(2) == "weight" else _same
    return None


_SG2_D_LAYERS = {"FromRGB": "fromrgb", "Conv0": "conv0", "Conv1_down": "conv1", "Skip": "skip"}
_SG2_D_LAYERS |= {"Conv": "conv", "Dense0": "fc"}


def _stylegan2_d_name(name: str) -> tuple[str, Any] | None:
    m = re.fullmatch(r"(\d+)x\1/(FromRGB|Conv0|Conv1_down|Skip|Conv|Dense0)/(weight|bias)", name)
    if m:
        res, layer, what = int(m.group(1)), m.group(2), m.group(3)
        if layer != "FromRGB" and (layer in ("Conv", "Dense0")) != (res == 4):
            return None
        convert = (_dense if layer == "Dense0" else _conv) if what == "weight" else _same
        return f"b{res}.{_SG2_D_LAYERS[layer]}.{what}", convert
    m = re.fullmatch(r"(Output|LabelEmbed|Mapping\d+)/(weight|bias)", name)
    if m:
        layer = {"Output": "b4.out", "LabelEmbed": "mapping.embed"}.get(m.group(1))
        layer = layer or f"mapping.fc{m.group(1)[7:]}"
        return f"{layer}.{m.group(2)}", _dense if m.group(2) == "weight" else _same
    return None


_UNUSED = ("", None)  # a variable read but not loaded (it does nothing in the network)


def _stylegan2_g_main_name(name: str) -> tuple[str, Any] | None:
    if name == "dlatent_avg":
        return "mapping.w_avg", _same
    # NVlabs/stylegan2's G_main keeps StyleGAN's lod variable; G_synthesis_stylegan2 has no
    # progressive growing, so it only ever limited style mixing during training
    return _UNUSED if name == "lod" else None


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
    elif kind == "stylegan2.Generator":
        _, synthesis, mapping = _sg2_components(record, where)
        sources.append(("", record.variables, _stylegan2_g_main_name))
        sources.append(("synthesis.", synthesis.variables, _stylegan2_synthesis_name))
        sources.append(("mapping.", mapping.variables, _stylegan2_mapping_name))
    elif kind == "stylegan2.Discriminator":
        sources.append(("", record.variables, _stylegan2_d_name))
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
            if convert is None:
                continue  # _UNUSED
            if prefix + ours in tensors:
                raise UserError(
                    f"{where}: TF variable {prefix.replace('.', '/')}{name} fills {prefix + ours} "
                    "a second time; the snapshot is malformed"
                )
            array = np.asarray(value, dtype=np.float32)
            try:
                tensors[prefix + ours] = convert(array)
            except (ValueError, IndexError):  # a layout transpose of the wrong rank
                raise UserError(
                    f"{where}: TF variable {prefix.replace('.', '/')}{name} has shape "
                    f"{tuple(array.shape)}, which does not fit {prefix + ours}; the snapshot is "
                    "malformed"
                ) from None
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
    builders = {
        "stylegan1.Generator": _stylegan1_generator,
        "progan.Generator": _progan_generator,
        "stylegan1.Discriminator": lambda r, w: _discriminator(r, w, blur=True),
        "progan.Discriminator": lambda r, w: _discriminator(r, w, blur=False),
        "stylegan2.Generator": _stylegan2_generator,
        "stylegan2.Discriminator": _stylegan2_discriminator,
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
    tensors = _state(record, kind, model.img_resolution, where)
    if kind.startswith("stylegan2."):
        # The FIR resampling filters are constants of the architecture (resample_kernel was
        # checked), not TF variables.
        for name, value in model.state_dict().items():
            if name.endswith("resample_filter"):
                tensors[name] = value.clone()
        _load(model, tensors, where)
        return model.eval().requires_grad_(False)
    _load(model, tensors, where)
    lod = float(getattr(model, "synthesis", model).lod)
    if not (math.isfinite(lod) and lod >= 0):
        raise UserError(f"{where}: level of detail {lod} is not a number >= 0")
    return model.eval().requires_grad_(False)
