"""The restricted unpickler never runs code from a snapshot.

Each malicious pickle below is first shown to be live (a plain `pickle.loads`, or running the
embedded source, creates a marker file), then stylegen must refuse it with an error naming the
offending global or record, and the marker must not appear.
"""

import collections
import contextlib
import io
import os
import pickle
import subprocess
import sys
import types
import warnings

import numpy as np
import pytest
import torch

from stylegen.commands import main
from stylegen.errors import UserError
from stylegen.interop import nvlabs
from stylegen.models import Generator
from stylegen.training.stylegan_config import build_configs
from tests.interop.official_pickles import (
    network_record,
    official_names,
    record_of,
    snapshot_dict,
    write_pickle,
)


class Payload:
    """Pickles as a call of `func(*args)`: what a malicious snapshot would contain."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)


class WithState(Payload):
    """`func(*args)` followed by a BUILD instruction with `state`."""

    def __init__(self, func, args, state):
        super().__init__(func, *args)
        self.state = state

    def __reduce__(self):
        return (self.func, self.args, self.state)


def payload(kind: str, marker) -> Payload:
    touch_py = f"open({str(marker)!r}, 'w').close()"
    return {
        "os.system": Payload(os.system, f"touch '{marker}'"),
        "eval": Payload(eval, touch_py),
        "builtins.exec": Payload(exec, touch_py),
        "subprocess.Popen": Payload(subprocess.Popen, ["touch", str(marker)]),
    }[kind]


# The name each callable has in a pickle (os.system lives in the posix module on Linux).
GLOBAL_NAMES = {
    "os.system": f"{os.system.__module__}.system",
    "eval": "builtins.eval",
    "builtins.exec": "builtins.exec",
    "subprocess.Popen": "subprocess.Popen",
}
KINDS = list(GLOBAL_NAMES)


@pytest.fixture(scope="module")
def G():
    g, _ = build_configs("tiny", img_resolution=8)
    return Generator(g)


@pytest.mark.parametrize("kind", KINDS)
def test_payloads_are_live_with_plain_pickle(tmp_path, kind):
    marker = tmp_path / "marker"
    obj = pickle.loads(pickle.dumps(payload(kind, marker), protocol=4))  # unsafe on purpose
    if isinstance(obj, subprocess.Popen):
        obj.wait()
    assert marker.exists()


def _place(where: str, evil: Payload, G) -> object:
    if where == "root":
        return evil
    if where == "training_set":
        snap = snapshot_dict(dict(G_ema=G))
        snap["training_set_kwargs"]["path"] = evil
        return snap
    rec = network_record(G, "ada")  # deep inside a network's state, after many tensors
    rec.child("synthesis.b8.conv1").state["act_gain"] = evil
    return snapshot_dict(dict(G_ema=rec))


@pytest.mark.parametrize("protocol", [3, 4])  # Python 3.7 wrote 3, later ones 4
@pytest.mark.parametrize("where", ["root", "training_set", "network_state"])
@pytest.mark.parametrize("kind", KINDS)
def test_payload_globals_are_refused_by_name(tmp_path, G, kind, where, protocol):
    marker = tmp_path / "marker"
    path = write_pickle(_place(where, payload(kind, marker), G), tmp_path / "evil.pkl", protocol)
    with pytest.raises(UserError, match=f"calls {GLOBAL_NAMES[kind]}, which no official"):
        nvlabs.read_snapshot(path)
    assert not marker.exists()


def test_cli_refuses_payload_with_one_line(tmp_path, G, capsys):
    marker = tmp_path / "marker"
    path = write_pickle(
        _place("network_state", payload("os.system", marker), G), tmp_path / "e.pkl"
    )
    assert main(["generate", "--network", str(path), "--outdir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert GLOBAL_NAMES["os.system"] in err and err.count("\n") == 1
    assert main(["convert", str(path), str(tmp_path / "c")]) == 2
    assert not marker.exists() and not (tmp_path / "c").exists()


def evil_source(marker) -> str:
    return f"open({str(marker)!r}, 'w').close()\nclass FullyConnectedLayer: pass\n"


def test_nested_record_with_its_own_source_is_refused(tmp_path, G):
    marker, proof = tmp_path / "marker", tmp_path / "proof"
    exec(evil_source(proof), {})  # the embedded source is live code
    assert proof.exists()
    rec = network_record(G, "ada")
    mapping = rec.child("mapping")
    fc0 = G.mapping.fc0
    mapping.state["_modules"]["fc0"] = record_of(fc0, source=evil_source(marker))
    path = write_pickle(snapshot_dict(dict(G_ema=rec)), tmp_path / "evil.pkl")
    with pytest.raises(UserError, match=r"nested persistent object fc0 \(FullyConnectedLayer\)"):
        nvlabs.load_network(path)
    assert not marker.exists()


def test_record_of_an_unknown_class_is_refused(tmp_path, G):
    marker = tmp_path / "marker"
    rec = network_record(G, "ada")
    rec.child("mapping").state["_modules"]["fc0"] = record_of(
        G.mapping.fc0, source=evil_source(marker), class_name="Payload"
    )
    path = write_pickle(snapshot_dict(dict(G_ema=rec)), tmp_path / "evil.pkl")
    with pytest.raises(UserError, match="persistent object of class 'Payload'"):
        nvlabs.read_snapshot(path)
    snap = snapshot_dict(dict(G_ema=G))
    snap["augment_pipe"] = record_of(torch.nn.Module(), class_name="Evil")
    with pytest.raises(UserError, match="class 'Evil'"):
        nvlabs.read_snapshot(write_pickle(snap, tmp_path / "evil2.pkl"))
    assert not marker.exists()


def test_embedded_source_is_never_run(tmp_path, G):
    """Even a consistent source (every record carries it, as in real files) is only data."""
    marker = tmp_path / "marker"

    def with_source(module):
        rec = record_of(module, source=evil_source(marker))
        for name, sub in module.named_children():
            rec.state["_modules"][name] = with_source(sub)
        return rec

    rec = with_source(G)
    rec.state["_init_kwargs"] = network_record(G, "ada").state["_init_kwargs"]
    path = write_pickle(snapshot_dict(dict(G_ema=rec)), tmp_path / "s.pkl")
    model = nvlabs.load_network(path)
    z = torch.randn([2, G.z_dim])
    torch.testing.assert_close(model(z, None, noise_mode="const"), G(z, None, noise_mode="const"))
    assert not marker.exists()


# ---------------------------------------------------------------------------------------------
# tensors, storages, NumPy and pickle features official files never use


def _pickled(obj, protocol=4, persistent=None) -> bytes:
    buf = io.BytesIO()
    pickler = pickle.Pickler(buf, protocol=protocol)
    if persistent is not None:
        pickler.persistent_id = persistent
    with official_names():
        pickler.dump(obj)
    return buf.getvalue()


def _storage(n=4):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TypedStorage is deprecated, but it is what pickles
        return torch.zeros(n).storage()


@pytest.mark.parametrize(
    "obj,msg",
    [
        (
            lambda: Payload(
                torch._utils._rebuild_tensor_v2, _storage(), 0, (1000,), (1,), False, {}
            ),
            "reaches past the end of its storage",
        ),
        (
            lambda: Payload(torch._utils._rebuild_tensor_v2, _storage(), 0, (2,), (-1,), False, {}),
            "negative or non-integer size or stride",
        ),
        (
            lambda: Payload(torch.storage._load_from_bytes, _torch_save({"a": torch.zeros(2)})),
            "holds a dict",
        ),
        (lambda: np.array(["a", None], dtype=object), "NumPy dtype"),
        (  # a valid tensor, re-pointed by Tensor.__setstate__ (set_ resizes the storage)
            lambda: WithState(
                torch._utils._rebuild_tensor_v2,
                (_storage(), 0, (2,), (1,), False, {}),
                (_storage(), 0, (10**6,), (1,)),
            ),
            "changes a tensor after building it",
        ),
        (  # hooks set by Tensor.__setstate__ from a 3-tuple state
            lambda: WithState(
                torch._utils._rebuild_tensor_v2,
                (_storage(), 0, (2,), (1,), False, {}),
                (False, None, collections.OrderedDict(h=collections.OrderedDict())),
            ),
            "changes a tensor after building it",
        ),
        (
            lambda: WithState(
                torch._utils._rebuild_tensor_v2,
                (_storage(), 0, (2,), (1,), False, {}),
                (False, None, {"hook": print}),
            ),
            "calls builtins.print",
        ),
    ],
)
def test_malformed_data_is_refused(tmp_path, obj, msg):
    path = tmp_path / "bad.pkl"
    path.write_bytes(_pickled({"G_ema": obj()}))
    with pytest.raises(UserError, match=msg):
        nvlabs.read_snapshot(path)


def _torch_save(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def test_storage_blob_with_a_payload_is_refused(tmp_path):
    marker = tmp_path / "marker"
    blob = pickle.dumps(payload("os.system", marker), protocol=3)
    path = tmp_path / "bad.pkl"
    path.write_bytes(_pickled({"G_ema": Payload(torch.storage._load_from_bytes, blob)}))
    with pytest.raises(UserError, match="tensor storage torch cannot read safely") as exc:
        nvlabs.read_snapshot(path)
    assert "\n" not in str(exc.value)  # the CLI prints it as one line
    assert not marker.exists()


def test_persistent_ids_and_plain_torch_modules_are_refused(tmp_path):
    path = tmp_path / "p.pkl"
    path.write_bytes(_pickled({"G_ema": "x"}, persistent=lambda o: "id" if o == "x" else None))
    with pytest.raises(UserError, match="persistent ids"):
        nvlabs.read_snapshot(path)
    path.write_bytes(pickle.dumps({"G_ema": torch.nn.Linear(2, 2)}))
    with pytest.raises(UserError, match="calls torch.nn.modules.linear.Linear"):
        nvlabs.read_snapshot(path)


# ---------------------------------------------------------------------------------------------
# TensorFlow-era snapshots


@contextlib.contextmanager
def tensorflow_names():
    """A stand-in for dnnlib.tflib.network.Network, the class TF-era snapshots pickle."""

    class Network:
        def __init__(self, name):
            self.state = dict(
                version=4,
                name=name,
                static_kwargs={},
                components={},
                build_module_src="raise SystemExit('never run')\n",
                build_func_name="training.networks_stylegan2.G_main",
                variables=[],
            )

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


def test_tensorflow_stylegan2_snapshot_is_detected(tmp_path, capsys):
    """TF-era networks are read as data (ProGAN and StyleGAN 2019 convert: test_nvlabs_tf.py);
    a TF StyleGAN2 one is refused with the way to convert it."""
    with tensorflow_names() as Network:
        data = pickle.dumps((Network("G"), Network("D"), Network("Gs")), protocol=3)
    path = tmp_path / "stylegan2-ffhq-config-f.pkl"
    path.write_bytes(data)
    snapshot = nvlabs.read_snapshot(path)
    with pytest.raises(UserError, match="TensorFlow StyleGAN2 network.*legacy.py"):
        snapshot.build("G_ema")
    assert main(["convert", str(path), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "TensorFlow StyleGAN2" in err and "networks_stylegan2.G_main" in err
    assert err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_other_tensorflow_names_are_refused(tmp_path):
    path = tmp_path / "tf.pkl"
    path.write_bytes(b"\x80\x03cdnnlib.tflib.tfutil\nrun\n)R.")  # dnnlib.tflib.tfutil.run()
    with pytest.raises(UserError, match="names dnnlib.tflib.tfutil.run.*nothing from the file"):
        nvlabs.read_snapshot(path)
