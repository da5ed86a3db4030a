"""The `stylegen` command package as a whole: every command's --help, the exit codes, and the
train / cyclegan train flags tied to TrainConfig / CycleGANConfig (defaults and fields)."""

import argparse
import dataclasses

import pytest

from stylegen.commands import build_parser, main
from stylegen.commands import cyclegan as cyclegan_command
from stylegen.commands import train as train_command
from stylegen.commands.common import config_default, config_from_args
from stylegen.errors import (
    EXIT_DIVERGED,
    EXIT_INTERRUPTED,
    EXIT_SYSTEM_ERROR,
    EXIT_USER_ERROR,
    TrainingDivergedError,
    UserError,
)
from stylegen.training import distributed, families, losses

COMMAND_NAMES = [
    "train",
    "tune",
    "generate",
    "reconstruct",
    "upscale",
    "dataset",
    "demo",
    "convert",
    "cyclegan",
    "translate",
    "metrics",
    "video",
    "mix",
    "interpolate",
    "project",
    "directions",
    "edit",
    "serve",
    "ensemble",
    "average",
]


def _subcommands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    """(("train",), parser), ..., (("cyclegan", "train"), parser), ... depth first."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*prefix, name), sub
                yield from _subcommands(sub, (*prefix, name))


SUBCOMMANDS = [path for path, _ in _subcommands(build_parser())]


def _parser(path: tuple[str, ...]) -> argparse.ArgumentParser:
    return dict(_subcommands(build_parser()))[path]


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


# ---------------------------------------------------------------------------------------------
# --help


def test_help_lists_the_commands_in_order(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    positions = [out.index(f"\n    {name} ") for name in COMMAND_NAMES]
    assert positions == sorted(positions)
    assert [path[0] for path in SUBCOMMANDS if len(path) == 1] == COMMAND_NAMES


@pytest.mark.parametrize("path", SUBCOMMANDS, ids=" ".join)
def test_every_command_help_exits_0(path, capsys):
    with pytest.raises(SystemExit) as exc:
        main([*path, "--help"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: stylegen {' '.join(path)} ")


# ---------------------------------------------------------------------------------------------
# Exit codes


def test_bad_flag_is_one_line_and_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--snap", "many"])
    assert exc.value.code == EXIT_USER_ERROR
    assert "invalid int value: 'many'" in _one_line_error(capsys)


def test_user_error_is_one_line_and_exit_2(capsys):
    assert main(["train", "--data", "fashion-mnist", "--snap", "0", "--dry-run"]) == 2
    assert "--snap 0 must be >= 1" in _one_line_error(capsys)
    assert EXIT_USER_ERROR == 2


def test_diverged_training_is_one_line_and_exit_3(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(losses, "g_nonsaturating_loss", lambda logits: logits.sum() * float("nan"))
    args = ["--preset", "tiny", "--max-size", "64", "--kimg", "1", "--threads", "2"]
    outdir = str(tmp_path / "runs")
    assert main(["train", "--data", "fashion-mnist", "--outdir", outdir, *args]) == 3
    assert "losses were not finite for 20 steps in a row" in _one_line_error(capsys)
    assert EXIT_DIVERGED == 3 and not issubclass(TrainingDivergedError, UserError)


def test_interrupt_is_exit_130(monkeypatch, capsys):
    from stylegen.data import prepare

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(prepare, "convert_dataset", interrupted)
    assert main(["dataset", "--source", "s", "--dest", "d.zip", "--resolution", "8"]) == 130
    assert capsys.readouterr().err == "interrupted\n"
    assert EXIT_INTERRUPTED == 130


def test_a_full_disk_is_one_line_and_exit_4(monkeypatch, capsys):
    import errno

    from stylegen.data import prepare

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", "d.zip")

    monkeypatch.setattr(prepare, "convert_dataset", disk_full)
    assert main(["dataset", "--source", "s", "--dest", "d.zip", "--resolution", "8"]) == 4
    err = _one_line_error(capsys)
    assert "No space left on device (d.zip); free disk space" in err
    assert EXIT_SYSTEM_ERROR == 4


def _launch_failing(monkeypatch, exitcode: int) -> list:
    """Make the elastic launcher report rank 1 failing with `exitcode`; returns the argv log."""
    launched = []

    def launch(argv, nprocs):
        launched.append((list(argv), nprocs))
        raise distributed.WorkerFailedError(1, exitcode)

    monkeypatch.delenv(distributed.BACKEND_ENV, raising=False)
    monkeypatch.setattr(distributed, "launch", launch)
    return launched


LAUNCH = ["train", "--data", "fashion-mnist", "--preset", "tiny", "--max-size", "16"]


@pytest.mark.parametrize("exitcode", [EXIT_USER_ERROR, EXIT_DIVERGED])
def test_launched_process_errors_keep_their_exit_code(exitcode, monkeypatch, capsys):
    launched = _launch_failing(monkeypatch, exitcode)
    assert main([*LAUNCH, "--cpu-procs", "2"]) == exitcode
    assert launched == [([*LAUNCH, "--cpu-procs", "2"], 2)]
    assert capsys.readouterr().err == ""  # the failed process has printed its own error


def test_launched_process_crash_is_exit_1(monkeypatch, capsys):
    _launch_failing(monkeypatch, -9)
    assert main([*LAUNCH, "--cpu-procs", "2"]) == 1
    assert "rank 1 failed with exit code -9" in _one_line_error(capsys)


# ---------------------------------------------------------------------------------------------
# Flags <-> config dataclasses

# Config fields whose flag defaults to None although the field has a default.
NONE_FLAG_DEFAULTS = {
    "kimg",  # None: TrainConfig's kimg for a new run, the run's own length with --resume
    "device",  # None: cuda when available, else cpu
}
# ... and per command: `train --preset` None is the default preset of the --arch's family.
NONE_FLAG_DEFAULTS_OF = {("train",): NONE_FLAG_DEFAULTS | {"preset"}}
# Flags that steer the command rather than set a config field.
COMMAND_DESTS = {
    "command",
    "cyclegan_command",
    "func",
    "verbose",
    "resume",
    "config",  # train --config: a file of config values, not one field
    "dry_run",
    "gpus",
    "cpu_procs",
    "train_parser",
    "cyclegan_train_parser",
}
CONFIG_COMMANDS = [
    (("train",), train_command.TrainConfig, train_command.make_config),
    (("cyclegan", "train"), cyclegan_command.CycleGANConfig, cyclegan_command.make_config),
]
REQUIRED = {("train",): ["--data", "d"], ("cyclegan", "train"): ["--data-a", "a", "--data-b", "b"]}
IDS = [" ".join(path) for path, _, _ in CONFIG_COMMANDS]


def _has_default(config: type, name: str) -> bool:
    field = {f.name: f for f in dataclasses.fields(config)}[name]
    return (
        field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING
    )


@pytest.mark.parametrize("path, config, make_config", CONFIG_COMMANDS, ids=IDS)
def test_flag_defaults_are_the_config_defaults(path, config, make_config):
    fields = {f.name for f in dataclasses.fields(config)}
    actions = [a for a in _parser(path)._actions if a.dest in fields]
    assert len(actions) > 10
    for action in actions:
        none_flags = NONE_FLAG_DEFAULTS_OF.get(path, NONE_FLAG_DEFAULTS)
        if action.dest in none_flags or not _has_default(config, action.dest):
            assert action.default is None, action.option_strings
        else:
            assert action.default == config_default(config, action.dest), action.option_strings


@pytest.mark.parametrize("path, config, make_config", CONFIG_COMMANDS, ids=IDS)
def test_unset_flags_give_the_config_defaults(path, config, make_config):
    args = build_parser().parse_args([*path, *REQUIRED[path]])
    names = [f.name for f in dataclasses.fields(config) if not _has_default(config, f.name)]
    required = {name: getattr(args, name) for name in names}
    assert make_config(args, "cpu") == config(**required, device="cpu")


@pytest.mark.parametrize("path, config, make_config", CONFIG_COMMANDS, ids=IDS)
def test_every_config_flag_reaches_the_config(path, config, make_config):
    args = build_parser().parse_args([*path, *REQUIRED[path]])
    fields = {f.name for f in dataclasses.fields(config)}
    # `train` also carries the flags of the other --arch families' configs.
    any_family = {
        f.name for e in families.FAMILY_TABLE for f in dataclasses.fields(e.config_class())
    }
    others = any_family - fields if path == ("train",) else set()
    assert set(vars(args)) - fields - others <= COMMAND_DESTS, "a flag that sets no config field"
    sentinels = {name: object() for name in vars(args) if name in fields}
    if "arch" in sentinels:  # --arch picks the family: a real StyleGAN arch name
        sentinels["arch"] = "stylegan3-r"
    for name, value in sentinels.items():
        setattr(args, name, value)
    cfg = make_config(args, sentinels["device"])
    assert {name: getattr(cfg, name) for name in sentinels} == sentinels


def test_config_helpers():
    TrainConfig = train_command.TrainConfig
    assert config_default(TrainConfig, "ada_target") == TrainConfig(data="d").ada_target
    assert config_default(TrainConfig, "G_overrides") == {}
    with pytest.raises(ValueError, match="no default"):
        config_default(TrainConfig, "data")
    with pytest.raises(ValueError, match="no field"):
        config_default(TrainConfig, "nonsense")
    args = argparse.Namespace(data="d", kimg=None, snap=3, unrelated=1)
    cfg = config_from_args(TrainConfig, args, device="cuda")
    assert (cfg.data, cfg.snap, cfg.device) == ("d", 3, "cuda")
    assert cfg.kimg == TrainConfig(data="d").kimg  # None: the dataclass default
