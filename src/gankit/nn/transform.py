"""The image transformation network of fast style transfer: Johnson et al. 2016, "Perceptual
Losses for Real-Time Style Transfer and Super-Resolution", Sec. 3.1 and the supplementary material.

c9s1-w, d2w, d4w, R4w x 5, u2w, uw, c9s1-C: a 9x9 convolution, two stride-2 3x3 convolutions down,
five residual blocks at 1/4 resolution, two x2 up-sampling steps and a 9x9 convolution to the
output, scaled to [-1, 1] by tanh. Instance normalisation (Ulyanov et al. 2016, "Instance
Normalization: The Missing Ingredient for Fast Stylization") instead of the paper's batch norm,
and reflection padding instead of its border cropping, as in Johnson's later code and most
re-implementations. Up-sampling is nearest-neighbour x2 followed by a 3x3 convolution rather than
a fractionally strided convolution: it avoids the checkerboard artefacts of the latter (Odena et
al. 2016, "Deconvolution and Checkerboard Artifacts").
"""

from __future__ import annotations

from torch import Tensor, nn

from gankit.nn.resnet import ResidualBlock

STRIDE = 4  # two stride-2 convolutions: inputs must be multiples of 4 pixels


def conv_in_relu(fan_in: int, fan_out: int, kernel: int, stride: int = 1) -> list[nn.Module]:
    """Reflection-padded convolution, instance norm (with affine weights), ReLU."""
    return [
        nn.ReflectionPad2d(kernel // 2),
        nn.Conv2d(fan_in, fan_out, kernel, stride),
        nn.InstanceNorm2d(fan_out, affine=True),
        nn.ReLU(inplace=True),
    ]


def upsample(fan_in: int, fan_out: int) -> list[nn.Module]:
    """Nearest-neighbour x2, then a 3x3 convolution (see the module docstring for why)."""
    return [nn.Upsample(scale_factor=2, mode="nearest"), *conv_in_relu(fan_in, fan_out, 3)]


class TransformNet(nn.Module):
    """f_W(x): (B, C, H, W) in [-1, 1] -> (B, C, H, W) in [-1, 1]; H, W multiples of 4."""

    stride = STRIDE

    def __init__(self, channels: int = 3, width: int = 32, blocks: int = 5) -> None:
        super().__init__()
        layers = conv_in_relu(channels, width, 9)
        layers += conv_in_relu(width, 2 * width, 3, 2)
        layers += conv_in_relu(2 * width, 4 * width, 3, 2)
        layers += [ResidualBlock(4 * width, "instance") for _ in range(blocks)]
        layers += upsample(4 * width, 2 * width)
        layers += upsample(2 * width, width)
        layers += [nn.ReflectionPad2d(4), nn.Conv2d(width, channels, 9), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, images: Tensor) -> Tensor:
        return self.net(images)
