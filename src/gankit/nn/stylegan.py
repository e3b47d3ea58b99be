"""StyleGAN networks in plain PyTorch (no custom CUDA or C++ operators: CPU and GPU alike).

Karras, Laine & Aila 2019, "A Style-Based Generator Architecture for Generative Adversarial
Networks" (the mapping network, styles, noise inputs, style mixing, truncation), with the
generator of Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN"
(StyleGAN2: weight modulation and demodulation, skip toRGB outputs, a residual discriminator).

Every layer uses the equalised learning rate of Karras et al. 2018 (ProGAN, Sec. 4.1): weights are
drawn from N(0, 1) / lr_mul and scaled by lr_mul / sqrt(fan_in) at run time. Resampling uses
bilinear up-sampling and 2 x 2 average pooling instead of the papers' [1, 3, 3, 1] FIR filters:
the same low-pass role, built from stock PyTorch operators.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.nn.blocks import MinibatchStd, is_channels_last

GAIN = math.sqrt(2.0)  # keeps the variance of leaky-ReLU activations (He et al. 2015)


def leaky(x: Tensor) -> Tensor:
    """LeakyReLU(0.2) scaled by sqrt(2), as in both papers."""
    return F.leaky_relu(x, 0.2) * GAIN


class EqualLinear(nn.Module):
    """A fully connected layer with the equalised learning rate and a learning-rate multiplier."""

    def __init__(
        self, fan_in: int, fan_out: int, lr_mul: float = 1.0, bias_init: float = 0.0
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(fan_out, fan_in) / lr_mul)
        self.bias = nn.Parameter(torch.full((fan_out,), bias_init / lr_mul))
        self.scale, self.lr_mul = lr_mul / math.sqrt(fan_in), lr_mul

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)


class EqualConv2d(nn.Module):
    """A convolution with the equalised learning rate ('same' padding)."""

    def __init__(self, fan_in: int, fan_out: int, kernel: int, bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(fan_out, fan_in, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(fan_out)) if bias else None
        self.scale, self.padding = 1 / math.sqrt(fan_in * kernel * kernel), kernel // 2

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


def normalize(x: Tensor) -> Tensor:
    """Rows scaled to unit mean square (StyleGAN's normalisation of z)."""
    return x.float() * torch.rsqrt(x.float().square().mean(1, keepdim=True) + 1e-8)


class MappingNetwork(nn.Module):
    """f: z -> w, z normalised then `layers` fully connected layers at lr_mul 0.01 (StyleGAN,
    Sec. 2 and Appendix C). Tracks `w_avg`, the running mean of w (decay 0.995), for truncation.

    With `classes` > 0 it is conditional as in StyleGAN2-ADA (Karras et al. 2020b, the official
    code): a class vector c (one-hot, or a blend of one-hots) is embedded, normalised and
    concatenated with the normalised z."""

    def __init__(
        self, z_dim: int, w_dim: int, layers: int = 8, lr_mul: float = 0.01, classes: int = 0
    ) -> None:
        super().__init__()
        self.embed = EqualLinear(classes, w_dim) if classes else None
        widths = [z_dim + (w_dim if classes else 0)] + [w_dim] * layers
        self.layers = nn.ModuleList(
            EqualLinear(a, b, lr_mul) for a, b in zip(widths, widths[1:], strict=False)
        )
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: Tensor, psi: float = 1.0, condition: Tensor | None = None) -> Tensor:
        """w (B, w_dim); psi < 1 pulls it towards w_avg: w' = w_avg + psi (w - w_avg) (Eq. 3 of
        StyleGAN, the truncation trick in W). `condition`: (B, classes) class vectors."""
        x = normalize(z)
        if self.embed is not None:
            x = torch.cat([x, normalize(self.embed(condition.float()))], dim=1)
        for layer in self.layers:
            x = leaky(layer(x))
        if self.training:  # only real training forwards move the average
            with torch.no_grad():
                self.w_avg.lerp_(x.detach().float().mean(0), 1 - 0.995)
        if psi != 1.0:
            x = self.w_avg + psi * (x - self.w_avg)
        return x


class ModulatedConv2d(nn.Module):
    """A 3x3 (or 1x1) convolution whose input channels are scaled by a style s = A(w) and whose
    output channels are then demodulated (StyleGAN2, Sec. 2.2, Eq. 1-3).

    Computed as (x * s) conv W, times sigma_j^-1 = rsqrt(sum_i,k (s_i w_ijk)^2 + eps): the
    "non-fused" form of the paper's weight modulation. It is the same function as a grouped
    convolution with per-sample weights, but a stock convolution, which is faster on CPUs.
    """

    def __init__(
        self, fan_in: int, fan_out: int, kernel: int, w_dim: int, demodulate: bool = True
    ) -> None:
        super().__init__()
        self.affine = EqualLinear(w_dim, fan_in, bias_init=1.0)  # styles start at 1
        self.weight = nn.Parameter(torch.randn(fan_out, fan_in, kernel, kernel))
        self.scale, self.padding = 1 / math.sqrt(fan_in * kernel * kernel), kernel // 2
        self.demodulate = demodulate

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        style = self.affine(w)  # (B, C_in)
        weight = self.weight * self.scale
        out = F.conv2d(x * style[:, :, None, None].to(x.dtype), weight, padding=self.padding)
        if self.demodulate:
            # In fp32 whatever the autocast: sums of squares lose too much in bf16.
            with torch.autocast(x.device.type, enabled=False):
                energy = style.float().square() @ weight.float().square().sum((2, 3)).T
            out = out * torch.rsqrt(energy + 1e-8)[:, :, None, None].to(out.dtype)  # (B, C_out)
        return out


class NoiseInput(nn.Module):
    """Per-pixel Gaussian noise times a learned per-layer scale, initially 0 (StyleGAN, Sec. 3.2).
    A fixed noise image (`noise_const`) is kept for reproducible figures (--noise const)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.strength = nn.Parameter(torch.zeros(()))
        self.register_buffer("noise_const", torch.randn(1, 1, size, size))

    def forward(self, x: Tensor, noise: Tensor | None) -> Tensor:
        if noise is None:
            noise = torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device, dtype=x.dtype)
        return x + self.strength * noise.to(x.dtype)


def upsample(x: Tensor) -> Tensor:
    """2x bilinear up-sampling (the papers' [1, 3, 3, 1] FIR role)."""
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


def downsample(x: Tensor) -> Tensor:
    """2x2 average pooling."""
    return F.avg_pool2d(x, 2)


class StyleLayer(nn.Module):
    """Modulated 3x3 conv (after a 2x up-sampling when `up`), noise, bias, leaky ReLU."""

    def __init__(self, fan_in: int, fan_out: int, w_dim: int, size: int, up: bool) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(fan_in, fan_out, 3, w_dim)
        self.noise = NoiseInput(size)
        self.bias = nn.Parameter(torch.zeros(fan_out))
        self.up = up

    def forward(self, x: Tensor, w: Tensor, noise: Tensor | None) -> Tensor:
        if self.up:
            x = upsample(x)
        x = self.noise(self.conv(x, w), noise)
        return leaky(x + self.bias[:, None, None].to(x.dtype))


class ToRGB(nn.Module):
    """A modulated 1x1 conv to image channels, without demodulation (StyleGAN2, Fig. 7b)."""

    def __init__(self, fan_in: int, channels: int, w_dim: int) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(fan_in, channels, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        return self.conv(x, w) + self.bias[:, None, None].to(x.dtype)


def widths(image_size: int, width: int, max_width: int) -> dict[int, int]:
    """Channels per resolution 4, 8, ..., image_size: `width` at full size, doubling as the
    resolution halves, at most `max_width`."""
    sizes = [4 * 2**i for i in range(int(math.log2(image_size)) - 1)]
    return {size: min(max_width, width * image_size // size) for size in sizes}


class SynthesisNetwork(nn.Module):
    """g: (ws, noise) -> image. A learned 4x4 constant, then per resolution two StyleLayers (the
    first up-samples) and a ToRGB whose outputs are summed over resolutions (skip generator,
    StyleGAN2 Fig. 7). `num_ws` = 2 log2(size) - 2 styles, one per conv, the toRGBs sharing the
    next conv's (as in the official code)."""

    def __init__(self, image_size: int, channels: int, w_dim: int, width: int, max_width: int):
        super().__init__()
        chans = widths(image_size, width, max_width)
        sizes = list(chans)
        self.const = nn.Parameter(torch.randn(1, chans[4], 4, 4))
        layers = [StyleLayer(chans[4], chans[4], w_dim, 4, up=False)]
        for low, high in zip(sizes, sizes[1:], strict=False):
            layers += [
                StyleLayer(chans[low], chans[high], w_dim, high, up=True),
                StyleLayer(chans[high], chans[high], w_dim, high, up=False),
            ]
        self.layers = nn.ModuleList(layers)
        self.to_rgb = nn.ModuleList(ToRGB(chans[size], channels, w_dim) for size in sizes)
        self.num_ws = len(layers) + 1

    def forward(self, ws: Tensor, noise: list[Tensor | None] | None = None) -> Tensor:
        """ws (B, num_ws, w_dim); `noise`: one image per layer (None: fresh random noise)."""
        noise = noise or [None] * len(self.layers)
        x = self.const.expand(ws.shape[0], -1, -1, -1)
        x = self.layers[0](x, ws[:, 0], noise[0])
        image = self.to_rgb[0](x, ws[:, 1])
        for i, to_rgb in enumerate(self.to_rgb[1:]):
            first = 2 * i + 1
            x = self.layers[first](x, ws[:, first], noise[first])
            x = self.layers[first + 1](x, ws[:, first + 1], noise[first + 1])
            image = upsample(image)
            image = image + to_rgb(x, ws[:, first + 2])
        return image

    def noise_images(
        self, n: int, mode: str, seed: int | None, device: torch.device
    ) -> list[Tensor | None]:
        """Noise per layer: "random" (seeded when `seed` is given, else fresh), "const" (each
        layer's fixed image) or "none" (zeros)."""
        sizes = [layer.noise.noise_const.shape[-1] for layer in self.layers]
        if mode == "const":
            return [layer.noise.noise_const.expand(n, -1, -1, -1) for layer in self.layers]
        if mode == "none":
            return [torch.zeros(n, 1, s, s, device=device) for s in sizes]
        if seed is None:
            return [None] * len(sizes)
        draw = torch.Generator().manual_seed(seed)
        return [torch.randn(n, 1, s, s, generator=draw).to(device) for s in sizes]


class StyleGenerator(nn.Module):
    """G = g(f(z)): the mapping network and the synthesis network (StyleGAN, Fig. 1b)."""

    def __init__(
        self,
        z_dim: int,
        w_dim: int,
        mapping_layers: int,
        image_size: int,
        channels: int,
        width: int,
        max_width: int,
        classes: int = 0,
    ) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.mapping = MappingNetwork(z_dim, w_dim, mapping_layers, classes=classes)
        self.synthesis = SynthesisNetwork(image_size, channels, w_dim, width, max_width)
        self.num_ws = self.synthesis.num_ws

    def styles(self, z: Tensor, psi: float = 1.0, condition: Tensor | None = None) -> Tensor:
        """The same w for every layer: (B, num_ws, w_dim)."""
        return self.mapping(z, psi, condition)[:, None].expand(-1, self.num_ws, -1)

    def forward(
        self,
        z: Tensor,
        psi: float = 1.0,
        noise: list[Tensor | None] | None = None,
        condition: Tensor | None = None,
    ) -> Tensor:
        return self.synthesis(self.styles(z, psi, condition), noise)


def mix_styles(ws: Tensor, other: Tensor, start: int, stop: int | None = None) -> Tensor:
    """`ws` with the layers start..stop-1 (to the end when stop is None) taken from `other`
    (StyleGAN, Sec. 3.1): crossover at `start`; start 0 and no stop is `other` alone."""
    mixed = ws.clone()
    mixed[:, start:stop] = other[:, start:stop]
    return mixed


class ResidualBlock(nn.Module):
    """Two 3x3 convs then 2x down-sampling, plus a 1x1 skip, summed at 1/sqrt(2) (StyleGAN2,
    Fig. 7c, the 'resnet' discriminator)."""

    def __init__(self, fan_in: int, fan_out: int) -> None:
        super().__init__()
        self.conv0 = EqualConv2d(fan_in, fan_in, 3)
        self.conv1 = EqualConv2d(fan_in, fan_out, 3)
        self.skip = EqualConv2d(fan_in, fan_out, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        skip = self.skip(downsample(x))
        # Pooling before the second conv (not after) does its work at the lower resolution.
        x = leaky(self.conv1(downsample(leaky(self.conv0(x)))))
        return (x + skip) / GAIN


class ResidualDiscriminator(nn.Module):
    """D(x [, c]) -> logits (B,): fromRGB, residual blocks down to 4x4, a minibatch standard
    deviation channel (Karras et al. 2018, Sec. 3), a 3x3 conv and two fully connected layers.
    With `classes` > 0 the logit gains a projection term <embed(c), features> / sqrt(dim)
    (Miyato & Koyama 2018; the normalisation of StyleGAN2-ADA's conditional D)."""

    def __init__(
        self,
        image_size: int,
        channels: int,
        width: int,
        max_width: int,
        classes: int = 0,
        minibatch_std: int = 4,
    ) -> None:
        super().__init__()
        chans = widths(image_size, width, max_width)
        sizes = sorted(chans, reverse=True)  # S, S/2, ..., 4
        self.from_rgb = EqualConv2d(channels, chans[image_size], 1)
        self.blocks = nn.Sequential(
            *(ResidualBlock(chans[a], chans[b]) for a, b in zip(sizes, sizes[1:], strict=False))
        )
        self.spread = MinibatchStd(minibatch_std)
        self.conv = EqualConv2d(chans[4] + 1, chans[4], 3)
        self.fc = EqualLinear(chans[4] * 16, chans[4])
        self.out = EqualLinear(chans[4], 1)
        self.embed = EqualLinear(classes, chans[4]) if classes else None

    def forward(self, images: Tensor, condition: Tensor | None = None) -> Tensor:
        x = leaky(self.from_rgb(images))
        if is_channels_last(self.conv.weight):
            # A one-channel image is NCHW and NHWC at once, and the convolution then picks NCHW
            # for its output: a generated batch would run the whole trunk in the slower layout.
            x = x.contiguous(memory_format=torch.channels_last)
        x = self.blocks(x)
        x = leaky(self.conv(self.spread(x)))  # (B, C4, 4, 4)
        features = leaky(self.fc(x.flatten(1)))
        logits = self.out(features).squeeze(1)
        if self.embed is not None:
            projection = (self.embed(condition.float()) * features).sum(1)
            logits = logits + projection / math.sqrt(features.shape[1])
        return logits
