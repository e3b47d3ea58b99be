"""SRResNet and the SRGAN discriminator: Ledig et al. 2017, "Photo-Realistic Single Image
Super-Resolution Using a Generative Adversarial Network" (CVPR), Figure 4.

Generator (SRResNet): a 9x9 convolution + PReLU, B residual blocks (conv3-BN-PReLU-conv3-BN with an
identity skip; B = 16 in the paper), a conv3-BN whose output is added to the first layer's (the
global skip), log2(scale) up-sampling blocks (conv3 to 4x the width, pixel shuffle x2 (Shi et al.
2016), PReLU) and a 9x9 convolution to the image channels. Width 64 in the paper.

Discriminator: 8 convolutions 3x3 with LeakyReLU(0.2), batch norm after all but the first, strides
alternating 1 and 2 and the width doubling every two layers (64, 64, 128, 128, 256, 256, 512, 512 in
the paper), then Dense(1024), LeakyReLU and Dense(1): one logit. The dense layer sees the whole
feature map, so the discriminator takes images of the training crop's size only.

Widths and the number of blocks are parameters: the paper's values are the defaults; small CPU
budgets use narrower networks (see gankit.models.srgan).

An option that is not the paper's, off by default: ``bicubic_skip`` adds the bicubic up-sampling of
the input to the output, so that the network learns only the residual detail (global residual
learning, Kim et al. 2016, "Accurate Image Super-Resolution Using Very Deep Convolutional
Networks" (VDSR), Sec. 3.2); the last convolution then starts at zero, so that the untrained
network is exactly bicubic up-sampling (colours included) and training only has to improve on it.
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

SCALES = (2, 4, 8)


class ResidualBlock(nn.Module):
    """conv3-BN-PReLU-conv3-BN plus the input (SRResNet's B residual blocks)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.PReLU(width),
            nn.Conv2d(width, width, 3, padding=1),
            nn.BatchNorm2d(width),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def upsample_block(width: int) -> nn.Sequential:
    """x2 sub-pixel up-sampling: conv3 to 4 * width channels, pixel shuffle, PReLU."""
    return nn.Sequential(
        nn.Conv2d(width, 4 * width, 3, padding=1), nn.PixelShuffle(2), nn.PReLU(width)
    )


class SRResNet(nn.Module):
    """(B, C, h, w) -> (B, C, scale h, scale w); any input size (fully convolutional)."""

    def __init__(
        self,
        channels: int,
        scale: int = 4,
        width: int = 64,
        blocks: int = 16,
        bicubic_skip: bool = False,
    ) -> None:
        super().__init__()
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, got {scale}")
        self.scale, self.bicubic_skip = scale, bicubic_skip
        self.head = nn.Sequential(nn.Conv2d(channels, width, 9, padding=4), nn.PReLU(width))
        self.blocks = nn.Sequential(*(ResidualBlock(width) for _ in range(blocks)))
        self.merge = nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width))
        ups = int(math.log2(scale))
        self.upsample = nn.Sequential(*(upsample_block(width) for _ in range(ups)))
        self.tail = nn.Conv2d(width, channels, 9, padding=4)
        if bicubic_skip:  # the untrained network is bicubic up-sampling (module docstring)
            nn.init.zeros_(self.tail.weight)
            nn.init.zeros_(self.tail.bias)

    def forward(self, low_res: Tensor) -> Tensor:
        features = self.head(low_res)  # (B, width, h, w)
        features = features + self.merge(self.blocks(features))  # the global skip
        high_res = self.tail(self.upsample(features))  # (B, C, scale h, scale w), unbounded
        if self.bicubic_skip:
            high_res = high_res + F.interpolate(
                low_res, scale_factor=self.scale, mode="bicubic", align_corners=False
            )
        return high_res


def _conv_layer(fan_in: int, width: int, stride: int, norm: bool) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(fan_in, width, 3, stride, 1)]
    if norm:
        layers.append(nn.BatchNorm2d(width))
    return layers + [nn.LeakyReLU(0.2)]


class SRDiscriminator(nn.Module):
    """(B, C, S, S) -> (B,) logits; S is the training crop (the dense layer fixes it)."""

    def __init__(self, channels: int, image_size: int, width: int = 64, dense: int = 1024) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        fan_in, size = channels, image_size
        for index in range(8):
            out = width * 2 ** (index // 2)
            stride = 1 if index % 2 == 0 else 2
            layers += _conv_layer(fan_in, out, stride, norm=index > 0)
            fan_in = out
            size = (size + 1) // 2 if stride == 2 else size  # k3 s2 p1: ceil(size / 2)
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(fan_in * size * size, dense), nn.LeakyReLU(0.2),
            nn.Linear(dense, 1),
        )  # fmt: skip

    def forward(self, images: Tensor) -> Tensor:
        return self.head(self.features(images)).squeeze(1)
