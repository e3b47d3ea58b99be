"""Unaligned image sets in the layout CycleGAN's datasets are published in (Zhu et al. 2017).

``unpaired:<root>`` reads ``<root>/trainA/`` and ``<root>/trainB/`` (``testA/``, ``testB/`` for the
held-out split): two sets of images with no correspondence, of any sizes and counts. Files are read
as in gankit.data.folders (see gankit.data.paired for the rules); both domains are held at the same
size and channels (RGB when either has colour), resized (short side) and centre-cropped once.

A batch is ``{"a": (B, C, S, S), "b": (B, C, S, S)}`` floats in [-1, 1]. The A images follow the
shuffled order the Batcher gives; each B image is drawn at random (from the global torch RNG, which
checkpoints save), as in the reference code's unaligned loader, so the two sets never pair up in a
fixed way even when they have the same length. Training batches get the random jitter and flips of
gankit.data.paired.jitter, drawn independently for A and B.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
from torch import Tensor

from gankit.data.base import register_data
from gankit.data.folders import image_mode, images_in, open_image, read_images
from gankit.data.paired import TwoSides, jitter, natural_size
from gankit.data.transforms import to_float
from gankit.errors import GankitError

SPLIT_FOLDERS = {"train": ("trainA", "trainB"), "test": ("testA", "testB")}


@dataclass
class UnpairedDataset(TwoSides, torch.utils.data.Dataset):
    """Two unaligned image sets held in memory: uint8 (N_a, C, S, S) and (N_b, C, S, S)."""

    a: Tensor
    b: Tensor
    augment: bool = False
    source: str = ""
    kind: ClassVar[str] = "unpaired"
    num_classes: ClassVar[int] = 0

    def __post_init__(self) -> None:
        if self.a.shape[1:] != self.b.shape[1:] or self.a.dtype != torch.uint8 or self.a.dim() != 4:
            raise ValueError("a and b must be uint8 tensors (N, C, S, S) of the same C and S")

    def __len__(self) -> int:
        """An epoch is one pass over the larger set."""
        return max(len(self.a), len(self.b))

    def batch(self, index: Tensor) -> dict[str, Tensor]:
        """A images at `index` (modulo their count) and as many B images drawn at random."""
        a = to_float(self.a[index % len(self.a)])
        b = to_float(self.b[torch.randint(0, len(self.b), (len(index),))])
        if self.augment:
            (a,), (b,) = jitter([a]), jitter([b])
        return {"a": a, "b": b}

    def resized(self, size: int | None = None, channels: int | None = None) -> UnpairedDataset:
        """A copy at size x size with `channels` channels (see ImageDataset.resized)."""
        return UnpairedDataset(*self.resized_sides(size, channels), self.augment, self.source)


def domain_files(root: Path, split: str) -> tuple[list[Path], list[Path]]:
    """The image files of the two domains of `split` (each folder must hold some)."""
    if not root.is_dir():
        raise GankitError(f"{root}: not a folder")
    if split not in SPLIT_FOLDERS:
        raise GankitError(f"{root}: unknown split {split!r}; known: {', '.join(SPLIT_FOLDERS)}")
    folder_a, folder_b = (root / name for name in SPLIT_FOLDERS[split])
    return images_in(folder_a), images_in(folder_b)


def load_unpaired(
    root: str | Path, split: str = "train", size: int | None = None, channels: int | None = None
) -> UnpairedDataset:
    """The `split` of an unpaired dataset at `root`, read at size x size (default: the largest
    power of two that fits in the first A image, at most 256)."""
    root = Path(root).expanduser()
    files_a, files_b = domain_files(root, split)
    grey = image_mode(files_a) == "L" and image_mode(files_b) == "L"
    mode = {1: "L", 3: "RGB"}.get(channels or 0) or ("L" if grey else "RGB")
    size = size or natural_size(open_image(files_a[0], mode))
    a, b = read_images(files_a, mode, size), read_images(files_b, mode, size)
    return UnpairedDataset(a, b, split == "train", str(root))


@dataclass
class UnpairedFiles:
    """An unpaired split not read yet: `resized` reads it at the size the model asks for."""

    root: str
    split: str
    kind: ClassVar[str] = "unpaired"

    def __len__(self) -> int:
        files_a, files_b = domain_files(Path(self.root).expanduser(), self.split)
        return max(len(files_a), len(files_b))

    def resized(self, size: int | None = None, channels: int | None = None) -> UnpairedDataset:
        return load_unpaired(self.root, self.split, size, channels)


@register_data("unpaired")
def unpaired(location: str | None, split: str) -> UnpairedFiles:
    """CycleGAN-style unaligned sets: ``unpaired:<root>``, <root>/{trainA,trainB,testA,testB}/."""
    if not location:
        raise GankitError("unpaired: needs a path (unpaired:/path/with/trainA/and/trainB)")
    return UnpairedFiles(location, split)
