"""The plain PyTorch reference loop that gankit is measured against.

What a careful user writes by hand from the papers: the paper's networks at the data's native size
(the same network classes gankit uses, so the comparison is about the loop), the paper's optimizer
and loss, batch 128, fp32, eager, contiguous tensors, a fresh generator forward for the generator
step (Algorithm 1 of Goodfellow et al. 2014 samples new noise for it), an EMA of G for sampling,
and the data held in memory as one tensor (no DataLoader overhead to handicap it).
"""

from __future__ import annotations

import copy
import functools
import time

import torch
from torch import nn

from gankit.config import RunConfig
from gankit.data import ImageDataset
from gankit.losses import ADVERSARIAL, gradient_penalty
from gankit.models.gan import NETWORKS
from gankit.nn.blocks import dcgan_init
from gankit.nn.patch_conv import plain_layers


class ReferenceLoop:
    """One plain training step at a time; `generator_ema` is what gets evaluated."""

    def __init__(self, config: RunConfig, dataset: ImageDataset, ema: float = 0.999) -> None:
        model, train = copy.deepcopy(config.model), config.train
        model.num_classes = model.num_classes if model.conditional else 0
        self.model_config, self.train_config, self.ema_decay = model, train, ema
        # Plain nn layers throughout: gankit's CPU kernels for the image-side layers are part of
        # what the comparison measures.
        self.generator, self.discriminator = map(plain_layers, NETWORKS.get(model.arch)(model))
        dcgan_init(self.generator)
        dcgan_init(self.discriminator)
        self.generator_ema = copy.deepcopy(self.generator).eval().requires_grad_(False)
        self.loss = ADVERSARIAL.get(model.adversarial)
        make = self._optimizer
        self.opt_g, self.opt_d = make(self.generator), make(self.discriminator)
        self.images, self.labels = dataset.images, dataset.labels
        self.batch_size = train.batch_size
        self.num_classes = model.num_classes

    def _optimizer(self, network: nn.Module) -> torch.optim.Optimizer:
        train = self.train_config
        if train.optimizer == "rmsprop":
            return torch.optim.RMSprop(network.parameters(), lr=train.lr)
        return torch.optim.Adam(network.parameters(), lr=train.lr, betas=(train.beta1, train.beta2))

    def real_batch(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        index = torch.randint(len(self.images), (self.batch_size,))
        real = self.images[index].float() / 127.5 - 1
        return real, (self.labels[index] if self.num_classes else None)

    def step(self) -> None:
        """d_steps critic updates, one generator update, one EMA update."""
        z_dim = self.model_config.z_dim
        for _ in range(self.train_config.d_steps):
            real, labels = self.real_batch()
            fake = self.generator(torch.randn(len(real), z_dim), labels).detach()
            loss_d = self.loss.discriminator(
                self.discriminator(real, labels), self.discriminator(fake, labels)
            )
            if self.model_config.gp_weight:
                critic = functools.partial(self.discriminator, labels=labels)
                loss_d = loss_d + self.model_config.gp_weight * gradient_penalty(critic, real, fake)
            self.opt_d.zero_grad()
            loss_d.backward()
            self.opt_d.step()
            if self.model_config.clip:
                for p in self.discriminator.parameters():
                    p.data.clamp_(-self.model_config.clip, self.model_config.clip)
        labels = torch.randint(self.num_classes, (self.batch_size,)) if self.num_classes else None
        fake = self.generator(torch.randn(self.batch_size, z_dim), labels)
        loss_g = self.loss.generator(self.discriminator(fake, labels))
        self.opt_g.zero_grad()
        loss_g.backward()
        self.opt_g.step()
        self._update_ema()

    @torch.no_grad()
    def _update_ema(self) -> None:
        for ema_p, p in zip(
            self.generator_ema.parameters(), self.generator.parameters(), strict=True
        ):
            ema_p.lerp_(p, 1 - self.ema_decay)
        for ema_b, b in zip(self.generator_ema.buffers(), self.generator.buffers(), strict=True):
            ema_b.copy_(b)

    def train_for(self, seconds: float) -> int:
        """Train for a wall-clock budget; returns the number of steps done."""
        start, steps = time.perf_counter(), 0
        while time.perf_counter() - start < seconds:
            self.step()
            steps += 1
        return steps

    @torch.no_grad()
    def sample(self, n: int, labels: torch.Tensor | None = None, seed: int = 0) -> torch.Tensor:
        """n images in [-1, 1] from the EMA generator."""
        z = torch.randn(n, self.model_config.z_dim, generator=torch.Generator().manual_seed(seed))
        if self.num_classes and labels is None:
            labels = torch.arange(n) % self.num_classes
        return self.generator_ema(z, labels)
