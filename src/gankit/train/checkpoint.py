"""Atomic checkpoints: every tensor in one safetensors file, the loop's state as JSON inside it.

One file means one atomic rename: a checkpoint is either the old one or the new one, never half of
each. Loading uses safetensors only, which cannot execute code. Tensor keys: ``model.*`` (generator
and discriminator state_dicts), ``ema.*``, ``optim.<phase>.<index>.<name>``, ``rng.*``; the JSON
(metadata key "gankit") holds the step, data position, optimizer hyper-parameters and config.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor

from gankit.errors import GankitError

META_KEY = "gankit"


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` via a temporary file in the same folder and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def save_checkpoint(path: Path, tensors: dict[str, Tensor], state: dict[str, Any]) -> None:
    """Write `tensors` and the JSON-able `state` to `path` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # safetensors wants contiguous tensors that share no storage (channels_last weights are not).
    flat = {key: value.detach().contiguous().clone().cpu() for key, value in tensors.items()}
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        save_file(flat, temporary, metadata={META_KEY: json.dumps(state)})
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load_checkpoint(path: Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """(tensors, state) from a checkpoint written by `save_checkpoint`; never runs code."""
    path = Path(path)
    if not path.is_file():
        raise GankitError(f"{path}: no checkpoint there")
    try:
        tensors = load_file(path)
        from safetensors import safe_open

        with safe_open(path, "pt") as file:
            metadata = file.metadata() or {}
        state = json.loads(metadata[META_KEY])
    except (SafetensorError, OSError, KeyError, ValueError) as error:
        raise GankitError(f"{path}: not a gankit checkpoint or corrupt ({error})") from None
    return tensors, state


def with_prefix(prefix: str, state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
    """Keys of `state_dict` under ``prefix.``."""
    return {f"{prefix}.{key}": value for key, value in state_dict.items()}


def strip_prefix(prefix: str, tensors: dict[str, Tensor]) -> dict[str, Tensor]:
    """The entries of `tensors` under ``prefix.``, without it."""
    start = len(prefix) + 1
    return {key[start:]: value for key, value in tensors.items() if key.startswith(prefix + ".")}


def optimizer_tensors(name: str, optimizer: torch.optim.Optimizer) -> tuple[dict, list]:
    """Split an optimizer's state_dict into tensors (for safetensors) and JSON param groups."""
    state = optimizer.state_dict()
    tensors = {
        f"optim.{name}.{index}.{key}": torch.as_tensor(value)
        for index, entries in state["state"].items()
        for key, value in entries.items()
    }
    return tensors, state["param_groups"]


def restore_optimizer(
    name: str, optimizer: torch.optim.Optimizer, tensors: dict[str, Tensor], groups: list
) -> None:
    """Inverse of `optimizer_tensors`."""
    entries: dict[int, dict[str, Tensor]] = {}
    for key, value in strip_prefix(f"optim.{name}", tensors).items():
        index, _, field = key.partition(".")
        entries.setdefault(int(index), {})[field] = value
    optimizer.load_state_dict({"state": entries, "param_groups": groups})
    # load_state_dict gives the moments the file's (contiguous) layout: give them their
    # parameter's, which a fused optimizer needs (a channels_last weight's moments would be
    # combined element by element in the wrong order on CPU, refused on CUDA).
    for parameter, state in optimizer.state.items():
        for key, value in state.items():
            if isinstance(value, Tensor) and value.shape == parameter.shape:
                state[key] = torch.empty_like(parameter, dtype=value.dtype).copy_(value)
