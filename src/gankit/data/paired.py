"""Aligned image pairs in the layout pix2pix's datasets are published in (Isola et al. 2017).

``pairs:<root>`` reads ``<root>/train/`` (and ``test/``, falling back to ``val/`` for the held-out
split, as facades, maps and edges2shoes ship): each file holds the input A and the target B side
by side, A on the left. A file of odd width has one middle column that belongs to neither half: it
is dropped. A pair image must be at least as wide as it is tall (a single photo that is taller
than wide cannot be two halves side by side). Images are read by gankit.data.folders (case-
insensitive extensions, subfolders walked, natural sort, EXIF orientation, grey/palette/16-bit/
RGBA conversion with transparency composited on white); both halves are resized (short side) and
centre-cropped to the model's size once, at load time.

Batches are ``{"a": (B, C, S, S), "b": (B, C, S, S)}`` floats in [-1, 1]. Training batches get the
paper's random jitter (resize to 286/256 of the size, random crop back) and horizontal flips, the
same for A and B so they stay aligned (Isola et al. 2017, Appendix 6.2); held-out data gets none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from gankit.data.base import convert_channels, register_data
from gankit.data.folders import image_mode, images_in, open_image, square, to_tensor
from gankit.data.transforms import resize_images, to_float
from gankit.errors import GankitError

JITTER = 286 / 256  # the paper resizes 256 -> 286 and crops 256 back (Appendix 6.2)
MAX_NATURAL_SIZE = 256  # the size used when the model does not ask for one (the papers' size)
# The held-out split: test when the dataset has one, else val (maps, edges2shoes ship only val).
SPLIT_FOLDERS = {"train": ("train",), "test": ("test", "val"), "val": ("val",)}


def jitter(images: list[Tensor], generator: torch.Generator | None = None) -> list[Tensor]:
    """The same random resize-and-crop and horizontal flip for every tensor of `images`.

    Each is float (B, C, S, S); each image of the batch is resized to round(S * 286/256) (bicubic,
    clamped to [-1, 1]) and cropped back to S at its own random offset, then flipped with
    probability 1/2. One gather, no per-image Python.
    """
    batch, _, size, _ = images[0].shape
    big = round(size * JITTER)
    dy = torch.randint(0, big - size + 1, (batch,), generator=generator)
    dx = torch.randint(0, big - size + 1, (batch,), generator=generator)
    flip = torch.rand(batch, generator=generator) < 0.5
    rows = (dy[:, None] + torch.arange(size))[:, None, :, None]  # (B, 1, S, 1)
    cols = dx[:, None] + torch.arange(size)
    cols = torch.where(flip[:, None], cols.flip(1), cols)[:, None, None, :]  # (B, 1, 1, S)
    out = []
    for tensor in images:
        grown = F.interpolate(tensor, size=(big, big), mode="bicubic", align_corners=False)
        index_b = torch.arange(batch).view(-1, 1, 1, 1)
        index_c = torch.arange(tensor.shape[1]).view(1, -1, 1, 1)
        out.append(grown.clamp_(-1, 1)[index_b, index_c, rows, cols].contiguous())
    return out


def split_pair(image: Image.Image, path: Path) -> tuple[Image.Image, Image.Image]:
    """(A, B): the left and right halves of a pair image (an odd middle column is dropped)."""
    width, height = image.size
    if width < 2 or width < height:
        raise GankitError(
            f"{path}: a {width}x{height} image cannot be split into A | B halves side by side "
            f"(a pair image is at least as wide as it is tall)"
        )
    half = width // 2
    return image.crop((0, 0, half, height)), image.crop((width - half, 0, width, height))


def natural_size(image: Image.Image, halves: int = 1) -> int:
    """The size data are held at when the model asks for none: the largest power of two that
    fits in `image` (in each of its halves for a pair image, halves=2), at most 256."""
    width, height = image.size
    side = max(1, min(width // halves, height, MAX_NATURAL_SIZE))
    return 2 ** (side.bit_length() - 1)


def split_folder(root: Path, split: str, folders: dict[str, tuple[str, ...]]) -> Path:
    """The folder of `split` under `root` (the first of its candidates that exists)."""
    if not root.is_dir():
        raise GankitError(f"{root}: not a folder")
    if split not in folders:
        raise GankitError(f"{root}: unknown split {split!r}; known: {', '.join(folders)}")
    for name in folders[split]:
        if (root / name).is_dir():
            return root / name
    wanted = " or ".join(f"{name}/" for name in folders[split])
    raise GankitError(f"{root}: no {wanted} folder (expected the {split} split there)")


class TwoSides:
    """What paired and unpaired datasets share: two uint8 sets `a` and `b` (N, C, S, S)."""

    a: Tensor
    b: Tensor
    source: str

    def fixed_batch(self, n: int) -> dict[str, Tensor]:
        """The first `n` images of each side, no augmentation (previews, evaluation)."""
        return {"a": to_float(self.a[:n]), "b": to_float(self.b[:n])}

    @property
    def images(self) -> Tensor:
        """The B side (what a model learns to produce), e.g. as a reference set for FID."""
        return self.b

    @property
    def channels(self) -> int:
        return self.a.shape[1]

    @property
    def image_size(self) -> int:
        return self.a.shape[-1]

    def resized_sides(self, size: int | None, channels: int | None) -> tuple[Tensor, Tensor]:
        """Both sides at size x size with `channels` channels (see ImageDataset.resized)."""
        a, b = self.a, self.b
        if channels is not None and channels != a.shape[1]:
            a, b = convert_channels(a, channels, self.source), convert_channels(b, channels)
        if size is not None and size != a.shape[-1]:
            a, b = resize_images(a, size), resize_images(b, size)
        return a, b


@dataclass
class PairedDataset(TwoSides, torch.utils.data.Dataset):
    """Aligned pairs held in memory: A and B as uint8 tensors (N, C, S, S)."""

    a: Tensor
    b: Tensor
    augment: bool = False  # random jitter and flips (training) or none (held-out data)
    source: str = ""
    files: list[str] = field(default_factory=list)  # the pairs' files, relative to the split
    kind: ClassVar[str] = "pairs"
    num_classes: ClassVar[int] = 0

    def __post_init__(self) -> None:
        if self.a.shape != self.b.shape or self.a.dtype != torch.uint8 or self.a.dim() != 4:
            raise ValueError("a and b must be uint8 tensors (N, C, S, S) of the same shape")

    def __len__(self) -> int:
        return len(self.a)

    def batch(self, index: Tensor) -> dict[str, Tensor]:
        """Pairs at `index` (int64 (B,)): {"a", "b"} floats in [-1, 1], jittered if `augment`."""
        a, b = to_float(self.a[index]), to_float(self.b[index])
        if self.augment:
            a, b = jitter([a, b])
        return {"a": a, "b": b}

    def resized(self, size: int | None = None, channels: int | None = None) -> PairedDataset:
        """A copy at size x size with `channels` channels (see ImageDataset.resized)."""
        a, b = self.resized_sides(size, channels)
        return PairedDataset(a, b, self.augment, self.source, self.files)


def load_pairs(
    root: str | Path, split: str = "train", size: int | None = None, channels: int | None = None
) -> PairedDataset:
    """The `split` of a pairs dataset at `root`, read at size x size (default: `natural_size`)."""
    folder = split_folder(Path(root).expanduser(), split, SPLIT_FOLDERS)
    files = images_in(folder)
    mode = {1: "L", 3: "RGB"}.get(channels or 0) or image_mode(files)
    size = size or natural_size(open_image(files[0], mode), halves=2)
    a_side, b_side = [], []
    for path in files:
        a, b = split_pair(open_image(path, mode), path)
        a_side.append(np.asarray(square(a, size)))
        b_side.append(np.asarray(square(b, size)))
    names = [str(path.relative_to(folder)) for path in files]
    return PairedDataset(to_tensor(a_side), to_tensor(b_side), split == "train", str(folder), names)


@dataclass
class PairFiles:
    """A pairs split not read yet: `resized` reads it at the size the model asks for, so that a
    256-px dataset for a 64-px model is never held at 256 px."""

    root: str
    split: str
    kind: ClassVar[str] = "pairs"

    def __len__(self) -> int:
        return len(images_in(split_folder(Path(self.root).expanduser(), self.split, SPLIT_FOLDERS)))

    def resized(self, size: int | None = None, channels: int | None = None) -> PairedDataset:
        return load_pairs(self.root, self.split, size, channels)


@register_data("pairs")
def pairs(location: str | None, split: str) -> PairFiles:
    """pix2pix-style aligned pairs: ``pairs:<root>`` with <root>/{train,val,test}/ A|B images."""
    if not location:
        raise GankitError("pairs: needs a path (pairs:/path/to/dataset with train/ and test/)")
    return PairFiles(location, split)
