"""The PatchGAN discriminator: Isola et al. 2017, Sec. 3.2.2 and Appendix 6.1.2.

It classifies each N x N patch of an image as real or fake and outputs a map of logits (the loss
averages over it): C64-C128-C256-C512 for the 70 x 70 PatchGAN (3 stride-2 layers, then two
stride-1 layers), LeakyReLU(0.2), no norm on the first layer. `layers` sets the patch size
(1 -> 16, 2 -> 34, 3 -> 70, 4 -> 142 pixels). The same network judges single images in CycleGAN
(Zhu et al. 2017, Appendix 7.2) and (input, output) pairs in pix2pix.
"""

from __future__ import annotations

from torch import Tensor, nn

from gankit.errors import GankitError
from gankit.nn.blocks import NORMS

MAX_WIDTH_FACTOR = 8


def patch_size(layers: int) -> int:
    """The receptive field, in pixels, of one output logit of a `layers`-layer PatchGAN."""
    field = 1
    for kernel, stride in [(4, 1), (4, 1)] + [(4, 2)] * layers:  # from the output backwards
        field = (field - 1) * stride + kernel
    return field


def _block(fan_in: int, fan_out: int, stride: int, norm: str) -> list[nn.Module]:
    use_norm = norm != "none"
    return [
        nn.Conv2d(fan_in, fan_out, 4, stride, 1, bias=not use_norm or norm == "instance"),
        *([NORMS.get(norm)(fan_out)] if use_norm else []),
        nn.LeakyReLU(0.2, inplace=True),
    ]


class PatchDiscriminator(nn.Module):
    """D(x): (B, in_channels, H, W) -> (B, 1, H', W') logits, one per overlapping patch."""

    def __init__(
        self,
        in_channels: int,
        image_size: int,
        width: int = 64,
        layers: int = 3,
        norm: str = "batch",
    ) -> None:
        super().__init__()
        if layers < 1:
            raise GankitError(f"the PatchGAN needs at least 1 layer, got {layers}")
        if image_size // 2**layers < 3:
            raise GankitError(
                f"image size {image_size} is too small for a {layers}-layer PatchGAN "
                f"(needs at least {3 * 2**layers} px): use fewer layers (model.d_layers)"
            )
        widths = [width * min(2**i, MAX_WIDTH_FACTOR) for i in range(layers + 1)]
        modules: list[nn.Module] = [nn.Conv2d(in_channels, width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        for i in range(1, layers):
            modules += _block(widths[i - 1], widths[i], 2, norm)
        modules += _block(widths[layers - 1], widths[layers], 1, norm)
        modules.append(nn.Conv2d(widths[layers], 1, 4, 1, 1))
        self.net = nn.Sequential(*modules)
        self.patch_size = patch_size(layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)
