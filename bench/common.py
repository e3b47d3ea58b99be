"""Shared benchmark helpers: configs, machine facts, result files."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import torch

import gankit
from gankit.api import prepare
from gankit.config import RunConfig

RESULTS = Path(__file__).parent / "results"
# Each gankit preset is compared with the plain loop running the paper's recipe on the same nets.
REFERENCE_OF = {
    "dcgan": "dcgan-paper",
    "lsgan": "dcgan-paper",
    "wgan": "wgan",
    "wgan-gp": "wgan-gp-paper",
    "cgan": "cgan",
    "gan": "gan",
}


def reference_config(preset: str, batch_size: int = 128, same_nets: bool = False) -> RunConfig:
    """The plain loop's config for comparing with `preset`: the paper's maths on its networks.

    `same_nets` (the speed benchmark) gives it exactly gankit's networks where the paper's differ.
    """
    config = gankit.preset(REFERENCE_OF.get(preset, preset))
    if config.train.optimizer == "adam":  # the brief's fair baseline: Adam at 2e-4 everywhere
        config.train.lr = 2e-4  # (WGAN-GP's paper uses 1e-4: slower still at a fixed budget)
    if preset == "cgan":  # the conditional DCGAN nets, label planes concatenated to D's input
        config.model.conditioning = "concat"
        config.model.class_weight = 0.0  # the paper's cGAN has no auxiliary classifier
        config.train.beta1 = 0.5
    if same_nets:  # e.g. gankit's dcgan D has no batch norm, its wgan-gp critic is layer-normed
        config.model.d_norm = gankit.preset(preset).model.d_norm
    config.train.batch_size = batch_size
    return config


def gankit_config(preset: str, batch_size: int = 128) -> RunConfig:
    config = gankit.preset(preset)
    config.train.batch_size = batch_size
    return config


def filled(config: RunConfig) -> tuple[RunConfig, object]:
    """The config with size/channels/classes taken from the data, and the data."""
    return prepare(config)


def machine() -> dict:
    return {
        "host": platform.node(),
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }


def write_result(kind: str, payload: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{time.strftime('%Y%m%d-%H%M%S')}-{platform.node()}-{kind}.json"
    path.write_text(json.dumps({"machine": machine(), **payload}, indent=2))
    return path
