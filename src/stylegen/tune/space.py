"""Search spaces of `stylegen tune`: which TrainConfig settings can be tuned, their default
ranges around the preset's values, and range files (JSON, or YAML when PyYAML is installed).

A range is {"low": x, "high": y, "log": true|false} (a float), or {"choices": [...]}. Defaults:
R1 gamma log-uniform over x/÷ 8 of the preset's value (the official docs' manual sweep goes
x/÷ 4), learning rates and the EMA half-life x/÷ 4, the ADA target uniform in [0.4, 0.8] around
its 0.6, the batch one of half, equal and double the preset's. Nothing here imports torch or optuna.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stylegen.errors import UserError

__all__ = ["PARAMS", "ParamRange", "default_ranges", "parse_params", "read_space_file"]

# tune name -> (TrainConfig field, `stylegen train` flag)
PARAMS: dict[str, tuple[str, str]] = {
    "gamma": ("gamma", "--gamma"),
    "glr": ("glr", "--glr"),
    "dlr": ("dlr", "--dlr"),
    "ema": ("ema_kimg", "--ema"),
    "target": ("ada_target", "--target"),
    "batch": ("batch", "--batch"),
    "mixing": ("style_mixing_prob", "--mixing"),
}
DEFAULT_PARAMS = ("gamma", "glr", "dlr", "ema", "target", "batch")
# multiplicative half-width of the default log-uniform range around the preset's value
LOG_SPREAD = {"gamma": 8.0, "glr": 4.0, "dlr": 4.0, "ema": 4.0}


@dataclass(frozen=True)
class ParamRange:
    """One parameter's search range: [low, high] (log-uniform when `log`) or a list of choices."""

    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] | None = None

    @property
    def field(self) -> str:
        return PARAMS[self.name][0]

    def describe(self) -> str:
        if self.choices is not None:
            return f"{self.name} in {list(self.choices)}"
        return f"{self.name} in [{self.low:g}, {self.high:g}]{' (log)' if self.log else ''}"


def parse_params(text: str) -> tuple[str, ...]:
    """'gamma,glr' -> ("gamma", "glr"); UserError naming an unknown parameter."""
    names = tuple(dict.fromkeys(x.strip() for x in text.split(",") if x.strip()))
    if not names:
        raise UserError(f"--params {text!r} names no parameter; choose from: {', '.join(PARAMS)}")
    for name in names:
        if name not in PARAMS:
            raise UserError(
                f"--params: unknown parameter {name!r}; choose from: {', '.join(PARAMS)}"
            )
    return names


def default_ranges(names: tuple[str, ...], resolved_cfg: Any) -> dict[str, ParamRange]:
    """The default range of each parameter around the value of the resolved TrainConfig."""
    ranges = {}
    for name in names:
        value = getattr(resolved_cfg, PARAMS[name][0])
        if name in LOG_SPREAD and value > 0:
            spread = LOG_SPREAD[name]
            ranges[name] = ParamRange(name, value / spread, value * spread, log=True)
        elif name in LOG_SPREAD:  # a preset value of 0 (e.g. no R1): search a small range
            ranges[name] = ParamRange(name, 1e-3, 1.0, log=True)
        elif name == "target":
            ranges[name] = ParamRange(name, 0.4, 0.8)
        elif name == "mixing":
            ranges[name] = ParamRange(name, 0.0, 0.9)
        else:  # batch
            ranges[name] = ParamRange(
                name, choices=tuple(sorted({max(value // 2, 1), value, value * 2}))
            )
    return ranges


def read_space_file(path: str | Path, names: tuple[str, ...]) -> dict[str, ParamRange]:
    """Ranges from a JSON/YAML file {"gamma": {"low": 0.01, "high": 1, "log": true}, ...};
    every key must be one of `names` (the parameters searched)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(
            f"--space {path} cannot be read ({exc}); pass a JSON or YAML file"
        ) from None
    doc = _parse(text, path)
    if not isinstance(doc, dict):
        raise UserError(f"--space {path} must map parameter names to ranges, e.g. {_EXAMPLE}")
    ranges = {}
    for name, spec in doc.items():
        if name not in PARAMS:
            raise UserError(
                f"--space {path}: unknown parameter {name!r}; choose from: {', '.join(PARAMS)}"
            )
        if name not in names:
            raise UserError(
                f"--space {path} sets {name!r}, which --params leaves out; add it to --params"
            )
        ranges[name] = _range(name, spec, path)
    return ranges


_EXAMPLE = '{"gamma": {"low": 0.01, "high": 1, "log": true}, "batch": {"choices": [8, 16]}}'


def _parse(text: str, path: Path) -> Any:
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise UserError(
                f"--space {path} is YAML, which needs PyYAML: pip install 'stylegen[tune]' "
                "(or write it as JSON)"
            ) from None
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            reason = str(exc).splitlines()[0]
            raise UserError(f"--space {path} is not valid YAML ({reason}); fix it") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"--space {path} is not valid JSON ({exc}); fix it") from None


def _range(name: str, spec: Any, path: Path) -> ParamRange:
    where = f"--space {path}: {name}"
    if not isinstance(spec, dict) or not (set(spec) <= {"low", "high", "log", "choices"}):
        raise UserError(f"{where} must be {{low, high, log}} or {{choices}}, e.g. {_EXAMPLE}")
    if "choices" in spec:
        choices = spec["choices"]
        if not isinstance(choices, list) or not choices:
            raise UserError(f"{where} has an empty list of choices; give at least one value")
        for value in choices:
            _check_value(where, name, value)
        return ParamRange(name, choices=tuple(choices))
    low, high, log = spec.get("low"), spec.get("high"), bool(spec.get("log", False))
    for value in (low, high):
        _check_value(where, name, value)
    if not low < high:
        raise UserError(f"{where} range [{low}, {high}] is empty; make low smaller than high")
    if log and low <= 0:
        raise UserError(f"{where} log range needs low > 0, not {low}; raise low or set log false")
    if name == "batch":
        raise UserError(f'{where}: the batch is searched over choices, e.g. {{"choices": [8, 16]}}')
    return ParamRange(name, float(low), float(high), log)


def _check_value(where: str, name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise UserError(f"{where}: {value!r} is not a number")
    if name == "batch" and (not isinstance(value, int) or value < 1):
        raise UserError(f"{where}: batch {value!r} must be a positive integer")
    if value < 0:
        raise UserError(f"{where}: {value!r} is negative; use a value >= 0")
    if name in ("target", "mixing") and value > 1:
        raise UserError(f"{where}: {value!r} is a probability; use a value in [0, 1]")
