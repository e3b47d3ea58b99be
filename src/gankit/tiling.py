"""Tiled inference: run an image-to-image function on a large image piece by piece, so that memory
stays bounded whatever the image's size (`gankit upscale`, `gankit stylize`).

The image is cut into tiles of ``tile`` x ``tile`` input pixels; each tile is run with ``overlap``
pixels of context on every side (less at the image's borders), and only the tile's own part of the
output is kept. For a network whose every output pixel depends only on the input pixels within
its receptive radius r (convolutions, batch norm in eval mode: SRResNet), an overlap of at least r
gives exactly the output of the whole image. A network with image-wide statistics (instance norm:
the style-transfer network) sees each tile's own statistics, so tiles are not exactly the whole
image's output: close when the tiles are large enough to have the image's statistics.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from gankit.errors import GankitError


@torch.no_grad()
def apply_tiled(
    function: Callable[[Tensor], Tensor], images: Tensor, tile: int, overlap: int, scale: int = 1
) -> Tensor:
    """`function` ((B, C, h, w) -> (B, C', scale h, scale w), any h and w) on (B, C, H, W)
    `images`, in tiles of `tile` x `tile` pixels with `overlap` pixels of context (module
    docstring); the whole image in one call when it fits in one tile. Output on the CPU."""
    if tile <= 0 or overlap < 0:
        raise GankitError(f"tile must be positive and overlap not negative: {tile}, {overlap}")
    height, width = images.shape[-2:]
    if height <= tile and width <= tile:
        return function(images).cpu()
    out: Tensor | None = None
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            bottom, right = min(top + tile, height), min(left + tile, width)
            y0, x0 = max(0, top - overlap), max(0, left - overlap)
            y1, x1 = min(height, bottom + overlap), min(width, right + overlap)
            piece = function(images[..., y0:y1, x0:x1]).cpu()
            if out is None:  # (B, C', s H, s W): the output's channels and dtype
                out = piece.new_empty(*piece.shape[:2], height * scale, width * scale)
            rows = slice((top - y0) * scale, (bottom - y0) * scale)
            cols = slice((left - x0) * scale, (right - x0) * scale)
            out[..., top * scale : bottom * scale, left * scale : right * scale] = piece[
                ..., rows, cols
            ]
    assert out is not None
    return out
