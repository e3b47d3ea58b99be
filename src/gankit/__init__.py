"""gankit: generative adversarial networks, one training loop, offline evaluation.

>>> import gankit
>>> config = gankit.preset("dcgan")          # a typed RunConfig
>>> config.train.steps = 2000
>>> run_dir = gankit.train(config)
>>> images = gankit.load(run_dir).sample(16)  # (16, C, H, W) in [-1, 1]
"""

from gankit.api import list_models, load, resume_config, sample, train
from gankit.config import RunConfig
from gankit.errors import GankitError
from gankit.models import PRESETS


def preset(name: str) -> RunConfig:
    """A fresh config of the named preset (see `list_models`)."""
    return PRESETS.get(name).config()


def evaluate(*args, **kwargs):  # noqa: ANN002, ANN003
    """Evaluate a run, samples.npz or image folder (see gankit.metrics.evaluate.evaluate)."""
    from gankit.metrics.evaluate import evaluate as run

    return run(*args, **kwargs)


def translate(*args, **kwargs):  # noqa: ANN002, ANN003
    """Translate image files with a pix2pix or CycleGAN run (gankit.translation.translate_files)."""
    from gankit.translation import translate_files

    return translate_files(*args, **kwargs)


def stylize(*args, **kwargs):  # noqa: ANN002, ANN003
    """Stylize image files with a style-transfer run (models.style_transfer.stylize_files)."""
    from gankit.models.style_transfer import stylize_files

    return stylize_files(*args, **kwargs)


__all__ = [
    "GankitError",
    "RunConfig",
    "evaluate",
    "list_models",
    "load",
    "preset",
    "resume_config",
    "sample",
    "stylize",
    "train",
    "translate",
]
__version__ = "0.1.0"
