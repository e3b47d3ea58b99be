"""Model families (one module each) and their presets, found through registries."""

from gankit.models import cgan, cyclegan, dcgan, gan, pix2pix, stylegan  # noqa: F401  (registers)
from gankit.models import srgan as _srgan  # noqa: F401  (registers SRResNet and SRGAN)
from gankit.models import stargan as _stargan  # noqa: F401  (registers StarGAN)
from gankit.models import style_transfer as _style_transfer  # noqa: F401  (registers it)
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
