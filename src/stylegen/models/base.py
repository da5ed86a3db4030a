"""Base class for networks that carry their config and can save themselves as a checkpoint."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from torch import nn


class ConfiguredModule(nn.Module):
    """An nn.Module built from a config dataclass (`self.config`), saveable with `.save(path)`."""

    config: Any

    def save(self, path: str | os.PathLike, metadata: dict[str, Any] | None = None) -> Path:
        """Write config.json + model.safetensors to the folder `path` atomically."""
        from stylegen.checkpoint import save

        return save(self, path, metadata)
