"""CycleGAN: Zhu et al. 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent
Adversarial Networks" (ICCV).

Two generators, G: A -> B and F: B -> A (ResNet generators, gankit.nn.resnet), and two PatchGAN
discriminators, D_B on domain B and D_A on domain A (gankit.nn.patchgan), trained on unaligned sets.
The full objective (Eq. 3) is L_GAN(G, D_B) + L_GAN(F, D_A) + lambda L_cyc(G, F), with the
least-squares adversarial loss (Sec. 4, after Mao et al. 2017: G minimises (D(G(a)) - 1)^2, D
minimises (D(b) - 1)^2 + D(G(a))^2, halved), the cycle loss L_cyc = E||F(G(a)) - a||_1 +
E||G(F(b)) - b||_1 (Eq. 2) with lambda = 10, and the identity loss E||G(b) - b||_1 + E||F(a) - a||_1
weighted 0.5 lambda (Sec. 5.2). The discriminators see a history of 50 generated images, not only
the latest ones (Sec. 4, after Shrivastava et al. 2017): the pool is a model buffer, so that a
checkpoint resumes it exactly. Adam(2e-4, 0.5, 0.999), the learning rate constant for the first
half of the run, then decayed linearly to zero.

The trainer runs the discriminator phase first, then the generator phase on the same fakes (the
reference code updates G first): one forward of each generator per step.
Batches are {"a", "b"} (gankit.data.unpaired).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from gankit.errors import GankitError
from gankit.losses import ADVERSARIAL, l1
from gankit.models.base import Batch, GANModel, Losses, check_ranges
from gankit.models.pix2pix import PREVIEW, check_direction
from gankit.models.registry import MODELS, Preset, register_preset
from gankit.nn.blocks import dcgan_init
from gankit.nn.patchgan import PatchDiscriminator
from gankit.nn.resnet import STRIDE, ResnetGenerator

NETWORK_OF = {"AtoB": "a_to_b", "BtoA": "b_to_a"}


@dataclass
class CycleGANConfig:
    """Hyper-parameters of CycleGAN (0 for size and channels: taken from the data)."""

    image_size: int = 0
    channels: int = 0  # of both domains (RGB when either has colour)
    direction: str = "AtoB"  # what `translate` does by default; both directions are trained
    width: int = 64  # the generators' first layer
    d_width: int = 64
    blocks: int = 0  # residual blocks; 0: the paper's choice, 6 below 256 px and 9 from 256 px
    d_layers: int = 3  # 70 x 70 PatchGAN
    norm: str = "instance"
    adversarial: str = "least_squares"
    # gankit.losses' least-squares G loss is 1/2 (D - 1)^2 (Mao et al. 2017, Eq. 9); Zhu et al.
    # minimise (D - 1)^2 against lambda = 10, so a weight of 2 gives the paper's balance.
    gan_weight: float = 2.0
    cycle_weight: float = 10.0  # lambda of Eq. 3
    identity_weight: float = 0.5  # times cycle_weight (Sec. 5.2); 0: no identity loss
    pool_size: int = 50  # past fakes the discriminators see; 0: only the latest


class ImagePool(nn.Module):
    """A buffer of past generated images (Shrivastava et al. 2017, Sec. 2.3).

    `query(fakes)` returns a batch for the discriminator: while the pool fills, the new images
    (which join it); then each image is, with probability 1/2, swapped for a random pooled one
    (which it replaces), else passed on. Vectorised: two images of one batch that draw the same
    slot both get the old image, the later one stays.
    """

    def __init__(self, size: int, channels: int, image_size: int) -> None:
        super().__init__()
        self.size = size
        self.register_buffer("images", torch.zeros(size, channels, image_size, image_size))
        self.register_buffer("count", torch.zeros((), dtype=torch.int64))

    @torch.no_grad()
    def query(self, fakes: Tensor) -> Tensor:
        fakes = fakes.detach()
        if self.size == 0:
            return fakes
        out = fakes.clone()
        count = int(self.count)
        fill = min(self.size - count, len(fakes))
        if fill > 0:
            self.images[count : count + fill] = fakes[:fill].to(self.images.dtype)
            self.count += fill
        rest = fakes[fill:]
        if len(rest):
            swap = torch.rand(len(rest), device=fakes.device) < 0.5
            slots = torch.randint(0, self.size, (len(rest),), device=fakes.device)
            old = self.images[slots].to(fakes.dtype)
            out[fill:] = torch.where(swap.view(-1, 1, 1, 1), old, rest)
            self.images[slots[swap]] = rest[swap].to(self.images.dtype)
        return out


def default_blocks(image_size: int) -> int:
    """The paper's residual blocks: 6 for 128 x 128 training images, 9 for 256 x 256 and more."""
    return 9 if image_size >= 256 else 6


class CycleGAN(GANModel):
    """G: A -> B and F: B -> A against D_B and D_A, cycle-consistent (Zhu et al. 2017, Eq. 3)."""

    Config = CycleGANConfig
    data_kind = "unpaired"
    translates = True
    stride = STRIDE  # inputs to `translate` must have sides that are multiples of this

    def __init__(self, config: CycleGANConfig) -> None:
        super().__init__(config)
        check_direction(config.direction)
        check_ranges(
            config,
            positive=("width", "d_width"),
            off_or_positive=("pool_size",),
            non_negative=("blocks", "gan_weight", "cycle_weight", "identity_weight"),
        )
        size, channels = config.image_size, config.channels
        if size % STRIDE:
            raise GankitError(f"image size {size}: CycleGAN's generator needs a multiple of 4")
        blocks = config.blocks or default_blocks(size)

        def generator() -> ResnetGenerator:
            return ResnetGenerator(channels, channels, config.width, blocks, config.norm)

        def discriminator() -> PatchDiscriminator:
            return PatchDiscriminator(channels, size, config.d_width, config.d_layers, config.norm)

        self.generator = nn.ModuleDict({"a_to_b": generator(), "b_to_a": generator()})
        self.discriminator = nn.ModuleDict({"a": discriminator(), "b": discriminator()})
        dcgan_init(self)  # N(0, 0.02), as the paper's code
        self.pool_a = ImagePool(config.pool_size, channels, size)  # fakes of domain A
        self.pool_b = ImagePool(config.pool_size, channels, size)
        self.adversarial = ADVERSARIAL.get(config.adversarial)
        self._fakes: tuple[Tensor, Tensor] | None = None

    def discriminator_loss(self, batch: Batch, step: int) -> Losses:
        real_a, real_b = batch["a"], batch["b"]
        # Both graphs are kept: the generator phase reuses these fakes.
        fake_b = self.generator["a_to_b"](real_a)
        fake_a = self.generator["b_to_a"](real_b)
        self._fakes = (fake_a, fake_b)
        loss_a = self._judge(self.discriminator["a"], real_a, self.pool_a.query(fake_a))
        loss_b = self._judge(self.discriminator["b"], real_b, self.pool_b.query(fake_b))
        return {"loss": loss_a + loss_b, "loss_d_a": loss_a, "loss_d_b": loss_b}

    def _judge(self, discriminator: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
        return self.adversarial.discriminator(discriminator(real), discriminator(fake))

    def generator_loss(self, batch: Batch, step: int) -> Losses:
        real_a, real_b = batch["a"], batch["b"]
        to_b, to_a = self.generator["a_to_b"], self.generator["b_to_a"]
        fake_a, fake_b = self._fakes if self._fakes is not None else (to_a(real_b), to_b(real_a))
        self._fakes = None
        gan_b = self.adversarial.generator(self.discriminator["b"](fake_b))
        gan_a = self.adversarial.generator(self.discriminator["a"](fake_a))
        cycle = l1(to_a(fake_b), real_a) + l1(to_b(fake_a), real_b)  # Eq. 2
        config = self.config
        loss = config.gan_weight * (gan_a + gan_b) + config.cycle_weight * cycle
        losses = {"loss_g_a": gan_a, "loss_g_b": gan_b, "cycle": cycle}
        if config.identity_weight > 0:
            identity = l1(to_b(real_b), real_b) + l1(to_a(real_a), real_a)
            loss = loss + config.identity_weight * config.cycle_weight * identity
            losses["identity"] = identity
        losses["loss"] = loss
        return losses

    def translate(
        self, images: Tensor, *, direction: str | None = None, generator: nn.Module | None = None
    ) -> Tensor:
        """G(a) (AtoB) or F(b) (BtoA) of images (B, C, H, W) in [-1, 1], sides multiples of 4."""
        direction = check_direction(direction or self.config.direction, "--direction")
        network = (generator or self.generator)[NETWORK_OF[direction]]
        device = next(network.parameters()).device
        return network(images.to(device)).float()

    def preview(self, data: Any, generator: nn.Module) -> Tensor:
        """Rows of 8: A, G(A), F(G(A)), B, F(B), G(F(B)) (the datasets' first 8 of each)."""
        batch = data.fixed_batch(PREVIEW)
        rows = []
        for real, there, back in (("a", "AtoB", "BtoA"), ("b", "BtoA", "AtoB")):
            fake = self.translate(batch[real], direction=there, generator=generator)
            back_again = self.translate(fake, direction=back, generator=generator)
            rows += [batch[real], fake.cpu(), back_again.cpu()]
        return torch.cat(rows)

    def sample(self, n: int, **_: Any) -> Tensor:
        raise GankitError("cyclegan translates images: use `gankit translate`, not sampling")

    @classmethod
    def tiny_config(cls) -> CycleGANConfig:
        return CycleGANConfig(
            image_size=16, channels=1, width=4, d_width=4, blocks=1, d_layers=1, pool_size=4
        )


MODELS.add("cyclegan", CycleGAN)

ZHU = (
    "Zhu et al. 2017, Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial "
    "Networks (ICCV)"
)
register_preset(
    Preset(
        "cyclegan",
        "cyclegan",
        ZHU,
        "ResNet generators, 70x70 PatchGANs, least squares, cycle 10, identity 5, pool of 50",
        train={
            "lr": 2e-4,
            "beta1": 0.5,
            "beta2": 0.999,
            "lr_decay_start": 0.5,
            "ema": 0.0,
            "batch_size": 4,
            "steps": 20000,
            "sample_every": 1000,
        },
        why="Batch 4 instead of 1 (more images per second on a CPU); everything else as published.",
    )
)
