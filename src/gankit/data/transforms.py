"""Whole-tensor image transforms (no per-item Python): scaling, resizing, cropping."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def to_float(images: Tensor) -> Tensor:
    """uint8 [0, 255] -> float32 [-1, 1], same shape."""
    return images.float().mul_(2.0 / 255.0).sub_(1.0)


def to_uint8(images: Tensor) -> Tensor:
    """float [-1, 1] -> uint8 [0, 255] (rounded, clamped), same shape."""
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def resize_images(images: Tensor, size: int, chunk: int = 4096) -> Tensor:
    """Resize uint8 (N, C, H, W) to (N, C, size, size): scale the short side, centre-crop.

    Antialiased bilinear, in chunks so that a large dataset never needs a float copy in full.
    """
    _, _, height, width = images.shape
    scale = size / min(height, width)
    new_h, new_w = max(size, round(height * scale)), max(size, round(width * scale))
    out = []
    for part in images.split(chunk):
        resized = F.interpolate(
            part.float(), size=(new_h, new_w), mode="bilinear", antialias=True, align_corners=False
        )
        out.append(center_crop(resized, size).round().clamp(0, 255).to(torch.uint8))
    return torch.cat(out)


def center_crop(images: Tensor, size: int) -> Tensor:
    """The central size x size window of (..., H, W)."""
    height, width = images.shape[-2:]
    top, left = (height - size) // 2, (width - size) // 2
    return images[..., top : top + size, left : left + size]
