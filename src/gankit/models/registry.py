"""The registries of model families and presets.

A family is a `GANModel` subclass (one file in gankit.models); a preset is a family plus config
values for the model and the trainer, with the paper it comes from. ``wgan-gp`` is the DCGAN
networks + the Wasserstein loss + a gradient penalty + the paper's optimiser: a preset, not a copy.
Where gankit's default departs from a paper's recipe (for speed or quality at a small budget), the
paper's recipe stays available as ``<name>-paper`` and the preset's `why` says what differs.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from gankit.config import RunConfig, TrainConfig, set_value
from gankit.models.base import GANModel
from gankit.registry import Registry

MODELS: Registry[type[GANModel]] = Registry("model family")
PRESETS: Registry[Preset] = Registry("model")


@dataclass
class Preset:
    """A named starting point: family + model values + trainer values + its paper."""

    name: str
    family: str
    paper: str
    summary: str
    model: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    why: str = ""  # how and why this preset departs from the paper's recipe

    def config(self) -> RunConfig:
        """A fresh RunConfig with this preset's values applied."""
        model_config = MODELS.get(self.family).Config()
        config = RunConfig(name=self.name, model=model_config, train=TrainConfig())
        for section, values in (("model", self.model), ("train", self.train)):
            for key, value in values.items():
                set_value(config, f"{section}.{key}", copy.deepcopy(value), f"preset {self.name}")
        return config


def register_preset(preset: Preset) -> Preset:
    """Add a preset (names are unique)."""
    PRESETS.add(preset.name, preset)
    return preset


def build_model(config: RunConfig) -> GANModel:
    """Instantiate the model a resolved config describes."""
    return MODELS.get(PRESETS.get(config.name).family)(config.model)
