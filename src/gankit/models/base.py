"""The model contract every GAN family implements; the trainer relies on nothing else.

A model knows *what* its losses are; the one training loop (gankit.train.trainer) knows *how* to run
steps. Models never own optimizers and never call backward(), so precision, EMA, checkpoints and
distributed training are written once, in the loop.

To add a family: subclass `GANModel` in one file under models/, give it a `Config` dataclass, build
its networks in ``__init__`` as ``self.generator`` and (if adversarial) ``self.discriminator``,
return loss dicts from `discriminator_loss`/`generator_loss` (a dict with "loss" to minimise; every
entry is logged), and register it with `register_model` together with its presets.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from gankit.errors import GankitError

Batch = dict[str, Tensor]
Losses = dict[str, Tensor]


def check_ranges(
    config: Any,
    *,
    positive: tuple[str, ...] = (),
    off_or_positive: tuple[str, ...] = (),
    non_negative: tuple[str, ...] = (),
    unit: tuple[str, ...] = (),
) -> None:
    """Refuse a model config value out of its range in one line, before anything is built or
    written: `positive` > 0, `off_or_positive` >= 0 (0: off), `non_negative` >= 0 (weights),
    `unit` in [0, 1]. NaN is refused everywhere."""
    rules = (
        (positive, lambda v: v > 0, "positive"),
        (off_or_positive, lambda v: v >= 0, "0 (off) or positive"),
        (non_negative, lambda v: v >= 0, "0 or positive"),
        (unit, lambda v: 0 <= v <= 1, "in [0, 1]"),
    )
    for keys, valid, what in rules:
        for key in keys:
            value = getattr(config, key)
            if not valid(value):
                raise GankitError(f"model.{key} must be {what}, got {value}")


class GANModel(nn.Module):
    """Base class of all models (see the module docstring for the contract)."""

    Config: ClassVar[type]
    # Subclasses assign `self.generator` and, if adversarial, `self.discriminator` (nn.Modules).
    # The kind of dataset it trains on (a dataset's `kind`; gankit.data.ImageDataset is "images",
    # image-to-image data "pairs" or "unpaired"): other data is refused before training starts.
    data_kind: ClassVar[str] = "images"
    # Image-to-image models translate instead of sampling from noise: `translate` and `preview`.
    translates: ClassVar[bool] = False

    def __init__(self, config: Any) -> None:
        super().__init__()
        self.config = config

    def generator_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters the generator phase optimises."""
        return self.generator.parameters()

    def discriminator_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters the discriminator phase optimises (none for generator-only models)."""
        discriminator = getattr(self, "discriminator", None)
        return iter(()) if discriminator is None else discriminator.parameters()

    def discriminator_loss(self, batch: Batch, step: int) -> Losses:
        """Losses of one discriminator (critic) step on `batch`."""
        raise NotImplementedError

    def generator_loss(self, batch: Batch, step: int) -> Losses:
        """Losses of one generator step on `batch`."""
        raise NotImplementedError

    def fit_data(self, data: Any, seed: int) -> None:
        """Called once before a new run trains, with its training data (`seed`: the run's), for
        models that keep statistics of it as buffers (saved in checkpoints, so not on resume)."""

    def after_discriminator_step(self) -> None:
        """Called after each discriminator optimizer step (e.g. WGAN weight clipping)."""

    @property
    def regularizer_interval(self) -> int:
        """N > 0: `discriminator_regularizer` runs as its own phase every N steps (lazy
        regularisation, Karras et al. 2020, Sec. 3.1); 0: the model has none."""
        return 0

    def discriminator_regularizer(self, batch: Batch, step: int) -> Losses:
        """A penalty on the discriminator alone, already scaled by the interval (a lazy phase)."""
        raise NotImplementedError

    @property
    def num_classes(self) -> int:
        """Classes a conditional model can be asked for (0 when unconditional)."""
        return int(getattr(self.config, "num_classes", 0) or 0)

    def sample(
        self,
        n: int,
        *,
        labels: Tensor | None = None,
        seed: int | None = None,
        generator: nn.Module | None = None,
    ) -> Tensor:
        """n images (n, C, H, W) in [-1, 1]; `generator` overrides the network (e.g. the EMA)."""
        raise NotImplementedError(f"{type(self).__name__} does not sample from noise")

    def translate(
        self, images: Tensor, *, direction: str | None = None, generator: nn.Module | None = None
    ) -> Tensor:
        """Translated images (B, C, H, W) in [-1, 1] of images in [-1, 1] whose H and W are
        multiples of the model's `stride`; `generator` overrides the network (e.g. the EMA)."""
        from gankit.errors import GankitError

        raise GankitError(f"{type(self).__name__} generates from noise: it translates no images")

    def preview(self, data: Any, generator: nn.Module) -> Tensor:
        """The training grid of an image-to-image model (rows of 8), from fixed examples of
        `data` (the training dataset) and `generator` in eval mode."""
        raise NotImplementedError

    @classmethod
    def tiny_config(cls) -> Any:
        """A very small config for the contract test (a few steps on tiny data)."""
        raise NotImplementedError


def noise(n: int, dim: int, seed: int | None, device: torch.device) -> Tensor:
    """Standard normal noise (n, dim): from the global RNG, or from `seed` without touching it."""
    if seed is None:
        return torch.randn(n, dim, device=device)
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed)).to(device)
