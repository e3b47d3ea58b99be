"""The U-Net generator of pix2pix: Isola et al. 2017, "Image-to-Image Translation with Conditional
Adversarial Networks", Sec. 3.2.1 and Appendix 6.1.1 (after Ronneberger et al. 2015).

An encoder of stride-2 4x4 convolutions (LeakyReLU 0.2, no norm on the first layer or the
bottleneck) halves the resolution `depth` times; a decoder of stride-2 4x4 transposed convolutions
(ReLU) doubles it back, each decoder layer also seeing the encoder's features of the same
resolution (the skip connections: "Ck" layers of the paper concatenated with their mirror). The
first `dropout_layers` decoder layers have dropout, the generator's only source of noise (Sec.
3.1). The depth is set by the image size: halve while the size stays even, at most 8 times
(256 px -> 1 x 1, the paper's U-Net-256).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gankit.errors import GankitError
from gankit.nn.blocks import NORMS

MAX_DEPTH = 8  # the paper's U-Net-256 reaches 1 x 1 after 8 halvings
MAX_WIDTH_FACTOR = 8  # widths double from `width` up to 8 x width (64 ... 512 in the paper)


def unet_depth(image_size: int) -> int:
    """How many times the U-Net halves the resolution: while even, at most 8 (32 px -> 5)."""
    depth, size = 0, image_size
    while size % 2 == 0 and size > 1 and depth < MAX_DEPTH:
        size, depth = size // 2, depth + 1
    if depth < 3:
        raise GankitError(
            f"image size {image_size}: the U-Net needs a size divisible by 8 (e.g. 32, 64, 256)"
        )
    return depth


def _down(fan_in: int, fan_out: int, norm: str, first: bool, innermost: bool) -> nn.Sequential:
    """Encoder layer: [LeakyReLU] conv 4x4 s2 [norm] (no activation/norm at the ends)."""
    use_norm = not (first or innermost) and norm != "none"
    # Not in place: the layer's input is also the skip connection the decoder concatenates.
    layers: list[nn.Module] = [] if first else [nn.LeakyReLU(0.2)]
    # A bias before a (batch) norm is cancelled by it: only the un-normed layers keep one.
    layers.append(nn.Conv2d(fan_in, fan_out, 4, 2, 1, bias=not use_norm or norm == "instance"))
    if use_norm:
        layers.append(NORMS.get(norm)(fan_out))
    return nn.Sequential(*layers)


def _up(fan_in: int, fan_out: int, norm: str, outermost: bool, dropout: float) -> nn.Sequential:
    """Decoder layer: ReLU, transposed conv 4x4 s2, norm [dropout]; tanh on the outermost."""
    use_norm = not outermost and norm != "none"
    layers: list[nn.Module] = [
        nn.ReLU(inplace=True),  # its input (a concatenation or the bottleneck) is used nowhere else
        nn.ConvTranspose2d(fan_in, fan_out, 4, 2, 1, bias=not use_norm or norm == "instance"),
    ]
    if outermost:
        return nn.Sequential(*layers, nn.Tanh())
    layers.append(NORMS.get(norm)(fan_out))
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class UNetGenerator(nn.Module):
    """G(x): (B, in_channels, H, W) -> (B, out_channels, H, W) in [-1, 1].

    H and W must be multiples of `stride` (2^depth); the network is fully convolutional, so any
    such size works, not only the training size.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        image_size: int,
        width: int = 64,
        norm: str = "batch",
        dropout: float = 0.5,
        dropout_layers: int = 3,
    ) -> None:
        super().__init__()
        depth = unet_depth(image_size)
        self.stride = 2**depth
        widths = [width * min(2**i, MAX_WIDTH_FACTOR) for i in range(depth)]  # 64 ... 512
        fan_ins = [in_channels, *widths[:-1]]
        self.downs = nn.ModuleList(
            _down(fan_ins[i], widths[i], norm, i == 0, i == depth - 1) for i in range(depth)
        )
        ups = []
        for i in range(depth):  # ups[i] mirrors downs[i]; the decoder runs them in reverse
            fan_in = widths[i] if i == depth - 1 else 2 * widths[i]  # skip concatenated
            fan_out = out_channels if i == 0 else widths[i - 1]
            drops = dropout if i >= depth - dropout_layers and i > 0 else 0.0
            ups.append(_up(fan_in, fan_out, norm, i == 0, drops))
        self.ups = nn.ModuleList(ups)

    def forward(self, x: Tensor) -> Tensor:
        skips = []
        for down in self.downs:
            skips.append(x)
            x = down(x)  # (B, widths[i], H / 2^(i+1), W / 2^(i+1))
        for i in reversed(range(len(self.ups))):
            x = self.ups[i](x)
            if i > 0:
                x = torch.cat([skips[i], x], dim=1)  # the skip: encoder features at this size
        return x
