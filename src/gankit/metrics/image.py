"""Full-reference image quality: PSNR, SSIM, and the luma channel the super-resolution papers use.

All functions take batches (N, C, H, W) (a single (C, H, W) image is treated as N = 1) with values
in [0, data_range], and return one value per image (N,), computed in float64. Average them over a
test set as the SR literature does (the mean of per-image scores).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from gankit.errors import GankitError


def _pair(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """Both images as float64 (N, C, H, W), checking that their shapes agree."""
    if a.shape != b.shape:
        raise GankitError(f"images differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    if a.dim() == 3:
        a, b = a.unsqueeze(0), b.unsqueeze(0)
    if a.dim() != 4:
        raise GankitError(f"expected images (N, C, H, W) or (C, H, W); got {tuple(a.shape)}")
    return a.detach().double(), b.detach().double()


def psnr(a: Tensor, b: Tensor, data_range: float = 1.0) -> Tensor:
    """Peak signal-to-noise ratio per image, in dB: 10 log10(data_range^2 / MSE).

    Identical images give +inf.
    """
    a, b = _pair(a, b)
    mse = (a - b).pow(2).mean(dim=(1, 2, 3))
    return 10 * torch.log10(data_range**2 / mse)


def gaussian_window(size: int = 11, sigma: float = 1.5) -> Tensor:
    """Normalised 2-D Gaussian window (size, size), float64."""
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    profile = torch.exp(-(coords**2) / (2 * sigma**2))
    profile = profile / profile.sum()
    return profile[:, None] * profile[None, :]


def ssim(
    a: Tensor, b: Tensor, data_range: float = 1.0, window_size: int = 11, sigma: float = 1.5
) -> Tensor:
    """Structural similarity per image (Eq. 13 of Wang et al. 2004), averaged over channels.

    Local statistics under an 11x11 Gaussian window (sigma 1.5) with "valid" borders and
    K1 = 0.01, K2 = 0.03, as in the authors' reference MATLAB code. Identical images give 1.
    """
    a, b = _pair(a, b)
    channels, height, width = a.shape[1:]
    if min(height, width) < window_size:
        raise GankitError(
            f"SSIM needs images of at least {window_size}x{window_size} pixels; "
            f"got {height}x{width}"
        )
    window = gaussian_window(window_size, sigma).expand(channels, 1, -1, -1)

    def local_mean(x: Tensor) -> Tensor:  # per-channel Gaussian average, (N, C, H', W')
        return F.conv2d(x, window, groups=channels)

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_a, mu_b = local_mean(a), local_mean(b)
    var_a = local_mean(a * a) - mu_a**2
    var_b = local_mean(b * b) - mu_b**2
    cov = local_mean(a * b) - mu_a * mu_b
    numerator = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    denominator = (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    return (numerator / denominator).mean(dim=(1, 2, 3))


def rgb_to_y(images: Tensor, data_range: float = 1.0) -> Tensor:
    """Luma Y of ITU-R BT.601 (MATLAB's rgb2ycbcr), the channel SR papers report PSNR/SSIM on.

    (N, 3, H, W) in [0, data_range] -> (N, 1, H, W) in [16/255, 235/255] * data_range:
    Y = 16 + (65.481 R + 128.553 G + 24.966 B) for R, G, B in [0, 1], on the 0-255 scale.
    """
    if images.dim() == 3:
        images = images.unsqueeze(0)
    if images.dim() != 4 or images.shape[1] != 3:
        raise GankitError(f"rgb_to_y needs RGB images (N, 3, H, W); got {tuple(images.shape)}")
    weights = images.new_tensor([65.481, 128.553, 24.966]).view(1, 3, 1, 1) / 255.0
    return (images * weights).sum(1, keepdim=True) + 16.0 / 255.0 * data_range
