"""Fine-tuning from any trained network: `stylegen train --init SOURCE`, for StyleGAN2/3 and the
progressive family (ProGAN, StyleGAN 2019; its own rules in training/finetune_progressive.py).

The source is a stylegen checkpoint folder, a run folder (its newest snapshot) or an official
NVIDIA `.pkl` (read by interop/nvlabs.py, nothing executed). The new run takes its architecture
from the source (`resolve_init` writes the source's network configs into the run's
`G_overrides` / `D_overrides`, so `--resume` rebuilds the same networks without the source) and
starts from its G, D and G_ema weights (`apply_init`, called by the trainer for a new run only);
kimg counts from 0. Two ways to keep pretrained knowledge, both optional:

* FreezeD (Mo et al. 2020, "Freeze the Discriminator: a Simple Baseline for Fine-Tuning GANs"):
  the first `freeze_d` discriminator blocks, counted from the highest resolution, keep their
  weights; the 4x4 epilogue (and the label mapping of a conditional D) always train.
* `freeze_mapping`: the generator's mapping network keeps its weights, but for the label
  embedding, which always trains (G_ema's copy still follows G through the EMA).

A changed number of classes gets freshly initialised label layers (the embedding, and the first
mapping layer when conditioning is switched on or off); every other tensor is copied exactly.
ADA's p starts from the source's when its training state has one (`init_ada_p="source"`; for an
official .pkl the `p` buffer of its pickled AugmentPipe), else 0.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from stylegen import runs
from stylegen.config import config_to_dict
from stylegen.errors import UserError
from stylegen.training.progressive_config import ProgressiveConfig

__all__ = [
    "InitSource",
    "apply_init",
    "d_block_count",
    "default_preset",
    "frozen_parameters",
    "load_source",
    "resolve_init",
    "set_requires_grad",
    "source_arch",
    "trainable",
]

log = logging.getLogger(__name__)

# Config fields that follow the new data or training settings, not the source.
DATA_FIELDS = ("c_dim",)
TRAINING_FIELDS = ("magnitude_ema_beta",)  # StyleGAN3: set from the batch size


@dataclass
class InitSource:
    """What a fine-tuning run starts from: configs and state dicts of the source networks."""

    path: str  # the resolved checkpoint folder or .pkl
    arch: str  # stylegan2 | stylegan3-t | stylegan3-r | progan | stylegan1
    G_config: Any
    D_config: Any | None
    G_ema: dict[str, torch.Tensor]
    G: dict[str, torch.Tensor] | None = None  # None: G starts as G_ema
    D: dict[str, torch.Tensor] | None = None  # None: D starts fresh
    ada_p: float | None = None  # the source's ADA probability, when its state holds one
    preset: str | None = None  # the source run's preset (training defaults), when known
    grown: tuple[int, float] | None = None  # progressive: (resolution, alpha) G_ema shows


_CACHE: dict[tuple[str, float], InitSource] = {}

PROGRESSIVE_ARCHES = {"progan.Generator": "progan", "stylegan1.Generator": "stylegan1"}


def source_arch(G: nn.Module) -> str:
    """The `--arch` name of a generator module."""
    name = getattr(G, "registry_name", "")
    if name == "stylegan2.Generator":
        return "stylegan2"
    if name == "stylegan3.Generator":
        return "stylegan3-r" if G.config.conv_kernel == 1 else "stylegan3-t"
    if name in PROGRESSIVE_ARCHES:
        return PROGRESSIVE_ARCHES[name]
    raise UserError(
        f"--init holds a {name or type(G).__name__}, not a StyleGAN2/3, StyleGAN (2019) or "
        "ProGAN generator; pass one of those"
    )


def is_progressive(arch: str) -> bool:
    return arch in PROGRESSIVE_ARCHES.values()


def load_source(init: str) -> InitSource:
    """Read `init` (checkpoint folder, run folder or official .pkl); one line when it is not a
    network we can fine-tune. Read once per process (resolve_init and apply_init both ask)."""
    path = Path(init)
    if not path.exists():
        raise UserError(
            f"--init {init} does not exist; pass a stylegen checkpoint or run folder, or an "
            "official .pkl"
        )
    key = (str(path.resolve()), path.stat().st_mtime)
    if key not in _CACHE:
        _CACHE.clear()  # one source at a time: its tensors can be large
        reader = _read_pkl if path.suffix.lower() == ".pkl" else _read_stylegen
        _CACHE[key] = reader(path)
    return _CACHE[key]


def _read_pkl(path: Path) -> InitSource:
    from stylegen.interop.nvlabs import read_snapshot

    snap = read_snapshot(path)
    nets = {name: snap.build(name) for name in ("G_ema", "G", "D") if name in snap.networks}
    if "G_ema" not in nets and "G" not in nets:
        raise UserError(f"--init {path} holds no generator (G or G_ema); pass a full snapshot")
    G_ema = nets.get("G_ema", nets.get("G"))
    arch = source_arch(G_ema)
    D = nets.get("D")
    d_name = "progan.Discriminator" if is_progressive(arch) else "stylegan2.Discriminator"
    if D is not None and getattr(D, "registry_name", "") != d_name:
        D = None  # e.g. a TF-era discriminator cannot train a StyleGAN2/3; D starts fresh
    return InitSource(
        path=str(path),
        arch=arch,
        G_config=G_ema.config,
        D_config=D.config if D is not None else None,
        G_ema=G_ema.state_dict(),
        G=nets["G"].state_dict() if "G" in nets else None,
        D=D.state_dict() if D is not None else None,
        ada_p=_pkl_ada_p(snap),
        grown=_grown(G_ema),
    )


def _pkl_ada_p(snap: Any) -> float | None:
    """ADA's p of an official snapshot: the `p` buffer of its pickled AugmentPipe (the safe
    reader keeps the record's state; nothing is rebuilt). None when absent or not a probability."""
    record = snap.augment_pipe
    if record is None:
        return None
    p = (record.state.get("_buffers") or {}).get("p")
    value = float(p) if isinstance(p, torch.Tensor) and p.numel() == 1 else None
    if value is None or not 0.0 <= value <= 1.0:  # NaN fails the comparison too
        log.info("--init %s: its augment_pipe's p (%s) is not a probability; ignored", snap.path, p)
        return None
    return value


def _grown(G: nn.Module) -> tuple[int, float] | None:
    """(resolution, alpha) a growing generator shows; None for the others."""
    return G.current_resolution() if hasattr(G, "current_resolution") else None


def _read_stylegen(path: Path) -> InitSource:
    from stylegen import checkpoint

    run_dir = path if (path / runs.OPTIONS_FILE).is_file() else path.parent
    if (run_dir / runs.OPTIONS_FILE).is_file():
        kind, _ = runs.read_options(run_dir)
        if kind not in ("stylegan", "progressive"):
            raise UserError(
                f"--init {path} is a {kind} run; --init takes a StyleGAN2/3, StyleGAN (2019) or "
                "ProGAN checkpoint or run folder, or an official .pkl"
            )
    try:
        folder = checkpoint.resolve(path)
        G_ema = checkpoint.load(folder)
    except UserError as exc:
        raise UserError(f"--init {path} is not a network: {exc}") from None
    arch = source_arch(G_ema)
    source = InitSource(str(folder), arch, G_ema.config, None, G_ema.state_dict())
    source.grown = _grown(G_ema)
    state_file = folder / runs.STATE_FILE
    if not state_file.is_file():
        log.info("--init %s has no training state: G starts as its G_ema, D fresh", folder)
        return source
    state = torch.load(state_file, map_location="cpu", weights_only=True)
    source.G, source.D = state.get("G"), state.get("D")
    ada = (state.get("augment") or {}).get("ada")
    source.ada_p = float(ada["p"]) if ada else None
    if is_progressive(arch):
        from stylegen.training.finetune_progressive import run_discriminator
    else:
        run_discriminator = _run_discriminator
    source.D_config, source.preset = run_discriminator(folder.parent, G_ema.config)
    if source.D_config is None:
        source.D = None
    return source


def _run_discriminator(run_dir: Path, g_config: Any) -> tuple[Any | None, str | None]:
    """The D config (and preset) of the run that wrote a snapshot, from its options."""
    if not (run_dir / runs.OPTIONS_FILE).is_file():
        return None, None
    from stylegen.config import config_from_dict
    from stylegen.training.stylegan_config import TrainConfig, build_configs

    _, values = runs.read_options(run_dir)
    cfg = config_from_dict(TrainConfig, values)
    _, d_cfg = build_configs(
        cfg.preset,
        img_resolution=g_config.img_resolution,
        img_channels=g_config.img_channels,
        c_dim=g_config.c_dim,
        arch=cfg.arch,
    )
    return dataclasses.replace(d_cfg, **cfg.D_overrides), cfg.preset


# ---------------------------------------------------------------------------------------------
# Config: the architecture comes from the source

# The preset whose training settings a fine-tuning run uses when none is given and the source
# is not a stylegen run (whose own preset is used): the CPU-sized recipe of its arch.
DEFAULT_PRESETS = {
    "stylegan2": "cpu32",
    "stylegan3-t": "stylegan3-t-cpu",
    "stylegan3-r": "stylegan3-r",
    "progan": "cpu32",
    "stylegan1": "cpu32",
}


def default_preset(init: str) -> str:
    """The preset of the source's run, else the default one of the source's arch."""
    src = load_source(init)
    return src.preset or DEFAULT_PRESETS[src.arch]


def resolve_init(cfg: Any) -> Any:
    """A copy of the TrainConfig (or ProgressiveConfig) `cfg` whose networks are those of
    `cfg.init`: arch, G/D configs (as overrides), the resolved source path; UserError for a
    contradicting --arch or a source of the other family."""
    src = load_source(cfg.init)
    if cfg.arch is not None and cfg.arch != src.arch:
        raise UserError(
            f"--arch {cfg.arch} contradicts --init {cfg.init}, which holds a {src.arch} "
            "generator; leave --arch out (the architecture comes from the source)"
        )
    progressive_cfg = isinstance(cfg, ProgressiveConfig)
    if is_progressive(src.arch) != progressive_cfg:
        family = "ProGAN/StyleGAN (2019)" if progressive_cfg else "StyleGAN2/3"
        raise UserError(
            f"--init {cfg.init} holds a {src.arch} generator, which {family} training cannot "
            f"start from; fine-tune it with `stylegen train --data DATA --init {cfg.init}`"
        )
    skip = DATA_FIELDS + TRAINING_FIELDS
    g = {k: v for k, v in config_to_dict(src.G_config).items() if k not in skip}
    G_overrides = {**g, **cfg.G_overrides}
    D_overrides = dict(cfg.D_overrides)
    if src.D_config is not None:
        d = {k: v for k, v in config_to_dict(src.D_config).items() if k not in skip}
        D_overrides = {**d, **D_overrides}
    cfg = dataclasses.replace(
        cfg, init=src.path, arch=src.arch, G_overrides=G_overrides, D_overrides=D_overrides
    )
    if progressive_cfg:
        from stylegen.training.finetune_progressive import grown_config

        cfg = grown_config(cfg, src)
    return cfg


def check_data(cfg: Any, resolution: int, channels: int) -> None:
    """The new data must have the source's image size and channels."""
    want_res = cfg.G_overrides.get("img_resolution", resolution)
    want_ch = cfg.G_overrides.get("img_channels", channels)
    if want_res != resolution:
        raise UserError(
            f"--init {cfg.init} makes {want_res}x{want_res} images but --data {cfg.data} is "
            f"{resolution}x{resolution}; resize it: `stylegen dataset --source {cfg.data} "
            f"--dest data-{want_res}.zip --resolution {want_res}`"
        )
    if want_ch != channels:
        raise UserError(
            f"--init {cfg.init} makes images with {want_ch} channel(s) but --data {cfg.data} has "
            f"{channels}; convert it: `stylegen dataset --source {cfg.data} --dest "
            f"data.zip --resolution {resolution} --channels {want_ch}`"
        )


def check_labels(cfg: Any, c_dim: int) -> None:
    """--freeze-mapping cannot keep a first mapping layer that conditioning on/off reshapes."""
    src_c_dim = load_source(cfg.init).G_config.c_dim
    if cfg.freeze_mapping and (src_c_dim == 0) != (c_dim == 0):
        have = "conditional" if src_c_dim else "unconditional"
        raise UserError(
            f"--freeze-mapping cannot keep the mapping of --init {cfg.init} ({have}) fixed: its "
            f"first layer is new when --cond is {'off' if src_c_dim else 'on'}; leave out "
            "--freeze-mapping or match the source's --cond"
        )


# ---------------------------------------------------------------------------------------------
# Freezing


def d_block_count(D: nn.Module) -> int:
    """How many blocks --freeze-d can freeze: the b<res> blocks above the 4x4 epilogue."""
    return len(D.block_resolutions)


def frozen_parameters(G: nn.Module, D: nn.Module, freeze_d: int, freeze_mapping: bool) -> set[int]:
    """ids of the parameters that keep their values: D's first `freeze_d` blocks from the
    highest resolution (FreezeD) and, with `freeze_mapping`, G's mapping network."""
    count = d_block_count(D)
    if freeze_mapping and not hasattr(G, "mapping"):
        raise UserError("--freeze-mapping: a ProGAN generator has no mapping network; leave it out")
    if freeze_d > count:
        raise UserError(
            f"--freeze-d {freeze_d} is above the discriminator's {count} blocks "
            f"(b{D.block_resolutions[0]} down to b8; the 4x4 epilogue always trains); "
            f"use at most {count}"
        )
    frozen: list[nn.Parameter] = []
    for res in D.block_resolutions[:freeze_d]:
        frozen += list(getattr(D, f"b{res}").parameters())
    if freeze_mapping:  # the label embedding always trains: a new class count needs it
        # (StyleGAN2's `embed` is a layer, StyleGAN 2019's a bare matrix)
        frozen += [p for n, p in G.mapping.named_parameters() if n.split(".")[0] != "embed"]
    return {id(p) for p in frozen}


def trainable(module: nn.Module, frozen: set[int]) -> list[nn.Parameter]:
    """The parameters of `module` that train (not in `frozen`, a set of ids)."""
    return [p for p in module.parameters() if id(p) not in frozen]


def set_requires_grad(module: nn.Module, flag: bool, frozen: set[int]) -> None:
    """requires_grad_ that leaves frozen parameters without gradients."""
    module.requires_grad_(False)
    if flag:
        for p in trainable(module, frozen):
            p.requires_grad_(True)


# ---------------------------------------------------------------------------------------------
# Weights


def apply_init(step: Any, cfg: Any) -> None:
    """Copy the source's weights into a new step's G, D and G_ema and set ADA's p (StyleGAN2/3)."""
    src = load_source(cfg.init)
    labels = LABEL_LAYERS.get(src.arch, LABEL_LAYERS["stylegan2"])
    fresh = _copy_into(step.G, src.G if src.G is not None else src.G_ema, "G", labels)
    _copy_into(step.G_ema, src.G_ema, "G_ema", labels)
    if src.D is not None:
        fresh += _copy_into(step.D, src.D, "D", labels)
    else:
        log.info("--init %s has no discriminator: D starts fresh", src.path)
    if fresh:
        log.info(
            "class count %d -> %d: fresh label layers %s",
            src.G_config.c_dim,
            step.G.c_dim,
            ", ".join(fresh),
        )
    controller = getattr(getattr(step, "augment", None), "controller", None)  # ADA runs only
    p = src.ada_p if controller is not None and cfg.init_ada_p == "source" else None
    if p is not None:
        controller.load_state_dict({**controller.state_dict(), "p": p})
        log.info("ADA p starts from the source's %.4f", p)
    elif controller is not None and cfg.init_ada_p == "source":
        log.info("--init %s carries no ADA state: p starts from --p %.4f", src.path, cfg.aug_p)
    log.info("initialised G, D and G_ema from %s", src.path)
    if is_progressive(src.arch):
        res = src.G_config.img_resolution
        log.info("training at the source's %dx%d from the start (no re-growing from 4x4)", res, res)


# The layers whose shape the class count sets (G's label embedding and first mapping layer, or
# ProGAN's first dense layer, which takes z and the one-hot label; D's per-class output).
LABEL_LAYERS = {
    "stylegan2": ("mapping.", "b4.out."),
    "stylegan1": ("mapping.", "b4.out."),
    "progan": ("b4.dense.", "b4.out."),
}


def _copy_into(
    module: nn.Module, tensors: dict[str, torch.Tensor], what: str, label_layers: tuple[str, ...]
) -> list[str]:
    """Copy every tensor of `tensors` into `module`; returns the names left fresh because the
    class count changed their shape. Any other difference is an error."""
    own = module.state_dict()
    fresh = sorted(
        name for name in own if name not in tensors or tensors[name].shape != own[name].shape
    )
    unexpected = [name for name in tensors if name not in own]
    # Only the label layers may differ.
    bad = [n for n in fresh + unexpected if not n.startswith(label_layers)]
    if bad:
        raise UserError(
            f"the source's {what} does not match the new network ({', '.join(bad[:3])}); "
            "pass a source of the same architecture"
        )
    with torch.no_grad():
        for name, value in own.items():
            if name not in fresh:
                value.copy_(tensors[name])
    return [f"{what}.{n}" for n in fresh]
