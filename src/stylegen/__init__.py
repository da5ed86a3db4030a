"""stylegen: style-based image synthesis in pure PyTorch (StyleGAN2, Karras et al. 2020, ...).

The public API is re-exported here; submodules hold the implementation. Importing stylegen is
cheap: torch-heavy modules load on first use.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "generate_images", "load", "UserError"]
__all__ += ["CycleGANConfig", "train_cyclegan", "load_translator", "translate_images"]


def load(path: Any, device: Any = "cpu", which: str | None = None) -> Any:
    """Load a checkpoint folder, a run folder's newest snapshot, or an official NVIDIA .pkl
    snapshot (`which`: G_ema by default, G or D); see checkpoint.load."""
    from stylegen.checkpoint import load as _load

    return _load(path, device=device, which=which)


def generate_images(*args: Any, **kwargs: Any) -> Any:
    """uint8 images for seeds; see generate.generate_images."""
    from stylegen.generate import generate_images as _generate

    return _generate(*args, **kwargs)


def __getattr__(name: str) -> Any:
    if name == "UserError":
        from stylegen.errors import UserError

        return UserError
    if name in _CYCLEGAN_API:  # CycleGAN (Zhu et al. 2017): train, then translate
        import importlib

        return getattr(importlib.import_module(_CYCLEGAN_API[name]), name)
    raise AttributeError(name)


_CYCLEGAN_API = {
    "CycleGANConfig": "stylegen.training.cyclegan",
    "train_cyclegan": "stylegen.training.cyclegan",
    "load_translator": "stylegen.translate",
    "translate_images": "stylegen.translate",
}
