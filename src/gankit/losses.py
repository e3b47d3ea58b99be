"""Loss functions: plain functions, tensors in, scalar out.

Adversarial losses come in (discriminator, generator) pairs in the `ADVERSARIAL` table, chosen by
name from a model's config, never by an if/elif chain. Logits are the discriminator's raw outputs
(no sigmoid): the log-sigmoid forms below are the numerically stable ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from gankit.registry import Registry


def d_logistic(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """-log D(x) - log(1 - D(G(z))): the discriminator's side of Eq. 1, Goodfellow et al. 2014."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def g_minimax(fake_logits: Tensor) -> Tensor:
    """log(1 - D(G(z))): the original, saturating generator loss (Eq. 1, Goodfellow et al. 2014)."""
    return -F.softplus(fake_logits).mean()


def g_non_saturating(fake_logits: Tensor) -> Tensor:
    """-log D(G(z)): the non-saturating generator loss (Sec. 3, Goodfellow et al. 2014)."""
    return F.softplus(-fake_logits).mean()


def d_least_squares(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """1/2 (D(x) - 1)^2 + 1/2 D(G(z))^2: Eq. 9 of Mao et al. 2017 with a=0, b=c=1."""
    return 0.5 * ((real_logits - 1).square().mean() + fake_logits.square().mean())


def g_least_squares(fake_logits: Tensor) -> Tensor:
    """1/2 (D(G(z)) - 1)^2: Eq. 9 of Mao et al. 2017 (c = 1)."""
    return 0.5 * (fake_logits - 1).square().mean()


def d_wasserstein(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """E[f(G(z))] - E[f(x)]: the critic loss of Arjovsky et al. 2017 (Eq. 3, negated)."""
    return fake_logits.mean() - real_logits.mean()


def g_wasserstein(fake_logits: Tensor) -> Tensor:
    """-E[f(G(z))]: the WGAN generator loss (Arjovsky et al. 2017, Algorithm 1)."""
    return -fake_logits.mean()


def d_hinge(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]: Lim & Ye 2017; Miyato et al. 2018, Eq. 16."""
    return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()


class AdversarialLoss(NamedTuple):
    """A discriminator loss and the generator loss that goes with it."""

    discriminator: Callable[[Tensor, Tensor], Tensor]
    generator: Callable[[Tensor], Tensor]


ADVERSARIAL: Registry[AdversarialLoss] = Registry("adversarial loss")
ADVERSARIAL.add("minimax", AdversarialLoss(d_logistic, g_minimax))
ADVERSARIAL.add("non_saturating", AdversarialLoss(d_logistic, g_non_saturating))
ADVERSARIAL.add("least_squares", AdversarialLoss(d_least_squares, g_least_squares))
ADVERSARIAL.add("wasserstein", AdversarialLoss(d_wasserstein, g_wasserstein))
ADVERSARIAL.add("hinge", AdversarialLoss(d_hinge, g_wasserstein))


def gradient_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor) -> Tensor:
    """E[(||grad f(x_hat)||_2 - 1)^2] at random interpolates x_hat (Eq. 3, Gulrajani et al. 2017).

    The graph is kept (create_graph) so that the penalty trains the critic: a double backward.
    """
    alpha = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device)
    mixed = torch.lerp(real.detach().float(), fake.detach().float(), alpha).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    return (grad.float().flatten(1).norm(dim=1) - 1).square().mean()


def r1_penalty(real_logits: Tensor, real: Tensor) -> Tensor:
    """E[||grad D(x)||^2] on reals (Eq. 4, Mescheder et al. 2018); `real` must require grad."""
    (grad,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
    return grad.float().square().flatten(1).sum(1).mean()


def l1(prediction: Tensor, target: Tensor) -> Tensor:
    """Mean absolute error (the L1 / cycle-consistency term, Isola et al. 2017; Zhu et al. 2017)."""
    return (prediction - target).abs().mean()
