"""Ensembles of generators, the two honest forms (averaging the images of different GANs only
blurs them):

- a mixture (`stylegen ensemble`): every sample drawn from one member, chosen by weight
  (models/ensemble.py). Written as a checkpoint folder whose config.json lists the members by
  path (relative to the ensemble folder, so the two can move together) and their weights, with no
  weights file of its own; `stylegen.checkpoint.load` rebuilds it like any network.
- a weight average of snapshots of one run (`stylegen average`): a "model soup" (Wortsman et al.
  2022, "Model soups") or snapshot average (Izmailov et al. 2018, "Averaging Weights Leads to
  Wider Optima and Better Generalization"), written as an ordinary checkpoint.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from stylegen import runs
from stylegen.checkpoint import CONFIG_FILE, FORMAT, FORMAT_VERSION, WEIGHTS_FILE, load, resolve
from stylegen.checkpoint import read_config as read_checkpoint_config
from stylegen.errors import UserError
from stylegen.fileio import atomic_dir
from stylegen.models.ensemble import ENSEMBLE_CLASS
from stylegen.version import __version__

__all__ = ["average_snapshots", "parse_weights", "write_ensemble"]


def parse_weights(text: str | None, count: int) -> list[float]:
    """'0.5,0.3,0.2' -> floats, one per member (None: equal weights); one line when malformed,
    negative, not finite, of the wrong count, or not summing to a positive number."""
    if text is None:
        return [1.0] * count
    try:
        weights = [float(w) for w in str(text).split(",")]
    except ValueError:
        raise UserError(
            f"malformed --weights {text!r}; write numbers such as 0.5,0.3,0.2"
        ) from None
    if len(weights) != count:
        raise UserError(f"--weights {text!r} gives {len(weights)} weights for {count} members")
    if not all(math.isfinite(w) and w >= 0 for w in weights) or sum(weights) <= 0:
        raise UserError(
            f"--weights {text!r} must be finite, non-negative and sum to a positive number"
        )
    return weights


def _shape(G: Any) -> tuple[int, int, int]:
    return int(G.img_resolution), int(G.img_channels), int(getattr(G, "c_dim", 0))


def write_ensemble(
    members: Sequence[str | os.PathLike],
    weights: Sequence[float],
    out: str | os.PathLike,
) -> Path:
    """Check the members (generators of one resolution, channel count and class count) and
    write the ensemble folder `out` atomically; returns it."""
    if len(members) < 2:
        raise UserError("--members needs at least two networks, e.g. --members runs/a,runs/b")
    out = Path(out).absolute()
    folders, shapes = [], []
    for member in members:
        folder = resolve(member).absolute()  # a run folder: pinned to its newest snapshot
        if read_checkpoint_config(folder).get("model_class") == ENSEMBLE_CLASS:
            raise UserError(f"--members {member} is an ensemble; list its members instead")
        G = load(folder)
        if not hasattr(G, "z_dim") or not hasattr(G, "img_resolution"):
            raise UserError(
                f"--members {member} holds a {type(G).__name__}, not a generator; ensembles mix "
                "generators"
            )
        folders.append(folder)
        shapes.append(_shape(G))
    for member, shape in zip(members, shapes):
        if shape != shapes[0]:
            raise UserError(
                f"--members {member} makes {_describe(shape)} but {members[0]} makes "
                f"{_describe(shapes[0])}; mix generators of one data set"
            )
    doc = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "stylegen_version": __version__,
        "model_class": ENSEMBLE_CLASS,
        "config": {
            "members": [os.path.relpath(f, out) for f in folders],
            "weights": [float(w) for w in weights],
        },
        "metadata": {"members_as_given": [str(m) for m in members]},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_dir(out) as tmp:
        (tmp / CONFIG_FILE).write_text(json.dumps(doc, indent=2) + "\n")
    return out


def _describe(shape: tuple[int, int, int]) -> str:
    res, ch, c_dim = shape
    classes = f", {c_dim} classes" if c_dim else ""
    return f"{res}x{res}x{ch}{classes}"


def average_snapshots(run: str | os.PathLike, last: int, out: str | os.PathLike) -> Path:
    """The mean of the weights of the newest `last` snapshots of a run, as a checkpoint at
    `out`. The snapshots must hold the same model class with the same config; integer buffers
    (counters) are taken from the newest."""
    run = Path(run)
    if last < 1:
        raise UserError(f"--last {last} must be >= 1")
    if not run.is_dir():
        raise UserError(f"--snapshots {run} is not a folder; pass a run folder")
    snaps = runs.snapshots_holding(run, CONFIG_FILE)
    if not snaps:
        raise UserError(f"--snapshots {run} has no snapshot-* folders with a {CONFIG_FILE}")
    if len(snaps) < last:
        raise UserError(
            f"--last {last} but {run} has {len(snaps)} snapshot(s); use --last {len(snaps)}"
        )
    snaps = snaps[-last:]
    docs = [read_checkpoint_config(s) for s in snaps]
    first = docs[0]
    for snap, doc in zip(snaps, docs):
        same = (doc.get("model_class"), doc.get("config")) == (
            first.get("model_class"),
            first.get("config"),
        )
        if not same:
            raise UserError(
                f"{snap.name} holds a {doc.get('model_class')} that differs from "
                f"{snaps[0].name}'s {first.get('model_class')} (architecture or config); "
                "average snapshots of one architecture"
            )
    model = load(snaps[-1])
    model.load_state_dict(_mean_tensors([s / WEIGHTS_FILE for s in snaps]))
    meta = {
        "averaged_snapshots": [str(s) for s in snaps],
        "kimg": (docs[-1].get("metadata") or {}).get("kimg"),
    }
    return model.save(out, meta)


def _mean_tensors(files: Sequence[Path]) -> dict[str, torch.Tensor]:
    """Element-wise mean (in float64) of floating tensors; others from the last file."""
    total: dict[str, torch.Tensor] = {}
    newest: dict[str, torch.Tensor] = {}
    for path in files:
        tensors = load_file(path)
        for key, value in tensors.items():
            newest[key] = value
            if value.is_floating_point():
                total[key] = total.get(key, 0) + value.double()
    return {
        key: (total[key] / len(files)).to(value.dtype) if key in total else value
        for key, value in newest.items()
    }
