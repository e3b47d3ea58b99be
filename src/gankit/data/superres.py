"""Super-resolution data: high-resolution images and their low-resolution partners.

``superres:<root>`` reads the DIV2K layout (Agustsson & Timofte 2017)::

    <root>/DIV2K_train_HR/0001.png              <root>/DIV2K_valid_HR/0801.png        (test split)
    <root>/DIV2K_train_LR_bicubic/X4/0001x4.png <root>/DIV2K_valid_LR_bicubic/X4/0801x4.png

The LR folder of the model's scale (``X2``, ``X4``, ``X8``) is optional: without it, LR images are
made by bicubic down-sampling of the HR images (Pillow, antialiased, as MATLAB's imresize that
made DIV2K's), once, when the scale is known. Any image folder works the same way: ``train/`` and
``test/`` (or ``val/``) under the root, or the root's own images for both splits. HR images are
mod-cropped (bottom and right) to multiples of the scale, the SR papers' convention; an LR file
must then be exactly HR / scale. Every HR file needs its LR partner and every LR file its HR one.

Training batches are random aligned crops, ``{"low_res": (B, C, s/r, s/r), "high_res":
(B, C, s, s)}`` in [-1, 1] (s = the crop, ``model.image_size``; r = the scale), with random
horizontal flips and 90-degree rotations, the same for both. Images are held in memory as uint8.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from gankit.data.base import convert_channels, register_data
from gankit.data.folders import image_mode, images_in, natural_key, open_image
from gankit.data.transforms import to_float
from gankit.errors import GankitError

PAPER_CROP = 96  # Ledig et al. 2017 train on 96 x 96 HR crops
HR_FOLDERS = {"train": ("DIV2K_train_HR", "train"), "test": ("DIV2K_valid_HR", "test", "val")}
LR_FOLDERS = {"train": "DIV2K_train_LR_bicubic", "test": "DIV2K_valid_LR_bicubic"}


def read_uint8(path: Path, mode: str) -> Tensor:
    """An image file as uint8 (C, H, W) in `mode` ("L" or "RGB")."""
    array = np.array(open_image(path, mode), dtype=np.uint8)
    return torch.from_numpy(array.reshape(*array.shape[:2], -1)).permute(2, 0, 1).contiguous()


def bicubic_down(image: Tensor, scale: int) -> Tensor:
    """uint8 (C, H, W) -> (C, H // scale, W // scale): Pillow's antialiased bicubic."""
    channels, height, width = image.shape
    array = image.permute(1, 2, 0).numpy()
    picture = Image.fromarray(array[..., 0] if channels == 1 else array)
    small = picture.resize((width // scale, height // scale), Image.Resampling.BICUBIC)
    return torch.from_numpy(
        np.array(small).reshape(height // scale, width // scale, channels)
    ).permute(2, 0, 1)


def mod_crop(image: Tensor, scale: int) -> Tensor:
    """(C, H, W) cropped at the bottom and right to multiples of `scale`."""
    height, width = image.shape[-2:]
    return image[..., : height - height % scale, : width - width % scale]


def lr_partners(hr_files: list[Path], folder: Path, scale: int) -> list[Path]:
    """The LR file of each HR file in `folder` (DIV2K names: 0001.png -> 0001x4.png); a
    GankitError for an HR file without one or an LR file without an HR partner."""
    by_stem = {path.stem: path for path in images_in(folder)}
    partners = []
    for hr in hr_files:
        name = f"{hr.stem}x{scale}"
        if name not in by_stem:
            raise GankitError(f"{hr}: no LR partner {name}.* in {folder}")
        partners.append(by_stem.pop(name))
    if by_stem:
        extra = sorted(by_stem.values(), key=natural_key)[0]
        raise GankitError(f"{extra}: an LR image with no HR partner (expected {extra.stem[:-2]}.*)")
    return partners


@dataclass
class SuperResData:
    """HR images (and LR partners once `use_scale` ran) of one split, in memory."""

    hr: list[Tensor]  # uint8 (C, H, W) each, sizes may differ
    files: list[Path]
    crop: int  # training crops: crop x crop HR pixels (the model's image_size)
    augment: bool
    source: str
    lr_folder: Path | None = None  # <root>/DIV2K_<split>_LR_bicubic, when the dataset has one
    scale: int = 0
    lr: list[Tensor] = field(default_factory=list)
    kind: ClassVar[str] = "superres"
    num_classes: ClassVar[int] = 0

    def __len__(self) -> int:
        return len(self.hr)

    @property
    def channels(self) -> int:
        return self.hr[0].shape[0]

    @property
    def image_size(self) -> int:
        return self.crop

    def resized(self, size: int | None = None, channels: int | None = None) -> SuperResData:
        """A copy with `size` x `size` training crops and `channels` channels (1 <-> 3)."""
        hr = self.hr
        if channels is not None and channels != self.channels:
            hr = [convert_channels(image[None], channels, self.source)[0] for image in hr]
        crop = size or self.crop
        return SuperResData(hr, self.files, crop, self.augment, self.source, self.lr_folder)

    def use_scale(self, scale: int) -> None:
        """Pair every HR image with its LR image at `scale` (read or bicubic-made), checked."""
        if self.crop % scale:
            raise GankitError(f"{self.source}: the crop {self.crop} is not a multiple of {scale}")
        folder = self.lr_folder / f"X{scale}" if self.lr_folder else None
        hr = [mod_crop(image, scale) for image in self.hr]
        for image, path in zip(hr, self.files, strict=True):
            if min(image.shape[-2:]) < self.crop:
                size = "x".join(map(str, image.shape[:0:-1]))
                raise GankitError(f"{path}: {size} is smaller than the {self.crop}-pixel crop")
        if folder is not None and folder.is_dir():
            mode = "L" if self.channels == 1 else "RGB"
            lr_files = lr_partners(self.files, folder, scale)
            lr = [read_uint8(path, mode) for path in lr_files]
            for low, high, path in zip(lr, hr, lr_files, strict=True):
                if [n * scale for n in low.shape[-2:]] != list(high.shape[-2:]):
                    raise GankitError(
                        f"{path}: {low.shape[2]}x{low.shape[1]} is not the HR image's "
                        f"{high.shape[2]}x{high.shape[1]} / {scale}"
                    )
        else:
            lr = [bicubic_down(image, scale) for image in hr]
        self.hr, self.lr, self.scale = hr, lr, scale

    def _check_scale(self) -> None:
        if not self.scale:
            raise RuntimeError("SuperResData.use_scale must run before batches are drawn")

    def crop_pair(self, index: int, top: int, left: int) -> tuple[Tensor, Tensor]:
        """(LR, HR) uint8 crops of image `index` at LR offset (top, left)."""
        size, scale = self.crop // self.scale, self.scale
        low = self.lr[index][:, top : top + size, left : left + size]
        high = self.hr[index][:, top * scale : (top + size) * scale, left * scale :]
        return low, high[..., : size * scale]

    def batch(self, index: Tensor) -> dict[str, Tensor]:
        """Random aligned crops (centre crops without `augment`) of the images at `index`."""
        self._check_scale()
        lows, highs = [], []
        for i in index.tolist():
            room_h = self.lr[i].shape[1] - self.crop // self.scale
            room_w = self.lr[i].shape[2] - self.crop // self.scale
            if self.augment:
                top, left = (int(torch.randint(0, r + 1, ())) for r in (room_h, room_w))
            else:
                top, left = room_h // 2, room_w // 2
            low, high = self.crop_pair(i, top, left)
            if self.augment:
                low, high = augment_pair(low, high)
            lows.append(low)
            highs.append(high)
        return {"low_res": to_float(torch.stack(lows)), "high_res": to_float(torch.stack(highs))}

    def fixed_batch(self, n: int) -> dict[str, Tensor]:
        """Centre crops of the first `n` images (previews)."""
        was, self.augment = self.augment, False
        try:
            return self.batch(torch.arange(min(n, len(self))))
        finally:
            self.augment = was


def augment_pair(low: Tensor, high: Tensor) -> tuple[Tensor, Tensor]:
    """The same random horizontal flip and 90-degree rotation of both crops (C, h, w)."""
    if torch.rand(()) < 0.5:
        low, high = low.flip(-1), high.flip(-1)
    turns = int(torch.randint(0, 4, ()))
    return low.rot90(turns, (1, 2)), high.rot90(turns, (1, 2))


def hr_folder(root: Path, split: str) -> Path:
    """The HR folder of `split` (DIV2K's, train/ or test/, else the root itself)."""
    if not root.is_dir():
        raise GankitError(f"{root}: not a folder")
    if split not in HR_FOLDERS:
        raise GankitError(f"{root}: unknown split {split!r}; known: train, test")
    for name in HR_FOLDERS[split]:
        if (root / name).is_dir():
            return root / name
    return root


def load_superres(root: str | Path, split: str = "train") -> SuperResData:
    """The `split` of an SR dataset at `root` (module docstring); crops default to the paper's 96
    (or the smallest image's side, rounded down to a multiple of 8, when smaller)."""
    root = Path(root).expanduser()
    folder = hr_folder(root, split)
    files = images_in(folder)
    lr_folder = root / LR_FOLDERS[split]
    files = [path for path in files if lr_folder not in path.parents]
    mode = image_mode(files)
    hr = [read_uint8(path, mode) for path in files]
    smallest = min(min(image.shape[-2:]) for image in hr)
    crop = PAPER_CROP if smallest >= PAPER_CROP else max(8, smallest - smallest % 8)
    lr = lr_folder if lr_folder.is_dir() else None
    return SuperResData(hr, files, crop, split == "train", str(folder), lr)


@register_data("superres")
def superres(location: str | None, split: str) -> SuperResData:
    """HR/LR image pairs for super-resolution: ``superres:<root>`` (DIV2K layout or a folder)."""
    if not location:
        raise GankitError("superres: needs a path (superres:/path/to/DIV2K or an image folder)")
    return load_superres(location, split)
