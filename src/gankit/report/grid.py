"""Sample grids: a batch of images tiled into one picture, and written as a PNG atomically."""

from __future__ import annotations

import io
import math
import os
import secrets
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from gankit.data.transforms import to_uint8


def make_grid(
    images: Tensor, nrow: int | None = None, padding: int = 2, pad_value: int = 0
) -> np.ndarray:
    """Tile images (N, C, H, W) into one uint8 array (H', W', C), row by row.

    `images` are uint8 [0, 255] or float [-1, 1]; C is 1 (grey) or 3 (RGB) and is kept as is, so a
    grey grid is (H', W', 1). `nrow` is the number of images per row (default ceil(sqrt(N))); the
    last row is filled with `pad_value`. Every cell has `padding` pixels of `pad_value` around it:
    H' = rows * (H + padding) + padding, W' = nrow * (W + padding) + padding.
    """
    if images.dim() != 4 or images.shape[1] not in (1, 3) or len(images) == 0:
        raise ValueError(
            f"expected images (N, C, H, W) with N > 0 and C in (1, 3), got {tuple(images.shape)}"
        )
    if images.dtype != torch.uint8:
        if not images.is_floating_point():
            raise ValueError(f"expected uint8 or float images, got {images.dtype}")
        images = to_uint8(images)
    count, channels, height, width = images.shape
    nrow = min(nrow or math.ceil(math.sqrt(count)), count)
    rows = math.ceil(count / nrow)
    images = images.detach().cpu()
    blank = torch.full((rows * nrow - count, channels, height, width), pad_value, dtype=torch.uint8)
    # Pad each cell on the bottom and right only, then the whole grid on the top and left, so that
    # neighbouring cells are separated by `padding` pixels, not 2 * padding.
    cells = F.pad(torch.cat([images, blank]), (0, padding, 0, padding), value=pad_value)
    cell_h, cell_w = height + padding, width + padding
    grid = cells.reshape(rows, nrow, channels, cell_h, cell_w).permute(0, 3, 1, 4, 2)
    grid = grid.reshape(rows * cell_h, nrow * cell_w, channels)  # (H', W', C) before top/left pad
    grid = F.pad(grid.permute(2, 0, 1), (padding, 0, padding, 0), value=pad_value)
    return grid.permute(1, 2, 0).contiguous().numpy()


def save_grid(
    images: Tensor, path: str | Path, nrow: int | None = None, scale: int = 1, padding: int = 2
) -> Path:
    """Write `make_grid(images, nrow, padding)` as a PNG, upscaled `scale` times (nearest).

    Nearest-neighbour upscaling keeps the pixels sharp, so that 28x28 samples stay readable. The
    file is written atomically: a reader never sees half a PNG. Returns the path written.
    """
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}")
    grid = make_grid(images, nrow=nrow, padding=padding)
    if scale > 1:
        grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)
    picture = Image.fromarray(grid[..., 0] if grid.shape[2] == 1 else grid)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return write_bytes_atomic(path, buffer.getvalue())


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` through a temporary file in the same folder and `os.replace`.

    The same folder keeps the rename on one file system, where it is atomic: a report or a viewer
    reading the file while training writes it sees the old or the new version, never a mix.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(temporary, "xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path
