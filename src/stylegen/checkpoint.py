"""Reading safe checkpoints: a folder with `config.json` and `model.safetensors` (above the models).

`config.json` names the model class (from the registry, never an import path), its config
dataclass as JSON, the stylegen version and the format version; `model.safetensors` holds every
parameter and buffer. Loading executes nothing from the files: the class comes from the model
registry, which `import stylegen.models` fills. The writer (`save`, `write_checkpoint_files`, the
format constants) lives below the models in models/serialization.py and is re-exported here.
Official NVIDIA `.pkl` snapshots are read by interop/nvlabs.py. Training state for resume lives
beside a checkpoint (see training/trainer.py) and is read with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

import stylegen.models  # noqa: F401  (registers every model class)
from stylegen import runs
from stylegen.config import config_from_dict
from stylegen.devices import check_device
from stylegen.errors import UserError
from stylegen.fileio import atomic_dir, fsync_files, replace_dir
from stylegen.interop.nvlabs import load_network
from stylegen.models.ensemble import ENSEMBLE_CLASS, Mixture
from stylegen.models.registry import lookup
from stylegen.models.serialization import (
    CONFIG_FILE,
    FORMAT,
    FORMAT_VERSION,
    WEIGHTS_FILE,
    save,
    write_checkpoint_files,
)

__all__ = [
    "atomic_dir",
    "CONFIG_FILE",
    "check_finite",
    "ensemble_members",
    "FORMAT",
    "FORMAT_VERSION",
    "load",
    "read_config",
    "resolve",
    "save",
    "WEIGHTS_FILE",
    "fsync_files",
    "replace_dir",
    "write_checkpoint_files",
]

log = logging.getLogger(__name__)

MAX_CONFIG_BYTES = 1 << 20  # see read_config


def resolve(path: str | os.PathLike) -> Path:
    """Find the checkpoint folder for `path`: itself, or the newest snapshot of a run folder."""
    path = Path(path)
    if path.suffix == ".pkl":
        raise UserError(
            f"{path} is a pickle (official StyleGAN snapshot?); convert it first with "
            f"`stylegen convert {path} OUTDIR`, then pass OUTDIR"
        )
    if not path.exists():
        raise UserError(
            f"network {path} does not exist; pass a checkpoint folder or a run folder "
            "written by `stylegen train` (e.g. runs/00000-fashion-mnist-cpu32)"
        )
    if not path.is_dir():
        raise UserError(f"network {path} is a file; pass the checkpoint folder that contains it")
    if (path / CONFIG_FILE).exists():
        return path
    snapshots = runs.snapshots_holding(path, CONFIG_FILE)
    if snapshots:
        return snapshots[-1]
    generator = _cyclegan_generator(path)
    if generator is not None:
        raise UserError(
            f"{path} is a CycleGAN run or snapshot holding two generators; load one of them, "
            f"e.g. {generator}, or use `stylegen translate --network {path}`"
        )
    raise UserError(
        f"{path} has no {CONFIG_FILE}: it is neither a checkpoint nor a run folder with snapshots"
    )


def _cyclegan_generator(path: Path) -> Path | None:
    """G_AB of a CycleGAN snapshot folder, or of a CycleGAN run's newest snapshot; else None."""
    generator = Path("G_AB") / CONFIG_FILE
    for folder in [path, *reversed(runs.snapshots_holding(path, generator))]:
        if (folder / generator).exists():
            return folder / "G_AB"
    return None


def read_config(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check a checkpoint's config.json."""
    folder = resolve(path)
    file = folder / CONFIG_FILE
    # Checked before reading: a config.json is a few kilobytes, so a huge one is damaged or
    # hostile and would otherwise be read (and parsed) into memory whole.
    size = file.stat().st_size if file.is_file() else 0
    if size > MAX_CONFIG_BYTES:
        raise UserError(
            f"{file} is {size} bytes, more than the {MAX_CONFIG_BYTES} a checkpoint config may "
            "have; the file is damaged: re-save the checkpoint"
        )
    try:
        doc = json.loads(file.read_text())
    except (OSError, ValueError, RecursionError) as exc:
        # ValueError: malformed JSON or an integer of thousands of digits; RecursionError:
        # arrays nested thousands deep.
        raise UserError(
            f"{folder / CONFIG_FILE} is not readable JSON ({exc}); re-save it"
        ) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise UserError(f"{folder / CONFIG_FILE} is not a stylegen checkpoint config")
    version = doc.get("format_version")
    if version != FORMAT_VERSION:
        raise UserError(
            f"checkpoint {folder} has format version {version!r}, this stylegen reads "
            f"version {FORMAT_VERSION}; upgrade stylegen"
        )
    return doc


def load(
    path: str | os.PathLike,
    device: str | torch.device = "cpu",
    which: str | None = None,
    *,
    allow_nonfinite: bool = False,
) -> nn.Module:
    """Rebuild the model saved in `path` (a checkpoint or run folder); returns it in eval mode.

    An official NVIDIA snapshot (`.pkl`) is read safely by interop/nvlabs.py; `which` picks its
    network (G_ema by default, or G, D).

    Weights or buffers holding NaN or infinity (a diverged run, a damaged file) are refused in one
    line naming the first such tensor, because such a network makes black or garbage images;
    `allow_nonfinite=True` loads them anyway with a logged warning.
    """
    device = check_device(device)  # before any file is read
    if Path(path).suffix.lower() == ".pkl":
        model = load_network(path, which=which or "G_ema", device=device)
        check_finite(model.state_dict(), str(path), allow_nonfinite)
        return model
    if which is not None:
        raise UserError(
            f"which={which!r} picks a network of an official .pkl snapshot, but {path} is a "
            "stylegen checkpoint; leave it out"
        )
    folder = resolve(path)
    doc = read_config(folder)
    if doc.get("model_class") == ENSEMBLE_CLASS:
        return _load_ensemble(folder, doc, device)
    name = doc.get("model_class", "")
    if not isinstance(name, str):
        raise UserError(
            f"{folder / CONFIG_FILE}: model_class is {str(name)[:60]!r}, not a name; "
            "the file was edited or damaged"
        )
    entry = lookup(name)
    config = config_from_dict(
        entry.config_cls, doc.get("config", {}), source=str(folder / CONFIG_FILE), prefix="config."
    )
    weights = folder / WEIGHTS_FILE
    if not weights.exists():
        raise UserError(f"{weights} is missing; the checkpoint is incomplete, re-save it")
    try:
        tensors = load_file(weights)
    except (SafetensorError, OSError, ValueError) as exc:
        raise UserError(
            f"{weights} is truncated or corrupt ({exc}); use another snapshot or re-save it"
        ) from None
    check_finite(tensors, str(weights), allow_nonfinite)
    model = entry.cls(config)
    missing, unexpected = _check_keys(model, tensors)
    if missing or unexpected:
        raise UserError(
            f"{weights} does not match {doc['model_class']}: missing {missing[:3]}, "
            f"unexpected {unexpected[:3]}; the file was edited or belongs to another model"
        )
    model.load_state_dict(tensors)
    model.checkpoint_metadata = doc.get("metadata", {})
    return model.to(device).eval().requires_grad_(False)


def check_finite(tensors: dict[str, torch.Tensor], where: str, allow: bool = False) -> None:
    """Refuse (UserError naming `where` and the tensor) floating-point tensors holding NaN or
    infinity; with `allow`, log a warning instead."""
    bad = [
        name
        for name, t in tensors.items()
        if t.is_floating_point() and not bool(torch.isfinite(t).all())
    ]
    if not bad:
        return
    first = tensors[bad[0]]
    count = int((~torch.isfinite(first)).sum())
    what = (
        f"{where} has non-finite weights: {bad[0]} holds {count} NaN/inf value(s) of "
        f"{first.numel()}" + (f" ({len(bad) - 1} more tensor(s) too)" if len(bad) > 1 else "")
    )
    if allow:
        log.warning("%s; loading it anyway (allow_nonfinite)", what)
        return
    raise UserError(
        f"{what}; the run diverged or the file is damaged: use an earlier snapshot, or pass "
        "--allow-nonfinite (allow_nonfinite=True) to load it anyway"
    )


def ensemble_members(folder: Path, doc: dict[str, Any]) -> tuple[list[Path], list[float]]:
    """The member folders (relative paths are relative to the ensemble folder) and weights of
    an ensemble's config.json; one line when the list is malformed."""
    config = doc.get("config", {})
    members, weights = config.get("members"), config.get("weights")
    ok = isinstance(members, list) and isinstance(weights, list) and len(members) == len(weights)
    if not ok or not members or not all(isinstance(m, str) for m in members):
        raise UserError(
            f"{folder / CONFIG_FILE} lists no valid members/weights; write it again with "
            "`stylegen ensemble --members A,B --out ENS`"
        )
    return [folder / m for m in members], [float(w) for w in weights]


def _load_ensemble(folder: Path, doc: dict[str, Any], device: torch.device) -> Mixture:
    """A mixture of the members an ensemble folder lists (each loaded like any network)."""
    paths, weights = ensemble_members(folder, doc)
    members = []
    for member in paths:
        try:
            kind = read_config(member).get("model_class")
        except UserError as exc:
            raise UserError(f"ensemble {folder}: member {exc}") from None
        if kind == ENSEMBLE_CLASS:
            raise UserError(
                f"ensemble {folder} lists another ensemble ({member}); list its members instead"
            )
        members.append(load(member, device=device))
    model = Mixture(members, weights)
    model.checkpoint_metadata = doc.get("metadata", {})
    return model.to(device).eval().requires_grad_(False)


def _check_keys(model: nn.Module, tensors: dict[str, torch.Tensor]) -> tuple[list, list]:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    bad_shape = [k for k in expected if k in tensors and tensors[k].shape != expected[k].shape]
    return missing + bad_shape, unexpected
