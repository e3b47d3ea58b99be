"""Typed run configuration: dataclasses, TOML load/save, dotted overrides (``train.lr=1e-4``).

A run's config has four parts: top-level fields (`RunConfig`), ``[data]`` (`DataConfig`),
``[train]`` (`TrainConfig`, the loop's settings) and ``[model]`` (the model family's own `Config`
dataclass). The resolved config is written to ``runs/<name>/config.toml`` and reproduces the run.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w
import tomllib

from gankit.errors import GankitError


@dataclass
class TrainConfig:
    """Settings of the one training loop."""

    steps: int = 5000  # generator steps in all (a resumed run continues up to this number)
    epochs: float = 0.0  # > 0: train for this many passes over the data instead of `steps`
    max_seconds: float = 0.0  # > 0: stop (with a checkpoint) after this much wall-clock time
    batch_size: int = 128
    optimizer: str = "adam"  # adam | rmsprop
    lr: float = 2e-4  # generator learning rate (and the discriminator's unless lr_d is set)
    lr_d: float = 0.0  # > 0: a separate discriminator learning rate
    beta1: float = 0.5
    beta2: float = 0.999
    lr_decay_start: float = 1.0  # fraction of steps after which the lr decays linearly to 0
    lr_schedule: str = "linear"  # from lr_decay_start on: linear (to 0) | step (lr / 10)
    d_steps: int = 1  # discriminator (critic) steps per generator step
    ema: float = 0.999  # EMA decay of the generator's weights for sampling; 0 = off
    precision: str = "auto"  # auto | fp32 | bf16 | fp16 (auto: bf16 where the hardware has it)
    channels_last: bool = True
    compile: bool = False
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    threads: int = 0  # CPU threads; 0 = all cores
    log_every: int = 50
    sample_every: int = 500
    checkpoint_every: int = 1000
    eval_every: int = 0  # > 0: FID etc. every this many steps (needs gankit.metrics)
    eval_n: int = 5000
    eval_metrics: list[str] = field(default_factory=lambda: ["fid"])
    tensorboard: bool = True
    sync_batchnorm: bool = False  # torchrun on CUDA: batch norm over the global batch
    dist_timeout: float = 600.0  # torchrun: seconds a process waits for the others, then fails


@dataclass
class DataConfig:
    """Where the training images come from, and options for the loaders that take them.

    The options go to the loader as keywords (gankit.data.load_data) when they differ from these
    defaults; a loader that does not take one refuses it. Today only ``quickdraw`` takes them.
    """

    spec: str = "fashion-mnist"  # kind[:location], see gankit.data
    categories: list[str] = field(default_factory=list)  # classes to use (empty: all)
    per_class: int = 0  # images per class (0: the loader's default)
    recognized: str = "any"  # any | yes | no: Quick, Draw! drawings the game recognised or not
    countries: list[str] = field(default_factory=list)  # country codes to keep (empty: all)
    skip_bad: bool = False  # skip malformed records (and say how many) instead of stopping
    attrs: list[str] = field(default_factory=list)  # attributes to select (celeba; empty: default)

    def options(self) -> dict[str, Any]:
        """The loader options that differ from their defaults, by name."""
        default = DataConfig()
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name != "spec" and getattr(self, f.name) != getattr(default, f.name)
        }


@dataclass
class RunConfig:
    """Everything a run needs; `model` holds the model family's own config dataclass."""

    name: str  # the model preset, e.g. "dcgan" or "wgan-gp"
    model: Any
    seed: int = 0
    out: str = ""  # run directory; empty = runs/<name>-<time>
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def to_dict(config: RunConfig) -> dict[str, Any]:
    """The config as nested plain dicts (TOML-ready)."""
    return dataclasses.asdict(config)


def dumps(config: RunConfig) -> str:
    """TOML text of the config."""
    return tomli_w.dumps(to_dict(config))


def save(config: RunConfig, path: Path) -> None:
    """Write the config as TOML (atomically)."""
    from gankit.train.checkpoint import write_atomic

    write_atomic(path, dumps(config).encode())


def load(path: Path) -> RunConfig:
    """Read a config.toml written by `save` (or by hand) into typed dataclasses."""
    try:
        raw = tomllib.loads(Path(path).read_text())
    except OSError as error:
        raise GankitError(f"{path}: cannot read ({error.strerror or error})") from None
    except tomllib.TOMLDecodeError as error:
        raise GankitError(f"{path}: invalid TOML ({error})") from None
    return from_dict(raw, str(path))


def from_dict(raw: dict[str, Any], source: str = "config") -> RunConfig:
    """Build a RunConfig from nested dicts, checking every key and type."""
    from gankit.models import PRESETS

    if "name" not in raw:
        raise GankitError(f'{source}: missing the model name (name = "dcgan")')
    preset = PRESETS.get(raw["name"])
    config = preset.config()
    for section in ("data", "train", "model"):
        for key, value in raw.get(section, {}).items():
            set_value(config, f"{section}.{key}", value, source)
    for key in ("seed", "out"):
        if key in raw:
            set_value(config, key, raw[key], source)
    unknown = set(raw) - {"name", "seed", "out", "data", "train", "model"}
    if unknown:
        raise GankitError(f"{source}: unknown key {sorted(unknown)[0]!r}")
    return config


def parse_value(text: str) -> Any:
    """A --set value: TOML syntax (1e-4, true, [1, 2], "x"), else the bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(config: RunConfig, overrides: list[str]) -> None:
    """Apply ``section.key=value`` overrides (``--set train.lr=1e-4``) in order."""
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep:
            raise GankitError(f"--set {item!r}: expected key=value, e.g. train.lr=1e-4")
        set_value(config, key.strip(), parse_value(text.strip()), "--set")


def set_value(config: RunConfig, dotted: str, value: Any, source: str) -> None:
    """Set a dotted key after checking that it exists and that the value has the field's type."""
    *path, key = dotted.split(".")
    target: Any = config
    for part in path:
        if not dataclasses.is_dataclass(target) or part not in _fields(target):
            raise GankitError(f"{source}: unknown key {dotted!r}")
        target = getattr(target, part)
    if not dataclasses.is_dataclass(target) or key not in _fields(target):
        known = ", ".join(sorted(_fields(target))) if dataclasses.is_dataclass(target) else ""
        raise GankitError(
            f"{source}: unknown key {dotted!r}" + (f" (known: {known})" if known else "")
        )
    expected = typing.get_type_hints(type(target))[key]
    setattr(target, key, _coerce(value, expected, dotted, source))


def _fields(obj: Any) -> set[str]:
    return {f.name for f in dataclasses.fields(obj)}


def _coerce(value: Any, expected: Any, key: str, source: str) -> Any:
    origin = typing.get_origin(expected)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if origin is list and isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if origin is list and isinstance(value, list):
        return value
    if origin in (typing.Union, types.UnionType) or expected is Any:
        return value
    if (
        isinstance(expected, type)
        and isinstance(value, expected)
        and not (expected is int and isinstance(value, bool))
    ):
        return value
    name = getattr(expected, "__name__", str(expected))
    raise GankitError(f"{source}: {key} must be {name}, got {value!r}")
