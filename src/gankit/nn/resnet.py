"""The ResNet generator of CycleGAN: Zhu et al. 2017, "Unpaired Image-to-Image Translation using
Cycle-Consistent Adversarial Networks", Appendix 7.2, after Johnson et al. 2016.

c7s1-64, d128, d256, R256 x blocks, u128, u64, c7s1-C: a 7x7 convolution, two stride-2 3x3
convolutions down, residual blocks of two 3x3 convolutions (He et al. 2016) at 1/4 resolution, two
stride-2 transposed convolutions up and a 7x7 convolution to the output with tanh. Reflection
padding against border artefacts, instance norm (Ulyanov et al. 2016) and ReLU. The paper uses 6
blocks for 128 x 128 images and 9 for 256 x 256 and above.
"""

from __future__ import annotations

from torch import Tensor, nn

from gankit.nn.blocks import NORMS

STRIDE = 4  # two stride-2 convolutions: inputs must be multiples of 4 pixels


def _conv_norm_relu(
    fan_in: int, fan_out: int, kernel: int, stride: int, norm: str, transpose: bool = False
) -> list[nn.Module]:
    bias = norm in ("none", "instance")  # a bias before batch norm is cancelled by it
    if transpose:  # u-k: doubles the size exactly (output_padding fills the last row/column)
        conv = nn.ConvTranspose2d(fan_in, fan_out, kernel, stride, 1, output_padding=1, bias=bias)
    elif kernel == 7:  # c7s1-k: reflection-padded, size kept
        return [
            nn.ReflectionPad2d(3),
            nn.Conv2d(fan_in, fan_out, 7, 1, 0, bias=bias),
            NORMS.get(norm)(fan_out),
            nn.ReLU(inplace=True),
        ]
    else:  # d-k: halves the size
        conv = nn.Conv2d(fan_in, fan_out, kernel, stride, 1, bias=bias)
    return [conv, NORMS.get(norm)(fan_out), nn.ReLU(inplace=True)]


class ResidualBlock(nn.Module):
    """x + F(x), F = reflection-padded 3x3 conv, norm, ReLU, 3x3 conv, norm (R-k of the paper)."""

    def __init__(self, channels: int, norm: str = "instance") -> None:
        super().__init__()
        bias = norm in ("none", "instance")
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=bias),
            NORMS.get(norm)(channels),
            nn.ReLU(inplace=True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=bias),
            NORMS.get(norm)(channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """G(x): (B, in_channels, H, W) -> (B, out_channels, H, W) in [-1, 1]; H, W multiples of 4."""

    stride = STRIDE

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        width: int = 64,
        blocks: int = 9,
        norm: str = "instance",
    ) -> None:
        super().__init__()
        layers = _conv_norm_relu(in_channels, width, 7, 1, norm)
        layers += _conv_norm_relu(width, 2 * width, 3, 2, norm)
        layers += _conv_norm_relu(2 * width, 4 * width, 3, 2, norm)
        layers += [ResidualBlock(4 * width, norm) for _ in range(blocks)]
        layers += _conv_norm_relu(4 * width, 2 * width, 3, 2, norm, transpose=True)
        layers += _conv_norm_relu(2 * width, width, 3, 2, norm, transpose=True)
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(width, out_channels, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)
