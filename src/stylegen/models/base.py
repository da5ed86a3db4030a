"""Base class for networks that carry their config and can save themselves as a checkpoint."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

from torch import nn

from stylegen.models.serialization import save


class ConfiguredModule(nn.Module):
    """An nn.Module built from a config dataclass (`self.config`), saveable with `.save(path)`.

    Subclasses set `config_class` (their config dataclass) and register with
    `@register_model(name)` (models/registry.py), which sets `registry_name`.
    """

    config: Any
    config_class: ClassVar[type]
    registry_name: ClassVar[str]

    def save(self, path: str | os.PathLike, metadata: dict[str, Any] | None = None) -> Path:
        """Write config.json + model.safetensors to the folder `path` atomically."""
        return save(self, path, metadata)
