"""The in-memory image dataset every loader returns, and the data-spec registry.

A data spec is ``kind[:location]`` (``fashion-mnist``, ``mnist:/data/mnist``, ``folder:/photos``).
Every loader returns an `ImageDataset`: one uint8 tensor of images (N, C, H, W) and optional int64
labels, so that batches are made by tensor indexing with no per-item Python work.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from gankit.data.transforms import resize_images, to_float
from gankit.errors import GankitError
from gankit.registry import Registry


class ImageTensor:
    """`channels` and `image_size` of a dataset holding `images` (N, C, H, W)."""

    images: Tensor

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    @property
    def image_size(self) -> int:
        return self.images.shape[-1]


@dataclass
class ImageDataset(ImageTensor, torch.utils.data.Dataset):
    """Images as one uint8 tensor (N, C, H, W) with optional int64 labels (N,)."""

    images: Tensor
    labels: Tensor | None = None
    class_names: list[str] = field(default_factory=list)
    source: str = ""

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError("images must be a uint8 tensor (N, C, H, W)")
        if self.labels is not None and len(self.labels) != len(self.images):
            raise ValueError("labels and images differ in length")

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        return self.batch(torch.tensor([index]))

    def batch(self, index: Tensor) -> dict[str, Tensor]:
        """The batch at `index` (int64 (B,)): "image" float in [-1, 1] (B, C, H, W), "label"."""
        out = {"image": to_float(self.images[index])}
        if self.labels is not None:
            out["label"] = self.labels[index]
        return out

    @property
    def num_classes(self) -> int:
        """The number of classes (0 for unlabelled data)."""
        if self.labels is None:
            return 0
        return max(len(self.class_names), int(self.labels.max()) + 1 if len(self.labels) else 0)

    def resized(self, size: int | None = None, channels: int | None = None) -> ImageDataset:
        """A copy at `size` x `size` with `channels` channels (1 <-> 3 converted), done once."""
        images = resized_images(self.images, size, channels, self.source)
        return ImageDataset(images, self.labels, self.class_names, self.source)


def resized_images(
    images: Tensor, size: int | None, channels: int | None, source: str = ""
) -> Tensor:
    """uint8 images (N, C, H, W) at `size` x `size` with `channels` channels (None: as they are)."""
    if channels is not None and channels != images.shape[1]:
        images = convert_channels(images, channels, source)
    if size is not None and (images.shape[-1] != size or images.shape[-2] != size):
        images = resize_images(images, size)
    return images


def convert_channels(images: Tensor, channels: int, source: str = "") -> Tensor:
    """Grey (1 channel) to RGB by repetition, RGB to grey by ITU-R 601 luma."""
    have = images.shape[1]
    if have == 1 and channels == 3:
        return images.expand(-1, 3, -1, -1).contiguous()
    if have == 3 and channels == 1:
        weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        return (images.float() * weights).sum(1, keepdim=True).round().clamp(0, 255).byte()
    raise GankitError(f"{source or 'data'}: cannot convert {have} channels to {channels}")


Loader = Callable[[str | None, str], ImageDataset]
DATASETS: Registry[Loader] = Registry("data kind")
LOADER_OPTIONS: dict[str, tuple[str, ...]] = {}  # kind -> keyword options its loader takes


def register_data(kind: str, options: tuple[str, ...] = ()) -> Callable[[Loader], Loader]:
    """Register a loader ``(location | None, split) -> ImageDataset`` for the spec ``kind:``.

    `options` names the keyword options the loader also takes (``data.<option>`` in a run's
    config, e.g. quickdraw's ``categories``); "image_size" among them means the loader makes its
    images at the model's size itself (`load_data` passes it).
    """

    def decorate(loader: Loader) -> Loader:
        DATASETS.add(kind, loader)  # refuses a duplicate kind before its options are recorded
        LOADER_OPTIONS[kind] = tuple(options)
        return loader

    return decorate


def parse_spec(spec: str) -> tuple[str, str | None, str]:
    """Split ``kind[:location][@split]``... as ``kind``, ``location`` and the split (train default).

    The split may also be given as the last ``:`` part for the known names, e.g.
    ``fashion-mnist:test``.
    """
    kind, _, location = spec.partition(":")
    split = "train"
    if location in ("train", "test"):
        split, location = location, ""
    elif location.rsplit(":", 1)[-1] in ("train", "test") and ":" in location:
        location, split = location.rsplit(":", 1)
    return kind.strip().lower(), (location or None), split


def load_data(
    spec: str,
    split: str | None = None,
    *,
    image_size: int | None = None,
    channels: int | None = None,
    options: dict[str, Any] | None = None,
) -> ImageDataset:
    """Load the dataset named by `spec` (see `parse_spec`), resized to the model's size once.

    `options` are keyword options for loaders that declare them (`register_data`); an option the
    loader does not take is refused.
    """
    kind, location, spec_split = parse_spec(spec)
    loader = DATASETS.get(kind)
    accepted, options = LOADER_OPTIONS.get(kind, ()), dict(options or {})
    refused = sorted(set(options) - set(accepted) - {"image_size"})
    if refused:
        takes = ", ".join(f"data.{name}" for name in accepted if name != "image_size") or "none"
        raise GankitError(f"{spec}: {kind} data takes no data.{refused[0]} (its options: {takes})")
    options.pop("image_size", None)
    if "image_size" in accepted and image_size:
        options["image_size"] = image_size
    dataset = loader(location, split or spec_split, **options)
    if len(dataset) == 0:
        raise GankitError(f"{spec}: the dataset is empty")
    return dataset.resized(image_size, channels)
