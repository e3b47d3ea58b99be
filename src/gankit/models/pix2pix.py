"""pix2pix: Isola et al. 2017, "Image-to-Image Translation with Conditional Adversarial Networks".

A conditional GAN on aligned pairs (x, y): the generator G(x) is a U-Net (gankit.nn.unet) whose
only noise is dropout (Sec. 3.1); the discriminator D(x, y) is a PatchGAN (gankit.nn.patchgan) that
sees the input and an output (real y or fake G(x)) stacked as channels (Sec. 3.2.2). The objective
is Eq. 4, G* = arg min_G max_D L_cGAN(G, D) + lambda L_L1(G), with L_cGAN of Eq. 1 (the generator
maximises log D(x, G(x)): the non-saturating loss, Sec. 3.3), L_L1 = E ||y - G(x)||_1 (Eq. 3) and
lambda = 100. D's objective is halved, "which slows down the rate at which D learns relative to G"
(Sec. 3.3). Training: Adam(2e-4, 0.5, 0.999), the learning rate constant for the first half of the
run and then decayed linearly to zero (the trainer's ``lr_decay_start = 0.5``).

``model.direction`` picks the input side of the pairs (AtoB: A is the input, B the target). With
``gan_weight = 0`` the model has no discriminator: the paper's "L1" baseline (Table 1), preset
``pix2pix-l1``. Batches are {"a", "b"} (gankit.data.paired).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from gankit.errors import GankitError
from gankit.losses import ADVERSARIAL, l1
from gankit.models.base import Batch, GANModel, Losses, check_ranges
from gankit.models.registry import MODELS, Preset, register_preset
from gankit.nn.blocks import dcgan_init
from gankit.nn.patchgan import PatchDiscriminator
from gankit.nn.unet import UNetGenerator

DIRECTIONS = ("AtoB", "BtoA")
PREVIEW = 8  # examples per training grid: rows of inputs, outputs, targets


def check_direction(direction: str | None, source: str = "model.direction") -> str:
    """`direction` if it is AtoB or BtoA; a GankitError otherwise."""
    if direction not in DIRECTIONS:
        raise GankitError(f"{source} must be AtoB or BtoA, got {direction!r}")
    return direction


@dataclass
class Pix2PixConfig:
    """Hyper-parameters of pix2pix (0 for size and channels: taken from the data)."""

    image_size: int = 0  # S x S; the U-Net's depth follows it (32 px -> 5 levels, 256 px -> 8)
    channels: int = 0  # of A and B (one file holds both, so they share it)
    direction: str = "AtoB"  # AtoB: A is the input and B the target; BtoA: the reverse
    width: int = 64  # the generator's first layer (64 ... 512 in the paper)
    d_width: int = 64  # the discriminator's first layer
    d_layers: int = 3  # PatchGAN stride-2 layers: 1 -> 16, 2 -> 34, 3 -> 70 px patches
    norm: str = "batch"  # batch | instance | none (the paper: batch norm; batch 1 = instance)
    dropout: float = 0.5  # in the first `dropout_layers` decoder layers: G's noise (Sec. 3.1)
    dropout_layers: int = 3
    adversarial: str = "non_saturating"  # a pair from gankit.losses.ADVERSARIAL
    gan_weight: float = 1.0  # 0: an L1-only generator with no discriminator (Table 1, "L1")
    l1_weight: float = 100.0  # lambda of Eq. 4


class Pix2Pix(GANModel):
    """U-Net G(x) against PatchGAN D(x, y) with the L1 term (Isola et al. 2017, Eq. 4)."""

    Config = Pix2PixConfig
    data_kind = "pairs"
    translates = True

    def __init__(self, config: Pix2PixConfig) -> None:
        super().__init__(config)
        check_direction(config.direction)
        check_ranges(
            config,
            positive=("width", "d_width"),
            non_negative=("gan_weight", "l1_weight", "dropout_layers"),
            unit=("dropout",),
        )
        channels, size = config.channels, config.image_size
        self.generator = UNetGenerator(
            channels, channels, size, config.width, config.norm, config.dropout,
            config.dropout_layers,
        )  # fmt: skip
        self.discriminator = None
        if config.gan_weight > 0:
            self.discriminator = PatchDiscriminator(
                2 * channels, size, config.d_width, config.d_layers, config.norm
            )
        dcgan_init(self)  # N(0, 0.02), as the paper's code initialises both networks
        self.adversarial = ADVERSARIAL.get(config.adversarial)
        self._fake: Tensor | None = None

    @property
    def stride(self) -> int:
        """Inputs to `translate` must have sides that are multiples of this."""
        return self.generator.stride

    def sides(self, batch: Batch) -> tuple[Tensor, Tensor]:
        """(input, target) of a batch of pairs, by `direction`."""
        if self.config.direction == "AtoB":
            return batch["a"], batch["b"]
        return batch["b"], batch["a"]

    def discriminator_loss(self, batch: Batch, step: int) -> Losses:
        source, target = self.sides(batch)
        # The generator's graph is kept: its phase reuses this fake (one G forward per step).
        fake = self.generator(source)
        self._fake = fake
        real_logits = self.discriminator(torch.cat([source, target], 1))  # (B, 1, h, w) patches
        fake_logits = self.discriminator(torch.cat([source, fake.detach()], 1))
        loss = 0.5 * self.adversarial.discriminator(real_logits, fake_logits)
        return {
            "loss": loss,
            "loss_d": loss,
            "d_real": real_logits.detach().mean(),
            "d_fake": fake_logits.detach().mean(),
        }

    def generator_loss(self, batch: Batch, step: int) -> Losses:
        source, target = self.sides(batch)
        fake = self._fake if self._fake is not None else self.generator(source)
        self._fake = None
        distance = l1(fake, target)
        losses = {"l1": distance}
        loss = self.config.l1_weight * distance
        if self.discriminator is not None:
            fake_logits = self.discriminator(torch.cat([source, fake], 1))
            adversarial = self.adversarial.generator(fake_logits)
            losses["loss_g"] = adversarial
            loss = loss + self.config.gan_weight * adversarial
        losses["loss"] = loss
        return losses

    def translate(
        self, images: Tensor, *, direction: str | None = None, generator: nn.Module | None = None
    ) -> Tensor:
        """G(x) for inputs x (B, C, H, W) in [-1, 1], H and W multiples of `stride`."""
        trained = self.config.direction
        if direction is not None and check_direction(direction, "--direction") != trained:
            raise GankitError(
                f"this pix2pix model translates {trained} only (trained with --direction "
                f"{trained}); train another with --direction {direction}"
            )
        network = generator or self.generator
        device = next(network.parameters()).device
        return network(images.to(device)).float()

    def preview(self, data: Any, generator: nn.Module) -> Tensor:
        """Rows of 8: inputs, their translations, targets (held fixed: the dataset's first 8)."""
        source, target = self.sides(data.fixed_batch(PREVIEW))
        output = self.translate(source, generator=generator).cpu()
        return torch.cat([source, output, target])

    def sample(self, n: int, **_: Any) -> Tensor:
        raise GankitError("pix2pix translates images: use `gankit translate`, not sampling")

    @classmethod
    def tiny_config(cls) -> Pix2PixConfig:
        return Pix2PixConfig(image_size=16, channels=1, width=4, d_width=4, d_layers=1)


MODELS.add("pix2pix", Pix2Pix)

ISOLA = "Isola et al. 2017, Image-to-Image Translation with Conditional Adversarial Networks (CVPR)"
# The paper's optimiser and schedule (Sec. 4, Appendix 6.2); no EMA. Batch 1 in the paper (facades)
# gives a few images per second on a CPU: gankit's default batch buys throughput instead.
PAPER_TRAIN = {
    "lr": 2e-4,
    "beta1": 0.5,
    "beta2": 0.999,
    "lr_decay_start": 0.5,
    "ema": 0.0,
    "batch_size": 16,
    "steps": 20000,
    "sample_every": 1000,
}
register_preset(
    Preset(
        "pix2pix",
        "pix2pix",
        ISOLA,
        "U-Net G, 70x70 PatchGAN D on (input, output), GAN + 100 x L1, dropout as noise",
        train=PAPER_TRAIN,
        why="Batch 16 instead of 1 (more images per second on a CPU); the rest as published.",
    )
)
register_preset(
    Preset(
        "pix2pix-l1",
        "pix2pix",
        ISOLA,
        "the paper's L1-only baseline: the same U-Net trained on L1 alone, no discriminator",
        model={"gan_weight": 0.0},
        train=PAPER_TRAIN,
        why="Batch 16 instead of 1 (more images per second on a CPU).",
    )
)
