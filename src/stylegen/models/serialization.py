"""The checkpoint writer: a folder with `config.json` and `model.safetensors` (below the models).

`config.json` names the model class by its registry name (`model.registry_name`, never an import
path), holds its config dataclass as JSON, the stylegen version and the format version;
`model.safetensors` holds every parameter and buffer. Saving builds a temporary folder beside the
target and renames it into place (`stylegen.fileio.atomic_dir`), so a crash never leaves a
half-written checkpoint. This module imports no model class; the reader (`stylegen.checkpoint`)
sits above the models and rebuilds them from the registry.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from safetensors.torch import save_file
from torch import nn

from stylegen.config import config_to_dict
from stylegen.fileio import atomic_dir
from stylegen.models.registry import name_of
from stylegen.version import __version__

__all__ = [
    "CONFIG_FILE",
    "FORMAT",
    "FORMAT_VERSION",
    "WEIGHTS_FILE",
    "save",
    "write_checkpoint_files",
]

FORMAT = "stylegen-checkpoint"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


def write_checkpoint_files(
    model: nn.Module, folder: Path, metadata: dict[str, Any] | None = None
) -> None:
    """Write config.json and model.safetensors into an existing folder (not atomic by itself)."""
    doc = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "stylegen_version": __version__,
        "model_class": name_of(model),
        "config": config_to_dict(model.config),
        "metadata": metadata or {},
    }
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, folder / WEIGHTS_FILE, metadata={"format": FORMAT})
    (folder / CONFIG_FILE).write_text(json.dumps(doc, indent=2) + "\n")


def save(model: nn.Module, path: str | os.PathLike, metadata: dict[str, Any] | None = None) -> Path:
    """Write `model` to the folder `path` atomically, replacing what was there."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_dir(path) as tmp:
        write_checkpoint_files(model, tmp, metadata)
    return path
