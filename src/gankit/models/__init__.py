"""Model families (one module each) and their presets, found through registries."""

from gankit.models import cgan, dcgan, gan  # noqa: F401  (registers families and presets)
from gankit.models.base import Batch, GANModel, Losses
from gankit.models.registry import MODELS, PRESETS, Preset, build_model, register_preset

__all__ = [
    "MODELS",
    "PRESETS",
    "Batch",
    "GANModel",
    "Losses",
    "Preset",
    "build_model",
    "register_preset",
]
