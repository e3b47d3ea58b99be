"""Noise-to-image GANs: the framework of Goodfellow et al. 2014 ("Generative Adversarial Nets").

`NoiseGAN` is the model behind the gan, dcgan, lsgan, wgan, wgan-gp and cgan presets: a generator
G(z [, y]) and a discriminator D(x [, y]) trained with a pair of adversarial losses from
`gankit.losses.ADVERSARIAL` (Eq. 1 of the paper and its successors), optionally a gradient penalty
(Gulrajani et al. 2017) or weight clipping (Arjovsky et al. 2017). The networks are chosen by name:
"mlp" (this module, the paper's fully connected nets) or "dcgan" (gankit.models.dcgan).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.errors import GankitError
from gankit.losses import ADVERSARIAL, gradient_penalty
from gankit.models.base import Batch, GANModel, Losses, check_ranges, noise
from gankit.models.clusters import ClusterConditioned
from gankit.models.registry import MODELS, Preset, register_preset
from gankit.nn.blocks import (
    ConditionalHead,
    dcgan_init,
    label_planes,
    mixes_samples,
    one_hot_input,
)
from gankit.registry import Registry


@dataclass
class NoiseGANConfig:
    """Hyper-parameters of a noise-to-image GAN (0 for size/channels/classes: from the data)."""

    arch: str = "dcgan"  # network family: "mlp" | "dcgan"
    z_dim: int = 100
    image_size: int = 0
    channels: int = 0
    num_classes: int = 0  # > 0: class-conditional (Mirza & Osindero 2014)
    conditional: bool = False
    conditioning: str = "projection"  # discriminator: "projection" | "concat"
    minibatch_std: int = 0  # > 0: conv D appends the batch-spread channel, groups of this size
    width: int = 64  # channels of the widest-resolution conv layer (MLP: first hidden layer / 4)
    d_width: int = 0  # > 0: the discriminator's own width (0: `width`)
    d_norm: str = "batch"
    g_norm: str = "batch"
    adversarial: str = "non_saturating"
    gp_weight: float = 0.0  # > 0: WGAN-GP gradient penalty weight (lambda)
    gp_every: int = 1  # > 1: the penalty as a lazy phase every N steps, weighted N x lambda
    clip: float = 0.0  # > 0: WGAN weight clipping to [-clip, clip]
    reuse_fakes: bool = True  # the generator phase reuses the discriminator phase's fakes
    latent_classes: int = 0  # > 0 (unconditional): a uniform categorical code joins z (InfoGAN)
    class_weight: float = 0.0  # > 0: D's auxiliary classifier loss weight (AC-GAN / InfoGAN)
    # > 0 (unconditional): G and D are conditioned on K k-means clusters of the training images
    # (their pixels, pooled), found once before training: no labels, no pretrained network.
    clusters: int = 0


def condition_classes(config: NoiseGANConfig) -> int:
    """Classes D is conditioned on: the labels (cgan) or the data's clusters (0: none)."""
    return config.num_classes or config.clusters


def generator_classes(config: NoiseGANConfig) -> int:
    """Size of the one-hot input G gets beside z: the class (cgan), the cluster or the latent
    code (InfoGAN)."""
    return condition_classes(config) or config.latent_classes


def classifier_classes(config: NoiseGANConfig) -> int:
    """Outputs of D's auxiliary classifier head (0: none)."""
    return generator_classes(config) if config.class_weight > 0 else 0


Builder = Callable[[NoiseGANConfig], tuple[nn.Module, nn.Module]]
NETWORKS: Registry[Builder] = Registry("network architecture")


class MLPGenerator(nn.Module):
    """Fully connected G(z [, y]) -> image in [-1, 1] (Goodfellow et al. 2014, Sec. 5)."""

    def __init__(self, config: NoiseGANConfig) -> None:
        super().__init__()
        self.num_classes, self.shape = (
            generator_classes(config),
            (config.channels, config.image_size, config.image_size),
        )
        widths = [
            config.z_dim + generator_classes(config),
            4 * config.width,
            8 * config.width,
            16 * config.width,
        ]
        layers: list[nn.Module] = []
        for fan_in, fan_out in zip(widths, widths[1:], strict=False):
            layers += [nn.Linear(fan_in, fan_out), nn.ReLU(inplace=True)]
        layers += [nn.Linear(widths[-1], config.channels * config.image_size**2), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.net(one_hot_input(z, labels, self.num_classes)).view(-1, *self.shape)


class MLPDiscriminator(nn.Module):
    """Fully connected D(x [, y]) -> logit, LeakyReLU(0.2) (Goodfellow et al. 2014, Sec. 5)."""

    def __init__(self, config: NoiseGANConfig) -> None:
        super().__init__()
        self.num_classes = condition_classes(config)
        concat = config.conditioning == "concat" and self.num_classes > 0
        width = config.d_width or config.width
        widths = [
            config.channels * config.image_size**2 + (self.num_classes if concat else 0),
            16 * width,
            8 * width,
            4 * width,
        ]
        layers: list[nn.Module] = [nn.Flatten()]
        for fan_in, fan_out in zip(widths, widths[1:], strict=False):
            layers += [nn.Linear(fan_in, fan_out), nn.LeakyReLU(0.2, inplace=True)]
        self.trunk = nn.Sequential(*layers)
        self.concat = concat
        self.head = ConditionalHead(
            widths[-1], self.num_classes, config.conditioning, classifier_classes(config)
        )

    def forward(
        self, images: Tensor, labels: Tensor | None = None, classify: bool = False
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Logits (B,); with `classify`, also the auxiliary class logits (B, K)."""
        if self.concat:
            images = one_hot_input(images.flatten(1), labels, self.num_classes)
        features = self.trunk(images)
        return self.head(features, labels, classify)


@NETWORKS.register("mlp")
def build_mlp(config: NoiseGANConfig) -> tuple[nn.Module, nn.Module]:
    """The paper's fully connected generator and discriminator."""
    return MLPGenerator(config), MLPDiscriminator(config)


class NoiseGAN(ClusterConditioned, GANModel):
    """G(z [, y]) against D(x [, y]) with a named adversarial loss (Goodfellow 2014, Eq. 1)."""

    Config = NoiseGANConfig

    def __init__(self, config: NoiseGANConfig) -> None:
        super().__init__(config)
        if config.conditional and config.num_classes < 2:
            raise GankitError("a conditional GAN needs labelled data with at least 2 classes")
        check_ranges(
            config,
            positive=("width", "gp_every"),
            off_or_positive=("d_width", "minibatch_std", "clusters", "latent_classes"),
            non_negative=("gp_weight", "clip", "class_weight"),
        )
        if not config.conditional:
            config.num_classes = 0
        elif config.clusters:
            raise GankitError("model.clusters is for unconditional GANs: the labels condition cgan")
        self.generator, self.discriminator = NETWORKS.get(config.arch)(config)
        dcgan_init(self)
        self.adversarial = ADVERSARIAL.get(config.adversarial)
        self._fakes: tuple[Tensor, Tensor | None] | None = None
        # Real and fake batches go through D as one batch when no layer of D mixes samples: the
        # same logits with half the kernel calls (dcgan's default step: -2 ms of about 90 on 2
        # cores, paired alternate-step timing). Batch norm would normalise them together.
        self.joint_judge = not mixes_samples(self.discriminator)
        self.init_clusters()  # with `model.clusters` (gankit.models.clusters)

    def _labels(self, batch: Batch) -> Tensor | None:
        """What D and G are conditioned on: the labels (cgan), the images' clusters, or None."""
        if self.config.clusters:
            return self.clusters_of(batch["image"])
        return batch["label"] if self.num_classes else None

    def _codes(self, n: int, labels: Tensor | None, seed: int | None, device: torch.device):
        """G's one-hot input: the class labels (cgan) or clusters, a uniform categorical code
        (InfoGAN, Chen et al. 2016, Sec. 5), or None."""
        if labels is not None or not self.config.latent_classes:
            return labels
        return latent_codes(n, self.config.latent_classes, seed, device)

    def _judge(self, images: Tensor, labels: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """D's logits (B,) and, with an auxiliary classifier, its class logits (B, K)."""
        if self.config.class_weight > 0:
            return self.discriminator(images, labels, classify=True)
        return self.discriminator(images, labels), None

    def _judge_both(self, real: Tensor, fake: Tensor, labels: Tensor | None) -> tuple:
        """`_judge` of the real and of the fake batch: one D forward over both when D treats each
        sample on its own (`joint_judge`), else two."""
        if not self.joint_judge:
            return self._judge(real, labels), self._judge(fake, labels)
        both = None if labels is None else torch.cat([labels, labels])
        logits, classes = self._judge(torch.cat([real, fake.to(real.dtype)]), both)
        halves = [None, None] if classes is None else classes.chunk(2)
        return tuple(zip(logits.chunk(2), halves, strict=True))

    def discriminator_loss(self, batch: Batch, step: int) -> Losses:
        real, labels = batch["image"], self._labels(batch)
        z = noise(len(real), self.config.z_dim, None, real.device)
        codes = self._codes(len(real), labels, None, real.device)
        # Keep the generator's graph only when the generator phase will reuse these fakes.
        with torch.set_grad_enabled(self.config.reuse_fakes):
            fake = self.generator(z, codes)
        self._fakes = (fake, labels, codes) if self.config.reuse_fakes else None
        (real_logits, real_classes), (fake_logits, fake_classes) = self._judge_both(
            real, fake.detach(), labels
        )
        loss_d = self.adversarial.discriminator(real_logits, fake_logits)
        losses = {
            "loss_d": loss_d,
            "d_real": real_logits.detach().mean(),
            "d_fake": fake_logits.detach().mean(),
        }
        if self.config.class_weight > 0:
            # AC-GAN (Odena et al. 2017, Eq. 2-3): D learns the classes of the real images;
            # InfoGAN (Chen et al. 2016, Eq. 5): D's Q head learns the fakes' codes.
            logits, target = (real_classes, labels) if labels is not None else (fake_classes, codes)
            losses["class_d"] = F.cross_entropy(logits.float(), target)
            loss_d = loss_d + self.config.class_weight * losses["class_d"]
        if self.config.gp_weight > 0 and not self.regularizer_interval:
            penalty = gradient_penalty(lambda x: self.discriminator(x, labels), real, fake)
            losses["gp"] = penalty
            loss_d = loss_d + self.config.gp_weight * penalty
        losses["loss"] = loss_d
        return losses

    @property
    def regularizer_interval(self) -> int:
        lazy = self.config.gp_weight > 0 and self.config.gp_every > 1
        return self.config.gp_every if lazy else 0

    def discriminator_regularizer(self, batch: Batch, step: int) -> Losses:
        """The gradient penalty alone, every `gp_every` steps at gp_every x lambda, so that its
        average weight stays lambda (lazy regularisation, Karras et al. 2020, Sec. 3.1)."""
        real, labels = batch["image"], self._labels(batch)
        if self._fakes is not None:  # the critic phase's fakes, on this same batch
            fake = self._fakes[0]
        else:
            z = noise(len(real), self.config.z_dim, None, real.device)
            with torch.no_grad():
                fake = self.generator(z, labels)
        penalty = gradient_penalty(lambda x: self.discriminator(x, labels), real, fake)
        weight = self.config.gp_weight * self.config.gp_every
        return {"loss": weight * penalty, "gp": penalty}

    def generator_loss(self, batch: Batch, step: int) -> Losses:
        if self._fakes is not None:
            fake, labels, codes = self._fakes
            self._fakes = None
        else:
            real, labels = batch["image"], self._labels(batch)
            codes = self._codes(len(real), labels, None, real.device)
            fake = self.generator(noise(len(real), self.config.z_dim, None, real.device), codes)
        fake_logits, fake_classes = self._judge(fake, labels)
        loss_g = self.adversarial.generator(fake_logits)
        losses = {"loss_g": loss_g}
        if fake_classes is not None:  # G makes its class (or code) recognisable to D
            losses["class_g"] = F.cross_entropy(fake_classes.float(), codes)
            loss_g = loss_g + self.config.class_weight * losses["class_g"]
        return {"loss": loss_g, **losses}

    def after_discriminator_step(self) -> None:
        if self.config.clip > 0:  # Arjovsky et al. 2017, Algorithm 1, line 7
            with torch.no_grad():
                for parameter in self.discriminator.parameters():
                    parameter.clamp_(-self.config.clip, self.config.clip)

    def sample(
        self,
        n: int,
        *,
        labels: Tensor | None = None,
        seed: int | None = None,
        generator: nn.Module | None = None,
    ) -> Tensor:
        network = generator or self.generator
        device = next(network.parameters()).device
        if self.num_classes and labels is None:
            labels = torch.arange(n) % self.num_classes
        labels = labels.to(device) if labels is not None and self.num_classes else None
        if self.config.clusters:  # clusters in proportion to their share of the data
            labels = self.draw_clusters(n, seed, device)
        # The code's seed is offset so that it does not repeat the noise's random stream.
        codes = self._codes(n, labels, None if seed is None else seed + 1, device)
        return network(noise(n, self.config.z_dim, seed, device), codes).float()

    @classmethod
    def tiny_config(cls) -> NoiseGANConfig:
        return NoiseGANConfig(z_dim=8, image_size=16, channels=1, width=4)


def latent_codes(n: int, classes: int, seed: int | None, device: torch.device) -> Tensor:
    """Uniform categorical codes (n,): from the global RNG, or from `seed` without touching it."""
    if seed is None:
        return torch.randint(classes, (n,), device=device)
    return torch.randint(classes, (n,), generator=torch.Generator().manual_seed(seed)).to(device)


def label_input(images: Tensor, labels: Tensor | None, num_classes: int, concat: bool) -> Tensor:
    """The discriminator's input: the images, with label planes appended for input conditioning."""
    return label_planes(images, labels, num_classes) if concat else images


MODELS.add("noise-gan", NoiseGAN)

GOODFELLOW = "Goodfellow et al. 2014, Generative Adversarial Nets (NeurIPS)"
register_preset(
    Preset(
        "gan",
        "noise-gan",
        GOODFELLOW,
        "MLP generator and discriminator, non-saturating generator loss",
        model={"arch": "mlp", "width": 64, "adversarial": "non_saturating"},
        train={"lr": 2e-4, "beta1": 0.5},
        why="Adam(2e-4, 0.5) instead of the paper's SGD with momentum: same nets, far steadier.",
    )
)
register_preset(
    Preset(
        "gan-minimax",
        "noise-gan",
        GOODFELLOW,
        "MLP nets with the original minimax (saturating) generator loss, log(1 - D(G(z)))",
        model={"arch": "mlp", "width": 64, "adversarial": "minimax"},
        train={"lr": 2e-4, "beta1": 0.5},
        why="Kept for study: the paper itself notes this loss saturates early (Sec. 3).",
    )
)
