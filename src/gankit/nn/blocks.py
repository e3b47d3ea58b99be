"""Reusable network parts: initialisation, normalisation by name, label conditioning heads."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.errors import GankitError
from gankit.registry import Registry

NORMS: Registry[Callable[[int], nn.Module]] = Registry("normalisation")
NORMS.add("batch", nn.BatchNorm2d)
NORMS.add("instance", lambda channels: nn.InstanceNorm2d(channels, affine=True))
# GroupNorm with one group normalises over (C, H, W): layer norm for conv features, the critic
# normalisation Gulrajani et al. 2017 (Sec. 4) recommend in place of batch norm.
NORMS.add("layer", lambda channels: nn.GroupNorm(1, channels))
NORMS.add("none", lambda channels: nn.Identity())


def dcgan_init(module: nn.Module) -> None:
    """Weights ~ N(0, 0.02), norm scales ~ N(1, 0.02), biases 0 (Radford et al. 2015, Sec. 4)."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)):
            nn.init.normal_(layer.weight, 0.0, 0.02)
            if getattr(layer, "bias", None) is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, (nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d)) and layer.affine:
            nn.init.normal_(layer.weight, 1.0, 0.02)
            nn.init.zeros_(layer.bias)


def conv_geometry(image_size: int) -> tuple[int, int]:
    """(base, ups): the start resolution (4 or 7) and the number of 2x up-samplings to reach size.

    28 = 7 x 2^2 (MNIST-style data at native size); 32, 64, 128 ... = 4 x 2^k.
    """
    for base in (4, 7):
        ups = math.log2(image_size / base) if image_size >= 2 * base else -1
        if ups >= 1 and ups == int(ups):
            return base, int(ups)
    raise GankitError(
        f"image size {image_size} cannot be made by the conv nets: use 4 x 2^k (8, 16, 32, 64, "
        f"128, ...) or 7 x 2^k (14, 28, 56, ...)"
    )


def one_hot_input(z: Tensor, labels: Tensor | None, num_classes: int) -> Tensor:
    """Concatenate the one-hot label to the noise (Mirza & Osindero 2014, Sec. 3.2): (B, Z + K)."""
    if num_classes == 0:
        return z
    if labels is None:
        raise ValueError("a conditional network needs labels")
    return torch.cat([z, F.one_hot(labels, num_classes).to(z.dtype)], dim=1)


def is_channels_last(tensor: Tensor) -> bool:
    """Whether a 4-D tensor is laid out NHWC (and not also plain NCHW, as 1x1 maps are)."""
    return (
        tensor.dim() == 4
        and tensor.is_contiguous(memory_format=torch.channels_last)
        and not tensor.is_contiguous()
    )


def flat_features(features: Tensor) -> tuple[Tensor, Callable[[Tensor], Tensor]]:
    """Features (B, C, H, W) or (B, F) as a (B, F) matrix, without a copy, and the function that
    puts a weight's last dimension (F, in nn.Flatten's C, H, W order) in the matrix's order.

    A channels_last (NHWC) map flattens for free in H, W, C order; reordering the small weight
    instead of the activation saves a copy of the activation forward and backward, and keeps
    the gradient NHWC, so the layers below never mix layouts (a mixed-layout LeakyReLU backward
    is 3x slower, and oneDNN reorders on every call; measured in bench/speed.py). The function
    and the parameters are nn.Flatten's, so checkpoints do not depend on the layout.
    """
    if not is_channels_last(features):
        return features.flatten(1), lambda weight: weight
    batch, channels, height, width = features.shape
    flat = features.permute(0, 2, 3, 1).reshape(batch, -1)  # a view of NHWC memory

    def to_nhwc(weight: Tensor) -> Tensor:
        grid = weight.unflatten(-1, (channels, height, width))
        return grid.permute(*range(weight.dim() - 1), -2, -1, -3).flatten(-3)

    return flat, to_nhwc


def mixes_samples(module: nn.Module) -> bool:
    """Whether a sample's output can depend on the other samples of its batch: any batch norm
    (in training it normalises over the batch) or the minibatch-spread channel."""
    return any(
        isinstance(m, (nn.modules.batchnorm._BatchNorm, MinibatchStd)) for m in module.modules()
    )


def runs_channels_last(module: nn.Module) -> bool:
    """Whether the module's convolution weights are NHWC (`module.to(memory_format=...)`)."""
    return any(is_channels_last(parameter) for parameter in module.parameters())


class ConditionalHead(nn.Module):
    """Final logit of a discriminator from its features (B, F), optionally class-conditional.

    "projection" adds <embed(y), features> to the unconditional logit (Miyato & Koyama 2018, Eq. 3);
    "concat" conditioning happens at the input instead (see `label_planes`), so the head is plain.
    `classes` > 0 adds an auxiliary classifier over the same features (`classify=True`): AC-GAN's
    class head (Odena et al. 2017) or InfoGAN's Q head for a categorical code (Chen et al. 2016).
    """

    def __init__(
        self,
        features: int,
        num_classes: int = 0,
        conditioning: str = "projection",
        classes: int = 0,
    ):
        super().__init__()
        self.linear = nn.Linear(features, 1)
        use_projection = num_classes > 0 and conditioning == "projection"
        self.embedding = nn.Embedding(num_classes, features) if use_projection else None
        self.classifier = nn.Linear(features, classes) if classes > 0 else None

    def forward(
        self, features: Tensor, labels: Tensor | None = None, classify: bool = False
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Logits (B,) of features (B, F) or (B, C, H, W) (flattened as nn.Flatten would); with
        `classify`, also the auxiliary classifier's class logits (B, classes)."""
        if classify and self.classifier is None:
            raise ValueError("this discriminator has no auxiliary classifier")
        flat, order = flat_features(features)
        # Every linear read-out of the features in one GEMM: the unconditional logit, the
        # projection term <embed(k), features> for every class k (each sample then takes its own
        # class's column) and the classifier. The projection as (embed(y) * features).sum(1)
        # made a (B, F) product and its backward: about 4 ms of a 79 ms cgan step on 2 cores
        # (torch.profiler, batch 128); the extra columns cost next to nothing.
        parts = [self.linear.weight]
        if self.embedding is not None:
            parts.append(self.embedding.weight)
        if classify:
            parts.append(self.classifier.weight)
        weight = parts[0] if len(parts) == 1 else torch.cat(parts)
        scores = F.linear(flat, order(weight))
        logits = scores[:, 0] + self.linear.bias
        end = 1
        if self.embedding is not None:
            end += self.embedding.num_embeddings
            logits = logits + scores[:, 1:end].gather(1, labels[:, None]).squeeze(1)
        if classify:
            return logits, scores[:, end:] + self.classifier.bias
        return logits


def label_planes(images: Tensor, labels: Tensor, num_classes: int) -> Tensor:
    """Append the one-hot label as constant image planes: (B, C + K, H, W) (input conditioning)."""
    planes = F.one_hot(labels, num_classes).to(images.dtype)[:, :, None, None]
    return torch.cat([images, planes.expand(-1, -1, *images.shape[2:])], dim=1)


class MinibatchStd(nn.Module):
    """Appends the batch's feature spread as one more channel (Karras et al. 2018, Sec. 3).

    The standard deviation of each feature over groups of `group` samples, averaged to one number
    per group and broadcast as a constant plane: a discriminator that sees it can tell a batch of
    look-alike fakes from a varied real batch, which pushes the generator to cover more modes.
    (B, C, H, W) -> (B, C + 1, H, W); B must be a multiple of the group (else the whole batch).
    """

    def __init__(self, group: int = 4) -> None:
        super().__init__()
        self.group = group

    def forward(self, features: Tensor) -> Tensor:
        batch, channels, height, width = features.shape
        group = self.group if batch % self.group == 0 else batch
        grouped = features.float().reshape(group, -1, channels, height, width)
        spread = (grouped.var(0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # (B / G,)
        plane = spread.to(features.dtype).view(1, -1, 1, 1, 1).expand(group, -1, 1, height, width)
        return torch.cat([features, plane.reshape(batch, 1, height, width)], dim=1)
