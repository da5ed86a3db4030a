"""The table of training families: which `--arch` names each one trains, where its config and
its step live, and which command starts it.

This module imports no torch and no family: the CLI builds `stylegen train`'s flags from the
config classes named here, and a run folder's "kind" finds its family here on `--resume`. A new
family adds one `FamilyEntry` line (see docs/ARCHITECTURE.md, "Where to add a model family").
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stylegen import runs
from stylegen.errors import UserError

__all__ = ["FAMILY_TABLE", "FamilyEntry", "all_arches", "for_arch", "for_kind", "resume"]


@dataclass(frozen=True)
class FamilyEntry:
    """One training family: `config` and `module` are "package.module:Name" / module paths,
    imported on use (the config module must not import torch)."""

    kind: str  # as written into training_options.json
    title: str  # how messages name it
    arches: tuple[str, ...]  # `stylegen train --arch` names it trains ("" : has its own command)
    config: str  # "module:Class" of its config dataclass
    module: str  # module with `FAMILY` (a trainer.Family), `train(cfg, progress)`
    command: str = "stylegen train"  # the command that starts and resumes it

    def config_class(self) -> type:
        module, _, name = self.config.partition(":")
        return getattr(importlib.import_module(module), name)

    def family(self) -> Any:
        """The trainer.Family object (imports torch and the family's networks)."""
        return importlib.import_module(self.module).FAMILY

    def train_fn(self) -> Callable[..., Path]:
        return importlib.import_module(self.module).train


FAMILY_TABLE: tuple[FamilyEntry, ...] = (
    FamilyEntry(
        kind="stylegan",
        title="StyleGAN",
        arches=("stylegan2", "stylegan3-t", "stylegan3-r"),
        config="stylegen.training.stylegan_config:TrainConfig",
        module="stylegen.training.stylegan",
    ),
    FamilyEntry(
        kind="baseline",
        title="baseline (GAN/DCGAN/cGAN/VAE)",
        arches=("gan", "dcgan", "cgan", "vae"),
        config="stylegen.training.baselines_config:BaselineConfig",
        module="stylegen.training.baselines",
    ),
    FamilyEntry(
        kind="progressive",
        title="ProGAN/StyleGAN (2019)",
        arches=("progan", "stylegan1"),
        config="stylegen.training.progressive_config:ProgressiveConfig",
        module="stylegen.training.progressive",
    ),
    FamilyEntry(
        kind="sr",
        title="super-resolution (SRCNN/ESPCN)",
        arches=("srcnn", "espcn"),
        config="stylegen.training.sr_config:SRConfig",
        module="stylegen.training.sr",
    ),
    FamilyEntry(
        kind="cyclegan",
        title="CycleGAN",
        arches=(),
        config="stylegen.training.cyclegan_config:CycleGANConfig",
        module="stylegen.training.cyclegan",
        command="stylegen cyclegan train",
    ),
)

DEFAULT_KIND = "stylegan"  # `stylegen train` without --arch


def all_arches() -> tuple[str, ...]:
    return tuple(a for entry in FAMILY_TABLE for a in entry.arches)


def for_arch(arch: str | None) -> FamilyEntry:
    """The family that trains `arch` (None: StyleGAN, whose presets pick the arch)."""
    if arch is None:
        return for_kind(DEFAULT_KIND)
    for entry in FAMILY_TABLE:
        if arch in entry.arches:
            return entry
    raise UserError(f"unknown --arch {arch!r}; choose one of: {', '.join(all_arches())}")


def for_kind(kind: str) -> FamilyEntry:
    for entry in FAMILY_TABLE:
        if entry.kind == kind:
            return entry
    known = ", ".join(e.kind for e in FAMILY_TABLE)
    raise UserError(
        f"this stylegen does not know training family {kind!r} (known: {known}); upgrade stylegen"
    )


def resume(
    run_dir: str | os.PathLike,
    progress: Callable | None = None,
    *,
    command: str = "stylegen train",
    **overrides: Any,
) -> Path:
    """Continue any family's run from its newest snapshot. `overrides` (None = keep) change
    config fields such as kimg; one the run's family does not have is refused."""
    from stylegen.training.trainer import read_run_config, resume_run  # on use: imports torch

    kind, _ = runs.read_options(run_dir)
    entry = for_kind(kind)
    if entry.command != command:
        raise UserError(
            f"--resume {run_dir} is a {entry.title} run; continue it with "
            f"`{entry.command} --resume {run_dir}`"
        )
    family = entry.family()
    cfg = read_run_config(family, Path(run_dir))
    for name, value in overrides.items():
        if value is None:
            continue
        if not hasattr(cfg, name):
            flag = "--" + name.replace("_", "-")
            raise UserError(f"{flag} does not apply to a {entry.title} run; leave it out")
        setattr(cfg, name, value)
    return resume_run(family, run_dir, cfg, progress)
