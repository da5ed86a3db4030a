"""stylegen: style-based image synthesis in pure PyTorch (StyleGAN2, Karras et al. 2020, ...).

The public API is re-exported here; submodules hold the implementation. Importing stylegen is
cheap: each name loads its module on first use.

    stylegen.train(stylegen.TrainConfig(data="fashion-mnist"))   -> final snapshot folder
    stylegen.resume("runs/00000-fashion-mnist-cpu32")
    G = stylegen.load("runs/00000-fashion-mnist-cpu32")          (or an official .pkl)
    stylegen.generate_images(G, seeds=[0, 1, 2])                 -> uint8 [N, C, H, W]
    stylegen.train_cyclegan(stylegen.CycleGANConfig(data_a=..., data_b=...))
    stylegen.translate_images(stylegen.load_translator(run, "a2b"), images)
    stylegen.train_baseline(stylegen.BaselineConfig(data="fashion-mnist", arch="dcgan"))
    stylegen.reconstruct_images(stylegen.load(vae_run), images)
    stylegen.train_sr(stylegen.SRConfig(data="fashion-mnist", arch="espcn", scale=2))
    stylegen.upscale_images(stylegen.load_upscaler(sr_run), images)   -> uint8, scale x larger
    stylegen.write_ensemble([run_a, run_b], [0.7, 0.3], "ens/")      -> load("ens/") generates
    stylegen.average_snapshots(run, 5, "avg/")
    stylegen.convert_official("network-snapshot.pkl", "out/")
"""

from __future__ import annotations

import importlib
from typing import Any

from stylegen.version import __version__

# name -> (module, attribute)
_API: dict[str, tuple[str, str]] = {
    "TrainConfig": ("stylegen.training.stylegan_config", "TrainConfig"),
    "train": ("stylegen.training.stylegan", "train"),
    "resume": ("stylegen.training.stylegan", "resume"),
    "load": ("stylegen.checkpoint", "load"),
    "generate_images": ("stylegen.generate", "generate_images"),
    "CycleGANConfig": ("stylegen.training.cyclegan", "CycleGANConfig"),
    "train_cyclegan": ("stylegen.training.cyclegan", "train_cyclegan"),
    "BaselineConfig": ("stylegen.training.baselines_config", "BaselineConfig"),
    "train_baseline": ("stylegen.training.baselines", "train"),
    "reconstruct_images": ("stylegen.reconstruct", "reconstruct_images"),
    "resume_cyclegan": ("stylegen.training.cyclegan", "resume_cyclegan"),
    "load_translator": ("stylegen.translate", "load_translator"),
    "translate_images": ("stylegen.translate", "translate_images"),
    "SRConfig": ("stylegen.training.sr_config", "SRConfig"),
    "train_sr": ("stylegen.training.sr", "train"),
    "load_upscaler": ("stylegen.upscale", "load_upscaler"),
    "upscale_images": ("stylegen.upscale", "upscale_uint8"),
    "write_ensemble": ("stylegen.ensembles", "write_ensemble"),
    "average_snapshots": ("stylegen.ensembles", "average_snapshots"),
    "convert_official": ("stylegen.interop.nvlabs", "convert"),
    "UserError": ("stylegen.errors", "UserError"),
    "TrainingDivergedError": ("stylegen.errors", "TrainingDivergedError"),
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'stylegen' has no attribute {name!r}")
    module, attribute = _API[name]
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
