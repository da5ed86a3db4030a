"""`stylegen train`: train (or resume) a network of any training family, on one process or,
for StyleGAN with `--gpus N` / `--cpu-procs N`, on N processes started through torch's elastic
launcher.

`--arch` picks the family (training/families.py; default StyleGAN2/3, whose presets pick the
arch). Flag defaults and the flags that become config fields come from the config dataclasses:
TrainConfig's flags are written out below with their help; every other family's config fields
become flags automatically (`beta_kl` -> `--beta-kl`, help from the field's metadata). A flag the
chosen family has no field for is refused.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stylegen.commands.common import (
    Subparsers,
    config_default,
    given_flag,
    pick_device,
    refuse_flags_resume_ignores,
    with_progress,
)
from stylegen.config import DIST_BACKENDS, config_to_dict
from stylegen.errors import UserError
from stylegen.training import families
from stylegen.training.stylegan_config import AUG_MODES, INIT_ADA_P, PRECISIONS, TrainConfig


def _default(name: str) -> Any:
    return config_default(TrainConfig, name)


def register(subparsers: Subparsers) -> None:
    p = subparsers.add_parser("train", help="train a generator (StyleGAN2/3 or --arch ...)")
    _add_data_flags(p)
    _add_training_flags(p)
    _add_run_flags(p)
    _add_distributed_flags(p)
    _add_finetune_flags(p)
    _add_family_flags(p)
    p.set_defaults(func=run, train_parser=p)


def _add_data_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", help="image folder, .zip, or built-in: fashion-mnist, emoji")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its last snapshot")
    p.add_argument(
        "--config",
        metavar="JSON",
        help="start from the settings in this file (e.g. `stylegen tune`'s best.json); flags "
        "given as well override it",
    )
    outdir = _default("outdir")
    p.add_argument("--outdir", default=outdir, help=f"parent folder of runs (default {outdir})")
    p.add_argument(
        "--preset",
        default=None,
        help="the family's recipe (StyleGAN: tiny, cpu32 (default), cifar, paper256, "
        "stylegan3-t, stylegan3-t-cpu, ...; --arch gan/dcgan/cgan/vae: cpu32, paper64, tiny; "
        "--arch srcnn/espcn: cpu32, paper, tiny)",
    )
    p.add_argument("--cond", action="store_true", help="class-conditional training")
    p.add_argument("--labels", default=_default("labels"), choices=["json", "folders"])
    p.add_argument("--mirror", action="store_true", help="add x-flipped copies of the data")
    p.add_argument("--max-size", type=int, default=None, help="use at most N images")
    p.add_argument("--skip-bad", action="store_true", help="skip unreadable images")


def _add_training_flags(p: argparse.ArgumentParser) -> None:
    # None: TrainConfig's kimg for a new run, the run's own length with --resume.
    p.add_argument("--kimg", type=float, default=None, help="train for N thousand images")
    p.add_argument(
        "--minutes",
        type=float,
        default=None,
        help="stop after N minutes of training even before --kimg (a snapshot is written)",
    )
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--glr", type=float, default=None, help="G learning rate")
    p.add_argument("--dlr", type=float, default=None, help="D learning rate")
    p.add_argument("--gamma", type=float, default=None, help="R1 weight")
    p.add_argument("--ema", dest="ema_kimg", type=float, default=None, help="EMA half-life, kimg")
    p.add_argument("--pl-weight", type=float, default=None, help="path-length weight (0 = off)")
    p.add_argument("--mixing", dest="style_mixing_prob", type=float, default=None)
    p.add_argument(
        "--shared-fakes",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="one G pass per minibatch: D steps on the fakes (scored with the reals in one "
        "call), then G on the same fakes; 1.1-1.2x the images/s on a CPU, not the official "
        "order (default: the preset's)",
    )
    p.add_argument(
        "--lr-rampdown",
        type=float,
        default=None,
        metavar="F",
        help="over the last fraction F of the run (0-1) both learning rates fall linearly to 0 "
        "(default: the preset's; 0 keeps them constant, as the official code does)",
    )
    p.add_argument(
        "--arch",
        default=None,
        choices=families.all_arches(),
        help="what to train (default: the StyleGAN preset's generator)",
    )
    p.add_argument(
        "--blur-sigma",
        dest="blur_init_sigma",
        type=float,
        default=None,
        help="initial D input blur (default 10 for stylegan3-r, else 0)",
    )
    p.add_argument(
        "--blur-kimg",
        dest="blur_fade_kimg",
        type=float,
        default=None,
        help="kimg over which the D blur fades out (default batch * 200 / 32)",
    )
    # One flag, two TrainConfig fields: the action fills both.
    p.set_defaults(cond_end_kimg=None)
    p.add_argument(
        "--cond-ramp",
        dest="cond_start_kimg",
        action=CondRampAction,
        metavar="START,END",
        help="with --cond: ramp the class information in between these kimg marks "
        "(transitional training, Shahbazi et al. 2022; default: the preset's)",
    )
    p.add_argument("--aug", default=None, choices=AUG_MODES)
    p.add_argument(
        "--p", dest="aug_p", type=float, default=_default("aug_p"), help="augment p (start/fixed)"
    )
    p.add_argument(
        "--target",
        dest="ada_target",
        type=float,
        default=_default("ada_target"),
        help="ADA r_t target",
    )


class CondRampAction(argparse.Action):
    """`--cond-ramp 5,15` -> cond_start_kimg 5.0, cond_end_kimg 15.0 (TrainConfig fields)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, default=None, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        parts = str(values).split(",")
        try:
            start, end = (float(x) for x in parts)
        except ValueError:  # the parser's error: one line, exit 2
            parser.error(f"--cond-ramp {values!r}: expected START,END in kimg, e.g. 5,15")
        namespace.cond_start_kimg, namespace.cond_end_kimg = start, end


def _add_run_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tick", dest="tick_kimg", type=float, default=None, help="kimg per tick")
    p.add_argument("--snap", type=int, default=_default("snap"), help="ticks between snapshots")
    p.add_argument(
        "--metrics",
        type=metric_names,
        default=_default("metrics"),
        help="e.g. fid10k_full (default none)",
    )
    p.add_argument(
        "--metrics-max-real",
        type=int,
        default=None,
        help="at most N dataset images for --metrics, a fixed random subset (default: all)",
    )
    p.add_argument("--seed", type=int, default=_default("seed"))
    p.add_argument(
        "--max-nonfinite",
        type=int,
        default=_default("max_nonfinite"),
        help="stop (exit 3) after N minibatches in a row with non-finite losses",
    )
    p.add_argument("--device", default=None)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument(
        "--precision",
        default=_default("precision"),
        choices=PRECISIONS,
        help="mixed: bfloat16 in the num_fp16_res highest-resolution blocks of G and D; auto: "
        "mixed where the device has bfloat16 hardware (CUDA, AVX512-BF16/AMX CPUs), else fp32 "
        "(default: the preset's; fp32 but for the cpu32-fast presets, which use auto)",
    )
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")


def _add_distributed_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("multi-process training (see README: Multi-GPU / multi-node)")
    g.add_argument("--gpus", type=int, default=None, help="train on N GPUs (N processes, NCCL)")
    g.add_argument("--cpu-procs", type=int, default=None, help="train with N CPU processes (gloo)")
    g.add_argument(
        "--batch-gpu", type=int, default=None, help="images per process per round (default batch/N)"
    )
    g.add_argument(
        "--dist-backend",
        default=None,
        choices=DIST_BACKENDS,
        help="default: $STYLEGEN_DIST_BACKEND or auto (nccl on CUDA, gloo on CPU)",
    )


def _add_finetune_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "fine-tuning (StyleGAN2/3, StyleGAN 2019, ProGAN; see README: Fine-tuning)"
    )
    g.add_argument(
        "--init",
        metavar="SOURCE",
        help="start from this network: a checkpoint folder, a run folder (its newest snapshot) "
        "or an official .pkl; its architecture (and family) is used, G, D and G_ema are copied, "
        "kimg counts from 0; --preset then only picks the training settings (default: the "
        "source run's). A ProGAN/StyleGAN (2019) source must be fully grown: the new run trains "
        "at its resolution from the start, without growing again from 4x4",
    )
    g.add_argument(
        "--freeze-d",
        type=int,
        default=_default("freeze_d"),
        metavar="N",
        help="FreezeD: keep the first N discriminator blocks fixed, counted from the highest "
        "resolution (N=1: the b<res> block at the image resolution with its fromRGB; N=2 adds "
        "b<res/2>; ...). The 4x4 epilogue and label mapping always train, so N is at most "
        "log2(resolution) - 2 (3 at 32x32). ProGAN/StyleGAN (2019): the same count of D blocks "
        "(each fromRGB and two 3x3 convolutions), the 4x4 epilogue always trains",
    )
    g.add_argument(
        "--freeze-mapping",
        action="store_true",
        help="keep G's mapping network fixed (its label embedding still trains); not for "
        "ProGAN, which has none",
    )
    g.add_argument(
        "--init-ada-p",
        default=_default("init_ada_p"),
        choices=INIT_ADA_P,
        help="ADA's p at the start: the source's (when its training state has one) or zero",
    )


def _add_family_flags(p: argparse.ArgumentParser) -> None:
    """A flag for every field of the other families' configs that has none yet (a TrainConfig
    field without a flag, such as r1_interval, stays without one)."""
    taken = {a.dest for a in p._actions} | {f.name for f in dataclasses.fields(TrainConfig)}
    group = None
    for entry in families.FAMILY_TABLE:
        if not entry.arches or entry.kind == families.DEFAULT_KIND:
            continue
        for f in dataclasses.fields(entry.config_class()):
            kind = _flag_type(f.type)
            if f.name in taken or kind is None:
                continue
            group = group or p.add_argument_group("other families (see --arch)")
            flag = "--" + f.name.replace("_", "-")
            help_text = f.metadata.get("help", "")
            if kind is bool:
                group.add_argument(flag, dest=f.name, action="store_true", default=None)
            else:
                group.add_argument(flag, dest=f.name, type=kind, default=None, help=help_text)
            taken.add(f.name)


def _flag_type(annotation: Any) -> type | None:
    """int / float / str / bool for a field annotation such as "float | None"; else None."""
    if isinstance(annotation, type):
        annotation = annotation.__name__
    names = {part.strip() for part in str(annotation).split("|")} - {"None"}
    if len(names) != 1:
        return None
    return {"int": int, "float": float, "str": str, "bool": bool}.get(names.pop())


def metric_names(text: str) -> tuple[str, ...]:
    """'fid10k_full,kid10k_full' -> a tuple of names; 'none' -> ()."""
    names = tuple(x.strip() for x in text.split(",") if x.strip())
    return () if names == ("none",) else names


# ---------------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    from stylegen.training import distributed  # on use: it imports torch

    device = pick_device(args.device or ("cpu" if args.cpu_procs else None))
    nprocs = distributed.process_count(args.gpus, args.cpu_procs, device)
    distributed.resolve_backend(args.dist_backend, device)  # e.g. NCCL without CUDA
    launching = nprocs > 1 and not distributed.is_worker()
    if args.resume:
        _refuse_flags_resume_ignores(args)
    cfg = None if args.resume else make_config(args, device).resolved()
    if cfg is not None and getattr(cfg, "init", None):
        from stylegen.training.finetune import resolve_init  # on use: imports torch

        cfg = resolve_init(cfg).resolved()  # the source's networks, shown by --dry-run too
    if cfg is not None and nprocs > 1 and not isinstance(cfg, TrainConfig):
        raise UserError(f"--arch {args.arch} trains in one process; leave out --gpus/--cpu-procs")
    if cfg is not None and launching:
        from stylegen.training.stylegan import check_before_launch  # on use: imports torch

        check_before_launch(cfg, nprocs)
    if cfg is not None and args.dry_run:
        print(json.dumps(config_to_dict(cfg), indent=2))
        return 0
    if launching:
        return _launch(args, nprocs)
    snap = with_progress(lambda progress: _train(args, cfg, progress))
    if os.environ.get("RANK", "0") == "0":  # one line per job, not per process
        print(f"done: {snap}")
    return 0


def make_config(args: argparse.Namespace, device: str) -> Any:
    """The config of a new run for the family of --arch: every flag that names one of its
    fields, and `device`; a flag set for a field it does not have is refused."""
    base = read_config_file(args.config) if args.config else {}
    if not args.data and not base.get("data"):
        raise UserError("--data is required (a folder, a .zip, or fashion-mnist / emoji)")
    if args.init and args.arch is None:
        from stylegen.training import finetune  # on use: imports torch

        arch = finetune.load_source(args.init).arch
        if finetune.is_progressive(arch):  # the source picks the family (and its arch)
            args.arch = arch
    entry = families.for_arch(args.arch)
    config = entry.config_class()
    _refuse_foreign_flags(args, config, entry)
    if args.config and config is not TrainConfig:
        raise UserError(f"--config holds StyleGAN settings; leave out --arch {args.arch}")
    if args.init and not args.preset and "preset" in {f.name for f in dataclasses.fields(config)}:
        from stylegen.training.finetune import default_preset  # on use: imports torch

        args.preset = default_preset(args.init)
    values = {**base, "device": device}
    parser = args.train_parser
    for f in dataclasses.fields(config):  # flags given on the command line win over the file
        value = getattr(args, f.name, None)
        if value is not None and (f.name not in base or value != parser.get_default(f.name)):
            values[f.name] = value
    return config(**values)


def read_config_file(path: str) -> dict[str, Any]:
    """The TrainConfig fields of a JSON file (as training_options.json or tune's best.json)."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"--config {path} is not a readable JSON file ({exc}); fix it") from None
    if not isinstance(doc, dict):
        raise UserError(f"--config {path} does not hold a JSON object of training settings")
    kind = doc.pop("kind", families.DEFAULT_KIND)
    if kind != families.DEFAULT_KIND:
        raise UserError(f"--config {path} holds {kind} settings; only StyleGAN settings work")
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(doc) - names)
    if unknown:
        raise UserError(f"--config {path} has unknown settings {', '.join(unknown)}; remove them")
    if isinstance(doc.get("metrics"), list):
        doc["metrics"] = tuple(doc["metrics"])
    return doc


def _refuse_foreign_flags(args: argparse.Namespace, config: type, entry: Any) -> None:
    own = {f.name for f in dataclasses.fields(config)}
    config_fields = {
        f.name for e in families.FAMILY_TABLE for f in dataclasses.fields(e.config_class())
    }
    # --arch picks the family itself; a family's config may or may not keep it.
    flag = given_flag(args.train_parser, args, config_fields - own - {"arch"})
    if flag:
        what = f"--arch {args.arch}" if args.arch else entry.title
        raise UserError(f"{flag} does not apply to {what}; leave it out")


# The StyleGAN options a resumed run takes from the command line; it keeps all others. Device,
# threads, batch per GPU and backend fit the run to another machine (a run started on a GPU box
# continues on a laptop with --device cpu); the rest would change the training itself.
RESUME_FLAGS = ("kimg", "minutes", "device", "threads", "batch_gpu", "dist_backend")


def _train(args: argparse.Namespace, cfg: TrainConfig | None, progress: Callable) -> Path:
    """Train a new run of `cfg`, or (cfg None) continue the run of --resume."""
    if cfg is not None:
        return families.for_arch(args.arch).train_fn()(cfg, progress)
    return families.resume(
        args.resume,
        progress,
        **{name: getattr(args, name) for name in RESUME_FLAGS},
        **_family_flags_set(args),
    )


def _refuse_flags_resume_ignores(args: argparse.Namespace) -> None:
    """A StyleGAN option given with --resume that the resumed run would not use is refused
    rather than dropped (the run keeps the options it was started with)."""
    if args.config:
        raise UserError(
            "--config cannot change on --resume: the run keeps the options it started with; "
            "leave --config out, or start a new run"
        )
    ignored = {f.name for f in dataclasses.fields(TrainConfig)} - set(RESUME_FLAGS)
    refuse_flags_resume_ignores(args.train_parser, args, ignored, RESUME_FLAGS)


def _family_flags_set(args: argparse.Namespace) -> dict[str, Any]:
    """The other families' flags given on the command line (their fields, not TrainConfig's):
    with --resume they change the run's options, and a run without such a field refuses them."""
    own = {f.name for f in dataclasses.fields(TrainConfig)}
    values = {}
    for entry in families.FAMILY_TABLE:
        if not entry.arches or entry.kind == families.DEFAULT_KIND:
            continue
        for f in dataclasses.fields(entry.config_class()):
            value = getattr(args, f.name, None)
            if f.name not in own and value is not None:
                values[f.name] = value
    return values


def _launch(args: argparse.Namespace, nprocs: int) -> int:
    """Start nprocs copies of this very command; their own errors they print themselves."""
    from stylegen.training import distributed

    try:
        return distributed.relaunch(args.argv, nprocs)
    except distributed.WorkerFailedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
