"""Fine-tuning the progressive family (ProGAN, StyleGAN 2019) with `stylegen train --init SOURCE`:
what differs from StyleGAN2/3 (training/finetune.py, which does the rest).

The source must be fully grown: its G_ema shows the full image resolution, no fade in progress
(a snapshot taken while growing is refused). The new run does not grow again from 4x4: it trains
at the source's (= the data's) resolution from its first minibatch (`fixed_resolution`), with the
preset's minibatch size and learning rate of that resolution. FreezeD counts the same D blocks as
StyleGAN2's: b<res> (fromRGB and two 3x3 convolutions) from the highest resolution down; the 4x4
epilogue always trains. ProGAN has no mapping network, so `--freeze-mapping` is refused for it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from stylegen import runs
from stylegen.errors import UserError

__all__ = ["grown_config", "run_discriminator"]


def grown_config(cfg: Any, src: Any) -> Any:
    """The ProgressiveConfig `cfg` (networks already the source's) set to train at the source's
    resolution without growing; UserError for a source still growing."""
    if cfg.freeze_mapping and src.arch == "progan":
        raise UserError("--freeze-mapping: a ProGAN generator has no mapping network; leave it out")
    full = src.G_config.img_resolution
    res, alpha = src.grown or (full, 1.0)
    if res != full or alpha < 1:
        fading = f", fading in at alpha {alpha:.2f}" if alpha < 1 else ""
        raise UserError(
            f"--init {cfg.init} is still growing ({res}x{res} of {full}x{full}{fading}); pass a "
            f"fully grown snapshot, or train the source on until it reaches {full}x{full} "
            "(`stylegen train --resume RUN_DIR --kimg N`)"
        )
    return dataclasses.replace(cfg, fixed_resolution=True)  # apply_init says so in the log


def run_discriminator(run_dir: Path, g_config: Any) -> tuple[Any | None, str | None]:
    """The D config (and preset) of the progressive run that wrote a snapshot, from its
    options; (None, None) for a checkpoint folder outside a run."""
    if not (run_dir / runs.OPTIONS_FILE).is_file():
        return None, None
    from stylegen.config import config_from_dict
    from stylegen.training.progressive_config import ProgressiveConfig, network_configs

    _, values = runs.read_options(run_dir)
    cfg = config_from_dict(ProgressiveConfig, values)
    _, d_cfg = network_configs(cfg, g_config.img_resolution, g_config.img_channels, g_config.c_dim)
    return d_cfg, cfg.preset
