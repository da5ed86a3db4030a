"""Official NVIDIA StyleGAN2-ADA / StyleGAN3 snapshots (`network-snapshot-*.pkl`) as our modules,
read without executing anything stored in the file.

The official training loops (NVlabs/stylegan2-ada-pytorch and NVlabs/stylegan3, for the networks
of Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN" / "Training
Generative Adversarial Networks with Limited Data") `pickle.dump` a dict
{G, D, G_ema, augment_pipe, training_set_kwargs}. Every network module in it is a "persistent"
object: it unpickles by calling `torch_utils.persistence._reconstruct_persistent_obj(meta)`, which
would `exec` the module source stored in `meta["module_src"]`. A plain `pickle.load` of such a
file therefore runs whatever code the file carries.

Here a restricted unpickler resolves only the handful of globals that such a file legitimately
names, and maps each of them to an inert stand-in: persistence records become `PersistentRecord`
(class name, init kwargs, state; the embedded source is only hashed, never run), tensor storages
are opened with `torch.load(weights_only=True)`, tensors are rebuilt after a bounds check, NumPy
scalars/arrays and EasyDicts become plain values. Any other global is refused with a UserError
that names it. The official init kwargs are then translated into our config dataclasses (an
unknown kwarg is an error), our module is built and its state is filled by parameter name, with
every name and shape checked. Parameter and buffer names of our StyleGAN2 and StyleGAN3 modules
equal the official ones (models/stylegan2.py, models/discriminator.py, models/stylegan3.py), so
the mapping is 1:1.

Kwargs accepted although they have no effect on our float32 inference: `num_fp16_res` (kept in
the config; we always compute in float32, like the official code with `force_fp32=True` or on a
CPU), `fp16_channels_last`, `channels_last` (memory layout), `fused_modconv_default` (both paths
compute the same maths) and the discriminator's `freeze_layers` (training only). Kwargs whose
value changes the network are accepted only with the value our modules implement (e.g.
`activation='lrelu'`, `resample_filter=[1, 3, 3, 1]`). Settings absent from the init kwargs take
the value the official module stored on itself (`mapping.w_avg_beta`, the layers' `conv_clamp`,
the synthesis network's `num_fp16_res`, else the number of float16 blocks), because the two
official code bases have different defaults for them. A D's `mbstd_group_size=None` (the whole
minibatch) becomes our 0, which means the same.

StyleGAN3 generators (Karras et al. 2021, "Alias-Free Generative Adversarial Networks";
networks_stylegan3, told apart from StyleGAN2 by their `SynthesisInput` record) take every
synthesis kwarg flat; settings absent from the kwargs come from the official modules (synthesis
`num_layers`, `num_critical`, `margin_size`, `output_scale`, `num_fp16_res`, the input's
`bandwidth` = first_cutoff, the first layer's `conv_kernel`, `down_radial`, `conv_clamp`,
`magnitude_ema_beta`, the mapping's `num_layers`, `w_avg_beta` and its first layer's bias gain =
lr_multiplier), or, where no module stores them (channel_base/max, first_stopband,
last_stopband_rel, filter_size, lrelu_upsampling), from the official signature defaults. The
built network is then checked against the snapshot: layer names, every layer's channels, sizes,
sampling rates, cutoffs, half-widths, tap counts, padding, and the designed up/down filters
(within FILTER_TOLERANCE; the stored ones are loaded, as are the random `freqs`/`phases`, the user
`transform` and the learned `magnitude_ema`). `num_fp16_res` and the layers' `use_fp16` only
pick float16 on CUDA and do not change our float32 inference. The stylegan2 kwarg
`fused_modconv_default` is unknown to networks_stylegan3 and therefore refused there.

To support another official architecture, add its translator to `OFFICIAL_NETWORKS` (keyed by
`<family>.<class name>`, see `network_kind`) and its class names to `KNOWN_CLASS_NAMES`.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import io
import logging
import math
import os
import pickle
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from stylegen.errors import UserError
from stylegen.fileio import fsync_files, publish_permissions, replace_dir
from stylegen.interop import nvlabs_tf
from stylegen.interop.nvlabs_tf import TFNetworkRecord
from stylegen.models import stylegan3
from stylegen.models.discriminator import Discriminator, DiscriminatorConfig
from stylegen.models.serialization import CONFIG_FILE, write_checkpoint_files
from stylegen.models.stylegan2 import Generator, GeneratorConfig
from stylegen.models.stylegan3 import StyleGAN3GeneratorConfig

__all__ = [
    "KNOWN_CLASS_NAMES",
    "NETWORK_NAMES",
    "OFFICIAL_NETWORKS",
    "OfficialNetwork",
    "PersistentRecord",
    "Snapshot",
    "convert",
    "load_network",
    "network_kind",
    "read_snapshot",
]

log = logging.getLogger(__name__)

NETWORK_NAMES = ("G_ema", "G", "D")
PERSISTENCE_VERSION = 6  # torch_utils.persistence._version of both official code bases

STYLEGAN2_CLASS_NAMES = frozenset(
    {
        "FullyConnectedLayer",
        "Conv2dLayer",
        "MappingNetwork",
        "SynthesisLayer",
        "ToRGBLayer",
        "SynthesisBlock",
        "SynthesisNetwork",
        "Generator",
        "DiscriminatorBlock",
        "MinibatchStdLayer",
        "DiscriminatorEpilogue",
        "Discriminator",
    }
)
STYLEGAN3_CLASS_NAMES = frozenset(
    {
        "FullyConnectedLayer",
        "MappingNetwork",
        "SynthesisInput",
        "SynthesisLayer",
        "SynthesisNetwork",
        "Generator",
    }
)
# Every persistent class the official snapshots contain; a record of any other class is refused.
KNOWN_CLASS_NAMES = STYLEGAN2_CLASS_NAMES | STYLEGAN3_CLASS_NAMES | {"AugmentPipe"}
# A class that only one family has tells the families apart (both call their generator Generator).
FAMILY_MARKERS = {"SynthesisInput": "stylegan3"}
KIND_DESCRIPTIONS = {
    "stylegan2.Generator": "StyleGAN2 generator",
    "stylegan2.Discriminator": "StyleGAN2 discriminator",
    "stylegan3.Generator": "StyleGAN3 generator (a SynthesisNetwork that starts with a "
    "SynthesisInput, networks_stylegan3)",
    "stylegan2.AugmentPipe": "StyleGAN2-ADA augmentation pipeline",
}


# ---------------------------------------------------------------------------------------------
# Inert stand-ins for the globals an official snapshot names


class _RefusedError(Exception):
    """Raised inside the unpickler for structurally bad data; read_snapshot words the message."""


@dataclass(eq=False)
class PersistentRecord:
    """One official persistent module: its class name and pickled `__dict__`, nothing executable.

    `state` holds what the official module stored on itself: `_init_args`, `_init_kwargs`,
    `_parameters`, `_buffers`, `_modules` (nested records) and plain attributes. The module source
    embedded in the file is kept only as its SHA-256, to check that nested records share it.
    """

    class_name: str
    state: dict[str, Any]
    source_sha256: str
    version: int

    def __setstate__(self, state: Any) -> None:
        raise _RefusedError("a pickle BUILD instruction targets a persistence record")

    @property
    def init_kwargs(self) -> dict[str, Any]:
        kwargs = self.state.get("_init_kwargs") or {}
        return dict(kwargs) if isinstance(kwargs, dict) else {}

    @property
    def init_args(self) -> tuple:
        args = self.state.get("_init_args") or ()
        return tuple(args) if isinstance(args, (tuple, list)) else (args,)

    def child(self, name: str) -> PersistentRecord | None:
        child = (self.state.get("_modules") or {}).get(name)
        return child if isinstance(child, PersistentRecord) else None

    def descendant(self, dotted: str) -> PersistentRecord | None:
        record: PersistentRecord | None = self
        for name in dotted.split("."):
            record = record.child(name) if record is not None else None
        return record


class _EasyDict(dict):
    """dnnlib.util.EasyDict without attribute access: data only."""


class _NumpyDType:
    """numpy.dtype(code, align, copy) plus its pickled state; only plain numeric codes."""

    _CODES = frozenset(
        {"b1", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8", "c8", "c16"}
    )

    def __init__(self, code: Any, align: Any = False, copy: Any = True) -> None:
        if code not in self._CODES:
            raise _RefusedError(f"NumPy dtype {code!r} (only plain numeric dtypes are read)")
        self.dtype = np.dtype(code)

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) > 1 and state[1] in ("<", ">"):
            self.dtype = self.dtype.newbyteorder(state[1])


def _numpy_scalar(dtype: Any, data: Any = None) -> Any:
    """numpy.core.multiarray.scalar(dtype, bytes) -> the Python number it holds."""
    if not isinstance(dtype, _NumpyDType) or not isinstance(data, bytes):
        raise _RefusedError("a NumPy scalar without a plain dtype and raw bytes")
    if len(data) != dtype.dtype.itemsize:
        raise _RefusedError("a NumPy scalar whose byte count does not match its dtype")
    return np.frombuffer(data, dtype=dtype.dtype)[0].item()


class _NumpyArray:
    """numpy.core.multiarray._reconstruct + BUILD: a numeric array held in `.value`."""

    def __init__(self, cls: Any = None, shape: Any = None, typecode: Any = None) -> None:
        if cls is not _NDARRAY:
            raise _RefusedError("a NumPy array of a class other than ndarray")
        self.value: np.ndarray | None = None

    def __setstate__(self, state: Any) -> None:
        if not (isinstance(state, tuple) and len(state) == 5):
            raise _RefusedError("a NumPy array with an unexpected state")
        _, shape, dtype, is_fortran, raw = state
        if not isinstance(dtype, _NumpyDType) or not isinstance(raw, bytes):
            raise _RefusedError("a NumPy array that is not plain numeric data")
        if not (isinstance(shape, tuple) and all(isinstance(s, int) and s >= 0 for s in shape)):
            raise _RefusedError("a NumPy array with a bad shape")
        if math.prod(shape) * dtype.dtype.itemsize != len(raw):
            raise _RefusedError("a NumPy array whose byte count does not match its shape")
        order = "F" if is_fortran else "C"
        self.value = np.frombuffer(raw, dtype=dtype.dtype).reshape(shape, order=order).copy()


_NDARRAY = object()  # what the global numpy.ndarray resolves to: a token, not the class


def _load_storage(data: Any) -> torch.storage.TypedStorage:
    """torch.storage._load_from_bytes: a legacy torch.save blob of one storage."""
    if not isinstance(data, bytes):
        raise _RefusedError("a tensor storage that is not raw bytes")
    try:
        storage = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except Exception as exc:  # torch raises many types for bad blobs; all mean the same here
        raise _RefusedError(
            f"a tensor storage torch cannot read safely ({_one_line(exc)})"
        ) from None
    if not isinstance(storage, torch.storage.TypedStorage):
        raise _RefusedError(f"a tensor storage blob that holds a {type(storage).__name__}")
    return storage


def _one_line(exc: BaseException, limit: int = 160) -> str:
    """An exception's message squeezed onto one short line (the CLI prints one line)."""
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _rebuild_tensor(
    storage: Any,
    offset: Any,
    size: Any,
    stride: Any,
    requires_grad: Any = False,
    hooks: Any = None,
    metadata: Any = None,
) -> torch.Tensor:
    """torch._utils._rebuild_tensor_v2, with the bounds check that Tensor.set_ does not do."""
    if not isinstance(storage, torch.storage.TypedStorage):
        raise _RefusedError("a tensor whose storage is not a tensor storage")
    if hooks or metadata:
        raise _RefusedError("a tensor with backward hooks or extra metadata")
    if not (_is_int(offset) and offset >= 0 and isinstance(size, tuple)):
        raise _RefusedError("a tensor with a bad offset or size")
    if not (isinstance(stride, tuple) and len(stride) == len(size)):
        raise _RefusedError("a tensor with a bad stride")
    if not all(_is_int(v) and v >= 0 for v in (*size, *stride)):
        raise _RefusedError("a tensor with a negative or non-integer size or stride")
    untyped = storage._untyped_storage
    numel = untyped.nbytes() // storage.dtype.itemsize
    if math.prod(size) > 0:
        last = offset + sum((n - 1) * s for n, s in zip(size, stride))
        if last >= numel:
            raise _RefusedError("a tensor that reaches past the end of its storage")
    return torch.empty((0,), dtype=storage.dtype).set_(untyped, offset, size, stride)


def _rebuild_parameter(data: Any, requires_grad: Any = False, hooks: Any = None, *state: Any):
    """torch._utils._rebuild_parameter(_with_state): we only need the values."""
    if not isinstance(data, torch.Tensor) or hooks:
        raise _RefusedError("a parameter that is not a plain tensor")
    return data


def _reconstruct_persistent(meta: Any) -> PersistentRecord:
    """torch_utils.persistence._reconstruct_persistent_obj, minus importing and running code."""
    if not isinstance(meta, dict):
        raise _RefusedError("a persistence record whose meta is not a dict")
    source, state = meta.get("module_src"), meta.get("state")
    class_name, version = meta.get("class_name"), meta.get("version")
    if meta.get("type") != "class" or not isinstance(class_name, str):
        raise _RefusedError(f"a persistence record of type {meta.get('type')!r}")
    if not isinstance(source, str) or not isinstance(state, dict):
        raise _RefusedError(f"a persistence record of class {class_name!r} without source or state")
    return PersistentRecord(class_name, state, _digest(source), version)


@functools.lru_cache(maxsize=16)
def _digest(source: str) -> str:
    # Every record of one official module carries the same source text; hash it once.
    return hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()


_SAFE_GLOBALS: dict[tuple[str, str], Any] = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent,
    ("torch.storage", "_load_from_bytes"): _load_storage,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,  # protocol 3 (Python 3.7, the official requirement) has no EMPTY_SET
    ("builtins", "frozenset"): frozenset,
    ("dnnlib.util", "EasyDict"): _EasyDict,
    ("dnnlib", "EasyDict"): _EasyDict,
    ("numpy", "dtype"): _NumpyDType,
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
    ("numpy.core.multiarray", "_reconstruct"): _NumpyArray,
    ("numpy._core.multiarray", "_reconstruct"): _NumpyArray,
}
_TENSORFLOW_MODULES = ("dnnlib.tflib", "tflib", "tensorflow")
# TF-era snapshots (ProGAN, StyleGAN 2019, StyleGAN2): their Network objects as data
# (interop/nvlabs_tf.py).
_TF_NETWORKS = {("dnnlib.tflib.network", "Network"), ("tfutil", "Network")}


class _SnapshotUnpickler(pickle.Unpickler):
    """Resolves only _SAFE_GLOBALS; everything else is refused before it is looked up."""

    def __init__(self, file: Any, path: Path) -> None:
        super().__init__(file)
        self._path = path
        # id -> (tensor, geometry) of every tensor rebuilt, to spot later BUILD tampering.
        self.built_tensors: dict[int, tuple[torch.Tensor, tuple]] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return self._rebuild_tensor  # _rebuild_tensor, plus a note of what it built
        safe = _SAFE_GLOBALS.get((module, name))
        if safe is not None:
            return safe
        if (module, name) in _TF_NETWORKS:
            return TFNetworkRecord
        if module.startswith(_TENSORFLOW_MODULES):
            raise UserError(
                f"{self._path} names {module}.{name}, which no TensorFlow-era ProGAN/StyleGAN/"
                "StyleGAN2 snapshot that stylegen reads contains (nothing from the file was run)"
            )
        raise UserError(
            f"refusing {self._path}: it calls {module}.{name}, which no official StyleGAN "
            "snapshot contains (nothing from the file was run); use a snapshot from a source "
            "you trust"
        )

    def _rebuild_tensor(self, *args: Any) -> torch.Tensor:
        t = _rebuild_tensor(*args)
        self.built_tensors[id(t)] = (t, _geometry(t))
        return t

    def persistent_load(self, pid: Any) -> Any:
        raise UserError(
            f"refusing {self._path}: it uses pickle persistent ids, which official StyleGAN "
            "snapshots never do (is it a torch.save file? load those with torch.load)"
        )


# ---------------------------------------------------------------------------------------------
# Reading a snapshot


@dataclass
class Snapshot:
    """An official snapshot, read safely: its networks as records plus the training-set info."""

    path: Path
    networks: dict[str, PersistentRecord | TFNetworkRecord]
    training_set: dict[str, Any] = field(default_factory=dict)
    # The pickled AugmentPipe's record (its state holds ADA's `p` buffer), never rebuilt.
    augment_pipe: PersistentRecord | None = None

    @property
    def tensorflow(self) -> bool:
        """A TF-era snapshot (ProGAN, StyleGAN 2019, StyleGAN2: interop/nvlabs_tf.py)."""
        return any(isinstance(r, TFNetworkRecord) for r in self.networks.values())

    def record(self, which: str) -> PersistentRecord | TFNetworkRecord:
        if which not in NETWORK_NAMES:
            raise UserError(f"unknown network {which!r}; choose one of: {', '.join(NETWORK_NAMES)}")
        if which not in self.networks:
            have = ", ".join(self.networks) or "none"
            raise UserError(f"{self.path} has no {which} network (it has: {have}); pick another")
        return self.networks[which]

    def kind(self, which: str) -> str:
        record = self.record(which)
        if isinstance(record, TFNetworkRecord):
            return nvlabs_tf.tf_kind(record)
        return network_kind(record)

    def _setting(self, ours: str, tf_name: str) -> int | None:
        for name in NETWORK_NAMES:
            if name in self.networks:
                record = self.networks[name]
                if isinstance(record, TFNetworkRecord):
                    value = record.static_kwargs.get(tf_name)
                else:
                    value = record.init_kwargs.get(ours)
                return value if _is_int(value) else None
        return None

    @property
    def c_dim(self) -> int | None:
        return self._setting("c_dim", "label_size")

    @property
    def resolution(self) -> int | None:
        res = self.training_set.get("resolution")
        if _is_int(res):
            return res
        return self._setting("img_resolution", "resolution")

    def metadata(self, which: str) -> dict[str, Any]:
        """What a converted checkpoint records about where it came from."""
        return {
            "source": "nvlabs-tf-snapshot" if self.tensorflow else "nvlabs-snapshot",
            "snapshot": str(self.path),
            "network": which,
            "official_kind": self.kind(which),
            "resolution": self.resolution,
            "c_dim": self.c_dim,
            "labels": bool(self.c_dim),
            "training_set": self.training_set,
        }

    def build(self, which: str = "G_ema") -> nn.Module:
        """Our module with the weights of network `which`, in eval mode, on the CPU."""
        record = self.record(which)
        if isinstance(record, TFNetworkRecord):
            model = nvlabs_tf.build_network(record, f"{which} ({record.name}) in {self.path}")
            model.checkpoint_metadata = self.metadata(which)
            return model
        kind = network_kind(record)
        entry = OFFICIAL_NETWORKS.get(kind)
        if entry is None:
            supported = ", ".join(e.description for e in OFFICIAL_NETWORKS.values())
            described = KIND_DESCRIPTIONS.get(kind, f"official class {record.class_name!r}")
            raise UserError(
                f"{which} in {self.path} is a {described}, which stylegen cannot read yet "
                f"(supported: {supported})"
            )
        where = f"{which} ({entry.description}) in {self.path}"
        config = entry.translate(record, where)
        try:
            model = entry.model_cls(config)
        except UserError as exc:
            raise UserError(f"{where}: {exc}") from None
        except (TypeError, ValueError, AssertionError, RuntimeError) as exc:
            raise UserError(f"{where}: its settings do not build a network ({exc})") from None
        if entry.check is not None:
            entry.check(model, record, where)
        _load_state(model, record, where)
        model.checkpoint_metadata = self.metadata(which)
        return model.eval().requires_grad_(False)


def read_snapshot(path: str | os.PathLike) -> Snapshot:
    """Open an official `network-snapshot-*.pkl` without running anything from it."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"snapshot {path} does not exist; pass the path of a .pkl file")
    if not path.is_file():
        raise UserError(f"snapshot {path} is not a file; pass the path of a .pkl file")
    root, built_tensors = _unpickle(path)
    _check_tensors(root, built_tensors, path)
    _check_records(root, path)
    if isinstance(root, PersistentRecord):  # a bare network pickled on its own
        root = {"D" if root.class_name == "Discriminator" else "G_ema": root}
    if isinstance(root, TFNetworkRecord):
        root = (root,)
    if isinstance(root, tuple) and root and all(isinstance(r, TFNetworkRecord) for r in root):
        return _tf_snapshot(path, root)
    networks = (
        {k: root[k] for k in NETWORK_NAMES if isinstance(root.get(k), PersistentRecord)}
        if isinstance(root, dict)
        else {}
    )
    if not networks:
        raise UserError(
            f"{path} is a pickle of a {type(root).__name__}, not an official StyleGAN snapshot "
            "(it holds no G, D or G_ema network)"
        )
    training_set = root.get("training_set_kwargs") if isinstance(root, dict) else None
    augment = root.get("augment_pipe") if isinstance(root, dict) else None
    if not (isinstance(augment, PersistentRecord) and augment.class_name == "AugmentPipe"):
        augment = None
    return Snapshot(
        path,
        networks,
        _plain(training_set) if isinstance(training_set, dict) else {},
        augment,
    )


def _tf_snapshot(path: Path, records: tuple) -> Snapshot:
    """A TF-era snapshot: the tuple (G, D, Gs) the official training loops pickle, or one
    network on its own (a generator counts as G_ema)."""
    if len(records) == 3:
        networks = dict(zip(("G", "D", "G_ema"), records))
    elif len(records) == 1:
        is_d = nvlabs_tf.tf_kind(records[0]).endswith("Discriminator")
        networks = {"D" if is_d else "G_ema": records[0]}
    else:
        raise UserError(
            f"{path} holds {len(records)} TensorFlow networks; official TF snapshots hold "
            "(G, D, Gs)"
        )
    return Snapshot(path, networks)


def _unpickle(path: Path) -> tuple[Any, dict[int, tuple[torch.Tensor, tuple]]]:
    _check_header(path)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*TypedStorage is deprecated.*")
        warnings.filterwarnings("ignore", message=".*Detected pickle protocol.*")
        try:
            with open(path, "rb") as f:
                unpickler = _SnapshotUnpickler(f, path)
                return unpickler.load(), unpickler.built_tensors
        except UserError:
            raise
        except (_RefusedError, nvlabs_tf.TFDataError) as exc:
            raise UserError(
                f"refusing {path}: it contains {exc}, which official StyleGAN snapshots never do"
            ) from None
        except EOFError:
            raise UserError(
                f"{path} is truncated (the pickle ends early); download it again"
            ) from None
        except OSError as exc:
            raise UserError(f"cannot read {path} ({exc.strerror or exc})") from None
        except Exception as exc:  # pickle reports bad data with many exception types
            if "truncated" in str(exc):
                raise UserError(
                    f"{path} is truncated (the pickle ends early); download it again"
                ) from None
            raise UserError(
                f"{path} is not a readable pickle ({type(exc).__name__}: {_one_line(exc)}); "
                "pass an official network-snapshot-*.pkl"
            ) from None


def _check_header(path: Path) -> None:
    """Official snapshots are pickles of protocol 3 or newer: they start with PROTO (0x80) n."""
    try:
        with open(path, "rb") as f:
            head = f.read(2)
    except OSError as exc:
        raise UserError(f"cannot read {path} ({exc.strerror or exc})") from None
    if len(head) < 2:
        raise UserError(f"{path} is truncated (only {len(head)} bytes); download it again")
    if head[0] != 0x80 or not 2 <= head[1] <= pickle.HIGHEST_PROTOCOL:
        raise UserError(
            f"{path} is not a readable pickle (it does not start with a pickle header); pass an "
            "official network-snapshot-*.pkl"
        )
    if head[1] < 3:
        raise UserError(
            f"{path} is a pickle of protocol {head[1]}, and official StyleGAN snapshots use "
            "protocol 3 or newer; pass an official network-snapshot-*.pkl"
        )


def _walk(value: Any, seen: set[int]) -> Iterator[Any]:
    """Every container and record inside `value`, each once (pickles may share or loop)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        if isinstance(item, PersistentRecord):
            stack.append(item.state)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack.extend(item)


def _nested_records(record: PersistentRecord) -> Iterator[tuple[str, PersistentRecord]]:
    """(attribute path, record) for every record found in `record`'s state, not deeper."""
    stack: list[tuple[str, Any]] = [("", record.state)]
    seen: set[int] = set()
    while stack:
        where, item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, PersistentRecord):
            yield where, item
        elif isinstance(item, dict):
            for k, v in item.items():
                name = k if k != "_modules" and isinstance(k, str) else ""
                stack.append((f"{where}.{name}".strip(".") if name else where, v))
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack.extend((where, v) for v in item)


def _check_records(root: Any, path: Path) -> None:
    """Refuse records of unknown classes and nested records that carry their own source code."""
    records = [item for item in _walk(root, set()) if isinstance(item, PersistentRecord)]
    for item in records:
        if item.class_name not in KNOWN_CLASS_NAMES:
            raise UserError(
                f"refusing {path}: it holds a persistent object of class {item.class_name!r}, "
                "which is not part of the official StyleGAN networks (its embedded source code "
                "was not run)"
            )
    for item in records:
        if item.version != PERSISTENCE_VERSION:
            raise UserError(
                f"{path}: persistence record {item.class_name!r} has version {item.version!r}; "
                f"stylegen reads version {PERSISTENCE_VERSION} (stylegan2-ada-pytorch, stylegan3)"
            )
        for where, child in _nested_records(item):
            if child.source_sha256 != item.source_sha256:
                raise UserError(
                    f"refusing {path}: the nested persistent object {where or '?'} "
                    f"({child.class_name}) of {item.class_name} carries source code different "
                    "from its parent's, which official snapshots never do (it was not run)"
                )


def _geometry(t: torch.Tensor) -> tuple:
    storage = t.untyped_storage()
    return (storage.data_ptr(), storage.nbytes(), t.storage_offset(), t.shape, t.stride(), t.dtype)


def _check_tensors(root: Any, built: dict[int, tuple[torch.Tensor, tuple]], path: Path) -> None:
    """Every tensor must be as _rebuild_tensor made it. A pickle BUILD instruction can re-point
    one afterwards (Tensor.__setstate__ calls set_, which resizes storages unchecked) or give it
    hooks; official snapshots never do that."""
    for item in _walk(root, set()):
        if not isinstance(item, torch.Tensor):
            continue
        entry = built.get(id(item))
        if (
            entry is None
            or entry[0] is not item
            or entry[1] != _geometry(item)
            or (item._backward_hooks)
        ):
            raise UserError(
                f"refusing {path}: it changes a tensor after building it, which official "
                "StyleGAN snapshots never do"
            )


def _plain(value: Any) -> Any:
    """A JSON-safe copy of training_set_kwargs-like data."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return str(value)


def network_kind(record: PersistentRecord) -> str:
    """'<family>.<class>' of a network record, e.g. 'stylegan2.Generator', 'stylegan3.Generator'."""
    family = "stylegan2"
    for item in _walk(record, set()):
        if isinstance(item, PersistentRecord) and item.class_name in FAMILY_MARKERS:
            family = FAMILY_MARKERS[item.class_name]
            break
    return f"{family}.{record.class_name}"


# ---------------------------------------------------------------------------------------------
# Official init kwargs -> our configs

_MISSING = object()  # take(): no default, the kwarg is required
_ABSENT = object()  # take() default that tells "not given" apart from None


class _Kwargs:
    """Official init kwargs, consumed one by one; whatever is left at the end is an error."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, dict):
            raise UserError(f"{where}: init kwargs are a {type(data).__name__}, not a dict")
        self._data = dict(data)
        self.where = where

    def __contains__(self, name: str) -> bool:
        return name in self._data

    def take(self, name: str, default: Any = _MISSING) -> Any:
        if name in self._data:
            return self._data.pop(name)
        if default is _MISSING:
            raise UserError(f"{self.where}: init kwarg {name!r} is missing")
        return default

    def take_dict(self, name: str) -> dict[str, Any]:
        value = self.take(name, {})
        if not isinstance(value, dict):
            raise UserError(f"{self.where}: {name} is a {type(value).__name__}, not a dict")
        return dict(value)

    def require(self, name: str, allowed: Callable[[Any], bool], supported: str) -> None:
        """Consume `name`; its value (when given) must be one our modules implement."""
        if name in self._data:
            value = self._data.pop(name)
            if not allowed(value):
                raise UserError(
                    f"{self.where}: {name}={value!r} is not supported (stylegen implements "
                    f"{supported}); this network cannot be converted"
                )

    def rest(self) -> dict[str, Any]:
        """Consume and return everything not taken yet."""
        rest, self._data = self._data, {}
        return rest

    def ignore(self, *names: str) -> None:
        for name in names:
            self._data.pop(name, None)

    def finish(self) -> None:
        if self._data:
            raise UserError(
                f"{self.where}: unknown init kwarg(s) {', '.join(sorted(map(str, self._data)))}; "
                "the snapshot was written by code stylegen does not know, so it is not converted"
            )


def _effective(record: PersistentRecord, dotted: str, attr: str, where: str) -> Any:
    """An attribute the official module stored on itself (the value its defaults resolved to)."""
    sub = record.descendant(dotted)
    if sub is None or attr not in sub.state:
        raise UserError(f"{where}: cannot find {dotted}.{attr} in the snapshot; it is malformed")
    return sub.state[attr]


def _fp16_blocks(record: PersistentRecord, owner: str | None) -> int:
    base = record.descendant(owner) if owner else record
    modules = (base.state.get("_modules") or {}) if base else {}
    return sum(
        1 for m in modules.values() if isinstance(m, PersistentRecord) and m.state.get("use_fp16")
    )


def _lrelu(value: Any) -> bool:
    return value == "lrelu"


def _fir_1331(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and list(value) == [1, 3, 3, 1]


def _check_positional(record: PersistentRecord, where: str) -> None:
    if record.init_args:
        raise UserError(f"{where}: positional init args {record.init_args!r} are not expected")


def generator_config(record: PersistentRecord, where: str) -> GeneratorConfig:
    """stylegan2-ada-pytorch `training.networks.Generator` / stylegan3 `networks_stylegan2`."""
    _check_positional(record, where)
    kw = _Kwargs(record.init_kwargs, where)
    dims = {n: kw.take(n) for n in ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels")}
    mapping = _Kwargs(kw.take_dict("mapping_kwargs"), f"{where} mapping_kwargs")
    # stylegan2-ada-pytorch nests the synthesis kwargs; stylegan3 passes them flat.
    nested = kw.take_dict("synthesis_kwargs")
    flat = kw.rest()
    if nested and flat:
        raise UserError(f"{where}: synthesis kwargs both nested and flat ({sorted(flat)})")
    synth = _Kwargs(nested or flat, f"{where} synthesis kwargs")
    w_dim = dims["w_dim"]

    conv_clamp = synth.take("conv_clamp", _ABSENT)
    if conv_clamp is _ABSENT:
        conv_clamp = _effective(record, "synthesis.b4.conv1", "conv_clamp", where)
    num_fp16_res = synth.take("num_fp16_res", None)
    if num_fp16_res is None:  # stylegan3 keeps it on the synthesis network; ada does not
        synthesis = record.child("synthesis")
        num_fp16_res = synthesis.state.get("num_fp16_res") if synthesis else None
    if num_fp16_res is None:
        num_fp16_res = _fp16_blocks(record, "synthesis")
    config = dict(
        channel_base=synth.take("channel_base", 32768),
        channel_max=synth.take("channel_max", 512),
        architecture=synth.take("architecture", "skip"),
        use_noise=synth.take("use_noise", True),
        conv_clamp=conv_clamp,
        num_fp16_res=num_fp16_res,
    )
    synth.require("activation", _lrelu, "activation='lrelu'")
    synth.require("resample_filter", _fir_1331, "resample_filter=[1, 3, 3, 1]")
    synth.require("kernel_size", lambda v: v == 3, "kernel_size=3")
    synth.ignore("fused_modconv_default", "fp16_channels_last", "channels_last")
    synth.finish()

    w_avg_beta = mapping.take("w_avg_beta", _ABSENT)
    if w_avg_beta is _ABSENT:
        w_avg_beta = _effective(record, "mapping", "w_avg_beta", where)
    if w_avg_beta is None:
        raise UserError(f"{where}: w_avg_beta=None (no W average) is not supported")
    config.update(
        mapping_layers=mapping.take("num_layers", 8),
        mapping_lr_multiplier=mapping.take("lr_multiplier", 0.01),
        w_avg_beta=w_avg_beta,
    )
    same_as_w = lambda v: v is None or v == w_dim  # noqa: E731
    mapping.require("embed_features", same_as_w, f"embed_features=None (= w_dim {w_dim})")
    mapping.require("layer_features", same_as_w, f"layer_features=None (= w_dim {w_dim})")
    mapping.require("activation", _lrelu, "activation='lrelu'")
    mapping.finish()
    return _make_config(GeneratorConfig, {**dims, **config}, where)


def discriminator_config(record: PersistentRecord, where: str) -> DiscriminatorConfig:
    """stylegan2-ada-pytorch `training.networks.Discriminator` / stylegan3 `networks_stylegan2`."""
    _check_positional(record, where)
    kw = _Kwargs(record.init_kwargs, where)
    dims = {n: kw.take(n) for n in ("c_dim", "img_resolution", "img_channels")}
    conv_clamp = kw.take("conv_clamp", _ABSENT)
    if conv_clamp is _ABSENT:
        conv_clamp = _effective(record, "b4.conv", "conv_clamp", where)
    num_fp16_res = kw.take("num_fp16_res", None)
    if num_fp16_res is None:
        num_fp16_res = _fp16_blocks(record, None)
    config = dict(
        architecture=kw.take("architecture", "resnet"),
        channel_base=kw.take("channel_base", 32768),
        channel_max=kw.take("channel_max", 512),
        conv_clamp=conv_clamp,
        num_fp16_res=num_fp16_res,
        cmap_dim=kw.take("cmap_dim", None),
    )
    block = _Kwargs(kw.take_dict("block_kwargs"), f"{where} block_kwargs")
    mapping = _Kwargs(kw.take_dict("mapping_kwargs"), f"{where} mapping_kwargs")
    epilogue = _Kwargs(kw.take_dict("epilogue_kwargs"), f"{where} epilogue_kwargs")
    kw.finish()

    block.require("activation", _lrelu, "activation='lrelu'")
    block.require("resample_filter", _fir_1331, "resample_filter=[1, 3, 3, 1]")
    block.ignore("freeze_layers", "fp16_channels_last")
    block.finish()

    group = epilogue.take("mbstd_group_size", 4)
    config.update(
        mbstd_group_size=0 if group is None else group,  # our 0 = the whole minibatch
        mbstd_num_channels=epilogue.take("mbstd_num_channels", 1),
        mapping_layers=mapping.take("num_layers", 8),
    )
    epilogue.require("activation", _lrelu, "activation='lrelu'")
    epilogue.finish()

    # The label mapping exists only in conditional discriminators; otherwise its kwargs are moot.
    conditional = _is_int(dims["c_dim"]) and dims["c_dim"] > 0
    cmap = config["cmap_dim"]
    default_cmap = lambda v: not conditional or v is None or v == cmap  # noqa: E731
    mapping.require("lr_multiplier", lambda v: not conditional or v == 0.01, "lr_multiplier=0.01")
    mapping.require("embed_features", default_cmap, "embed_features=None (= cmap_dim)")
    mapping.require("layer_features", default_cmap, "layer_features=None (= cmap_dim)")
    mapping.require("activation", _lrelu, "activation='lrelu'")
    mapping.ignore("w_avg_beta")  # the label mapping tracks no W average
    mapping.finish()
    if conditional and not (_is_int(config["mapping_layers"]) and config["mapping_layers"] > 0):
        raise UserError(
            f"{where}: a label mapping with {config['mapping_layers']} layers is not supported"
        )
    return _make_config(DiscriminatorConfig, {**dims, **config}, where)


def _make_config(cls: type, values: dict[str, Any], where: str) -> Any:
    try:
        return cls(**values).validate()
    except UserError as exc:
        raise UserError(f"{where}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise UserError(f"{where}: bad init kwargs ({exc})") from None


# ---------------------------------------------------------------------------------------------
# StyleGAN3 (networks_stylegan3.Generator)

# Official signature defaults of settings that no official module stores on itself; the
# consistency check below compares every layer's resulting frequencies with the snapshot's.
SG3_SIGNATURE_DEFAULTS = dict(
    channel_base=32768,
    channel_max=512,
    first_stopband=2**2.1,
    last_stopband_rel=2**0.3,
    filter_size=6,
    lrelu_upsampling=2,
)
# Synthesis settings absent from the kwargs: where the official module stored the value its
# defaults resolved to ("L0" is the first synthesis layer, named by `synthesis.layer_names`).
SG3_STORED = dict(
    num_layers=("synthesis", "num_layers"),
    num_critical=("synthesis", "num_critical"),
    first_cutoff=("synthesis.input", "bandwidth"),
    margin_size=("synthesis", "margin_size"),
    output_scale=("synthesis", "output_scale"),
    num_fp16_res=("synthesis", "num_fp16_res"),
    conv_kernel=("L0", "conv_kernel"),
    use_radial_filters=("L0", "down_radial"),  # the first layer is never critically sampled
    conv_clamp=("L0", "conv_clamp"),
    magnitude_ema_beta=("L0", "magnitude_ema_beta"),
)


def _sg3_first_layer(record: PersistentRecord, where: str) -> str:
    names = _effective(record, "synthesis", "layer_names", where)
    if not (isinstance(names, (list, tuple)) and names and isinstance(names[0], str)):
        raise UserError(f"{where}: synthesis.layer_names is malformed")
    return f"synthesis.{names[0]}"


def stylegan3_generator_config(record: PersistentRecord, where: str) -> Any:
    """stylegan3 `training.networks_stylegan3.Generator` (configs T and R)."""
    _check_positional(record, where)
    kw = _Kwargs(record.init_kwargs, where)
    dims = {n: kw.take(n) for n in ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels")}
    mapping = _Kwargs(kw.take_dict("mapping_kwargs"), f"{where} mapping_kwargs")
    # The official Generator passes every other kwarg on to SynthesisNetwork / SynthesisLayer.
    synth = _Kwargs(kw.rest(), f"{where} synthesis kwargs")
    first_layer = _sg3_first_layer(record, where)
    config: dict[str, Any] = {}
    for name, default in SG3_SIGNATURE_DEFAULTS.items():
        config[name] = synth.take(name, default)
    for name, (owner, attr) in SG3_STORED.items():
        value = synth.take(name, _ABSENT)
        if value is _ABSENT:
            value = _effective(record, first_layer if owner == "L0" else owner, attr, where)
        config[name] = value
    synth.finish()

    w_avg_beta = mapping.take("w_avg_beta", _ABSENT)
    if w_avg_beta is _ABSENT:
        w_avg_beta = _effective(record, "mapping", "w_avg_beta", where)
    if w_avg_beta is None:
        raise UserError(f"{where}: w_avg_beta=None (no W average) is not supported")
    num_layers = mapping.take("num_layers", _ABSENT)
    if num_layers is _ABSENT:
        num_layers = _effective(record, "mapping", "num_layers", where)
    lr_multiplier = mapping.take("lr_multiplier", _ABSENT)
    if lr_multiplier is _ABSENT:  # the official dense layers keep it as their bias gain
        lr_multiplier = _effective(record, "mapping.fc0", "bias_gain", where)
    mapping.finish()
    config.update(
        mapping_layers=num_layers, mapping_lr_multiplier=lr_multiplier, w_avg_beta=w_avg_beta
    )
    config["use_radial_filters"] = bool(config["use_radial_filters"])
    return _make_config(StyleGAN3GeneratorConfig, {**dims, **config}, where)


# Attributes of the official modules that our rebuilt modules must reproduce exactly.
_SG3_LAYER_ATTRS = (
    "is_torgb",
    "is_critically_sampled",
    "in_channels",
    "out_channels",
    "in_size",
    "out_size",
    "in_sampling_rate",
    "out_sampling_rate",
    "tmp_sampling_rate",
    "in_cutoff",
    "out_cutoff",
    "in_half_width",
    "out_half_width",
    "conv_kernel",
    "up_factor",
    "down_factor",
    "up_taps",
    "down_taps",
    "down_radial",
    "padding",
    "conv_clamp",
    "magnitude_ema_beta",
)
_SG3_INPUT_ATTRS = ("channels", "size", "sampling_rate", "bandwidth")
FILTER_TOLERANCE = 1e-6  # designed vs stored filter taps (scipy versions differ by ~1e-16)


def _same_value(stored: Any, ours: Any) -> bool:
    """An official attribute (Python or NumPy value, [w, h] size arrays) equals ours."""
    if isinstance(stored, _NumpyArray):
        stored = stored.value
    if isinstance(stored, np.ndarray):
        values = [v.item() for v in stored.reshape(-1)]
        if not isinstance(ours, (list, tuple)):  # [w, h] of a square map vs our int size
            return bool(values) and all(_same_value(v, ours) for v in values)
        stored = values
    if isinstance(ours, (list, tuple)):
        return (
            isinstance(stored, (list, tuple))
            and len(stored) == len(ours)
            and all(_same_value(a, b) for a, b in zip(stored, ours))
        )
    if isinstance(ours, bool) or isinstance(stored, bool):
        return bool(stored) == bool(ours) and isinstance(stored, (bool, int))
    if isinstance(ours, (int, float)) and isinstance(stored, (int, float)):
        return math.isclose(stored, ours, rel_tol=1e-9, abs_tol=1e-12)
    return stored == ours


def check_stylegan3(model: nn.Module, record: PersistentRecord, where: str) -> None:
    """The network our config builds is the one in the snapshot: layer names, sampling rates,
    cutoffs, sizes, paddings and the designed low-pass filters all agree.

    The filters are buffers of the official layers, so `_load_state` loads them too; they are
    recomputed from the settings here and must agree within FILTER_TOLERANCE, else the settings
    we derived do not describe the snapshot. (`transform`, `freqs`, `phases`, `magnitude_ema` and
    `w_avg` are random or learned, so they are only loaded.)
    """
    synthesis = model.synthesis
    stored_names = _effective(record, "synthesis", "layer_names", where)
    if list(stored_names) != list(synthesis.layer_names):
        raise UserError(
            f"{where}: its synthesis layers {list(stored_names)} are not the ones its settings "
            f"give ({synthesis.layer_names}); the snapshot is inconsistent"
        )
    checks: list[tuple[str, nn.Module, tuple[str, ...]]] = [
        ("synthesis.input", synthesis.input, _SG3_INPUT_ATTRS)
    ]
    checks += [(f"synthesis.{n}", getattr(synthesis, n), _SG3_LAYER_ATTRS) for n in stored_names]
    for dotted, module, attrs in checks:
        rec = record.descendant(dotted)
        if rec is None:
            raise UserError(f"{where}: {dotted} is missing; the snapshot is malformed")
        for attr in attrs:
            if attr in rec.state and not _same_value(rec.state[attr], getattr(module, attr)):
                stored = rec.state[attr]
                stored = stored.value.tolist() if isinstance(stored, _NumpyArray) else stored
                raise UserError(
                    f"{where}: {dotted}.{attr} is {_plain(stored)!r} in the snapshot "
                    f"but {getattr(module, attr)!r} from its settings; the snapshot was made by "
                    "code stylegen does not know, so it is not converted"
                )
        for name in ("up_filter", "down_filter"):
            stored = (rec.state.get("_buffers") or {}).get(name)
            ours = getattr(module, name, None)
            if not isinstance(stored, torch.Tensor) or ours is None:
                continue  # a missing or malformed one is reported by the state check
            # `not <=` so that NaN taps count as different.
            if stored.shape != ours.shape or not (
                (stored.to(torch.float32) - ours).abs().max() <= FILTER_TOLERANCE
            ):
                raise UserError(
                    f"{where}: {dotted}.{name} differs from the filter its settings design; "
                    "the snapshot was made by code stylegen does not know, so it is not converted"
                )


@dataclass(frozen=True)
class OfficialNetwork:
    """How one official network kind becomes ours: our class, an init-kwargs translator and an
    optional check of the built module against the record (before its state is loaded)."""

    description: str
    model_cls: type[nn.Module]
    translate: Callable[[PersistentRecord, str], Any]
    check: Callable[[nn.Module, PersistentRecord, str], None] | None = None


def _stylegan2_networks() -> dict[str, OfficialNetwork]:
    return {
        "stylegan2.Generator": OfficialNetwork("StyleGAN2 generator", Generator, generator_config),
        "stylegan2.Discriminator": OfficialNetwork(
            "StyleGAN2 discriminator", Discriminator, discriminator_config
        ),
        "stylegan3.Generator": OfficialNetwork(
            "StyleGAN3 generator", stylegan3.Generator, stylegan3_generator_config, check_stylegan3
        ),
    }


# network_kind(record) -> translator. Add an entry here to read another official architecture.
OFFICIAL_NETWORKS: dict[str, OfficialNetwork] = _stylegan2_networks()


# ---------------------------------------------------------------------------------------------
# Weights


def official_state(record: PersistentRecord, where: str = "network") -> dict[str, torch.Tensor]:
    """The record tree's parameters and buffers under their state_dict names."""
    tensors: dict[str, torch.Tensor] = {}
    stack: list[tuple[str, PersistentRecord]] = [("", record)]
    while stack:
        prefix, rec = stack.pop()
        for group in ("_parameters", "_buffers"):
            items = rec.state.get(group) or {}
            if not isinstance(items, dict):
                raise UserError(f"{where}: {prefix or 'the network'} has a malformed {group}")
            for name, value in items.items():
                if value is None:
                    continue
                if not isinstance(value, torch.Tensor):
                    raise UserError(f"{where}: {prefix}{name} is not a tensor")
                tensors[f"{prefix}{name}"] = value
        modules = rec.state.get("_modules") or {}
        if not isinstance(modules, dict):
            raise UserError(f"{where}: {prefix or 'the network'} has malformed submodules")
        for name, child in modules.items():
            if child is None:
                continue
            if not isinstance(child, PersistentRecord):
                raise UserError(f"{where}: submodule {prefix}{name} is not an official module")
            stack.append((f"{prefix}{name}.", child))
    return tensors


def _load_state(model: nn.Module, record: PersistentRecord, where: str) -> None:
    tensors = official_state(record, where)
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
    with torch.no_grad():
        model.load_state_dict({k: v.to(torch.float32) for k, v in tensors.items()})


# ---------------------------------------------------------------------------------------------
# Public entry points


def load_network(
    path: str | os.PathLike, which: str = "G_ema", device: str | torch.device = "cpu"
) -> nn.Module:
    """Network `which` (G_ema, G or D) of an official snapshot as our module, in eval mode."""
    model = read_snapshot(path).build(which)
    log.info("read %s from %s", which, path)
    return model.to(device)


def convert(path: str | os.PathLike, outdir: str | os.PathLike, which: str = "G_ema") -> list[Path]:
    """Write network `which` of a snapshot to the checkpoint folder `outdir` (atomically).

    `which="all"` writes every network the snapshot has to `outdir/G_ema`, `outdir/G`, `outdir/D`.
    An existing `outdir` is replaced only when it is a checkpoint (or an earlier `all` output).
    """
    if which != "all" and which not in NETWORK_NAMES:
        raise UserError(f"--which {which!r} must be one of: {', '.join(NETWORK_NAMES)}, all")
    outdir = Path(outdir)
    _check_outdir(outdir, which)
    snapshot = read_snapshot(path)
    names = [n for n in NETWORK_NAMES if n in snapshot.networks] if which == "all" else [which]
    models = {name: snapshot.build(name) for name in names}  # every check before any write
    outdir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.", suffix=".tmp", dir=outdir.parent))
    try:
        for name, model in models.items():
            folder = tmp / name if which == "all" else tmp
            folder.mkdir(exist_ok=True)
            write_checkpoint_files(model, folder, model.checkpoint_metadata)
            fsync_files(folder)
        publish_permissions(tmp)  # mkdtemp's 0700 -> what mkdir would give under the umask
        replace_dir(tmp, outdir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    written = [outdir / n for n in names] if which == "all" else [outdir]
    log.info("converted %s of %s to %s", ", ".join(names), path, outdir)
    return written


def _check_outdir(outdir: Path, which: str) -> None:
    """Refuse to replace a folder that holds anything but our own checkpoints."""
    if not outdir.exists():
        return
    if not outdir.is_dir():
        raise UserError(f"OUTDIR {outdir} is a file; pass a new folder")
    entries = list(outdir.iterdir())
    if not entries:
        return
    is_checkpoint = (outdir / CONFIG_FILE).exists()
    is_all_output = all(e.name in NETWORK_NAMES and (e / CONFIG_FILE).exists() for e in entries)
    if not (is_checkpoint or is_all_output):
        raise UserError(
            f"OUTDIR {outdir} exists and holds other files; convert replaces OUTDIR, so pass a "
            "new folder"
        )
