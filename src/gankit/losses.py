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


def gram_matrix(features: Tensor) -> Tensor:
    """G[c, c'] = sum_hw F[c, hw] F[c', hw] / (C H W): (B, C, H, W) -> (B, C, C).

    The style representation of Gatys et al. 2016 (Eq. 3), normalised by C*H*W as in Johnson et
    al. 2016 (Sec. 3.1, "Style Reconstruction Loss") so that layers of any size weigh alike.
    """
    batch, channels, height, width = features.shape
    flat = features.float().reshape(batch, channels, height * width)
    return flat @ flat.transpose(1, 2) / (channels * height * width)


def _check_layers(a: dict[str, Tensor], b: dict[str, Tensor], weights: dict[str, float]) -> None:
    missing = [name for name in weights if name not in a or name not in b]
    if missing:
        raise ValueError(f"no features for layer {missing[0]!r} (have {sorted(a)})")


def feature_loss(a: dict[str, Tensor], b: dict[str, Tensor], weights: dict[str, float]) -> Tensor:
    """sum_l w_l * mean (phi_l(a) - phi_l(b))^2 over the named layers of `weights`.

    The feature reconstruction loss of Johnson et al. 2016 (Eq. 2: the squared Euclidean distance
    normalised by C_j H_j W_j, i.e. a mean) and SRGAN's VGG content loss (Ledig et al. 2017, Eq. 5).
    """
    _check_layers(a, b, weights)
    terms = [w * (a[n].float() - b[n].float()).square().mean() for n, w in weights.items()]
    return torch.stack(terms).sum()


def gram_distance(a: dict[str, Tensor], b: dict[str, Tensor], weights: dict[str, float]) -> Tensor:
    """sum_l w_l * ||A_l - B_l||_F^2 of Gram matrices (B, C, C) by layer, averaged over the batch
    (a batch of one broadcasts): `style_loss` for Gram matrices computed once (a fixed style)."""
    _check_layers(a, b, weights)
    terms = [w * (a[n] - b[n]).square().sum((1, 2)).mean() for n, w in weights.items()]
    return torch.stack(terms).sum()


def style_loss(a: dict[str, Tensor], b: dict[str, Tensor], weights: dict[str, float]) -> Tensor:
    """sum_l w_l * ||G(phi_l(a)) - G(phi_l(b))||_F^2, averaged over the batch.

    The style reconstruction loss of Johnson et al. 2016 (Eq. 4, with `gram_matrix`'s C*H*W
    normalisation), summed over weighted layers as in Gatys et al. 2016 (Eq. 5). A batch of one
    style image broadcasts against a batch of outputs.
    """
    _check_layers(a, b, weights)
    grams_a = {name: gram_matrix(a[name]) for name in weights}
    grams_b = {name: gram_matrix(b[name]) for name in weights}
    return gram_distance(grams_a, grams_b, weights)


def total_variation(images: Tensor) -> Tensor:
    """Mean squared difference of vertically and horizontally neighbouring pixels, summed.

    The total variation regulariser l_TV of Johnson et al. 2016 (Sec. 3.2; Mahendran & Vedaldi
    2015, the beta = 2 form), as a mean over pixels so that it does not grow with image size.
    """
    images = images.float()
    vertical = (images[..., 1:, :] - images[..., :-1, :]).square().mean()
    horizontal = (images[..., :, 1:] - images[..., :, :-1]).square().mean()
    return vertical + horizontal
