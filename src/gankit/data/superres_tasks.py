"""Offline super-resolution tasks, written in the DIV2K layout that ``superres:`` reads.

    gankit data make fashion-sr /tmp/fashion-sr      # Fashion-MNIST 28 x 28 HR, 7 x 7 LR (x4)
    gankit data make natural-sr /tmp/natural-sr      # 128 x 128 RGB patches, 32 x 32 LR (x4)

fashion-sr: each Fashion-MNIST garment (28 x 28, unpadded) is an HR image; natural-sr: 128 x 128
patches (stride 32, flat patches with a standard deviation below 4 grey levels skipped) of the
photographs scikit-image ships (no download). Held out: astronaut, coffee and chelsea (whole
photographs, so that no test patch overlaps a training one). Training: the colour photographs
rocket, hubble_deep_field, immunohistochemistry, retina and stereo_motorcycle (left view), and the
grey photographs camera, brick, grass, gravel, coins and moon as RGB (R = G = B). The grey ones
and the motorcycle are there because the four others are mostly red, brown or black (mean RGB
134, 65, 53 against 162, 146, 137 for the test photographs): trained on those alone, a network
shifted the colours of the test photographs' grey and beige areas. Both write the LR images of
scale 4 (``DIV2K_*_LR_bicubic/X4``, Pillow's antialiased bicubic, what ``superres:`` would make
itself); other scales are made on the fly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from gankit.data.base import load_data
from gankit.data.superres import bicubic_down
from gankit.data.tasks import DEFAULT_COUNTS, TASKS, Task
from gankit.errors import GankitError

SCALE = 4
PATCH, STRIDE, FLAT_STD = 128, 32, 4.0
NATURAL = {
    "train": (
        *("rocket", "hubble_deep_field", "immunohistochemistry", "retina", "stereo_motorcycle"),
        *("camera", "brick", "grass", "gravel", "coins", "moon"),
    ),
    "test": ("astronaut", "coffee", "chelsea"),
}
SPLITS = {"train": "train", "test": "valid"}  # DIV2K's folder names


def write_split(root: Path, split: str, images: list[torch.Tensor]) -> None:
    """HR images (uint8 (C, H, W)) and their x4 LR images under DIV2K's names."""
    hr_dir = root / f"DIV2K_{SPLITS[split]}_HR"
    lr_dir = root / f"DIV2K_{SPLITS[split]}_LR_bicubic" / f"X{SCALE}"
    hr_dir.mkdir(parents=True)
    lr_dir.mkdir(parents=True)
    for index, image in enumerate(images, start=1):
        for picture, path in (
            (image, hr_dir / f"{index:05d}.png"),
            (bicubic_down(image, SCALE), lr_dir / f"{index:05d}x{SCALE}.png"),
        ):
            array = picture.permute(1, 2, 0).numpy()
            Image.fromarray(array[..., 0] if array.shape[2] == 1 else array).save(path)


def write_fashion_sr(root: Path, source: str, train: int, test: int) -> dict:
    """Fashion-MNIST garments as 28 x 28 HR images with 7 x 7 LR partners."""
    for split, count in (("train", train), ("test", test)):
        write_split(root, split, list(load_data(source, split).images[:count]))
    return {"scale": SCALE, "hr_size": 28}


def photograph(loaded: object) -> np.ndarray:
    """A scikit-image sample as uint8 (H, W, 3): RGB kept, alpha dropped, grey repeated; of a
    stereo pair (stereo_motorcycle), the left view."""
    array = np.asarray(loaded[0] if isinstance(loaded, tuple) else loaded)
    return np.repeat(array[..., None], 3, axis=2) if array.ndim == 2 else array[..., :3]


def natural_patches(names: tuple[str, ...], limit: int) -> list[torch.Tensor]:
    """Non-flat PATCH x PATCH patches (stride STRIDE) of scikit-image's sample photographs."""
    try:
        import skimage.data
    except ImportError:
        raise GankitError("natural-sr needs scikit-image: pip install 'gankit[sr]'") from None
    patches: list[torch.Tensor] = []
    for name in names:
        photo = photograph(getattr(skimage.data, name)())
        height, width = photo.shape[:2]
        for top in range(0, height - PATCH + 1, STRIDE):
            for left in range(0, width - PATCH + 1, STRIDE):
                patch = photo[top : top + PATCH, left : left + PATCH]
                if patch.std() >= FLAT_STD:
                    patches.append(torch.from_numpy(np.ascontiguousarray(patch)).permute(2, 0, 1))
    return patches[:limit]


def write_natural_sr(root: Path, source: str, train: int, test: int) -> dict:
    """128 x 128 RGB patches of scikit-image's photographs with 32 x 32 LR partners."""
    for split, count in (("train", train), ("test", test)):
        write_split(root, split, natural_patches(NATURAL[split], count))
    return {"scale": SCALE, "hr_size": PATCH, "photos": {k: list(v) for k, v in NATURAL.items()}}


DEFAULT_COUNTS["superres"] = (20000, 2000)
TASKS.add(
    "fashion-sr",
    Task("fashion-sr", "superres", "Fashion-MNIST 7x7 -> 28x28 (x4)", write_fashion_sr),
)
TASKS.add(
    "natural-sr",
    Task("natural-sr", "superres", "scikit-image photo patches 32 -> 128 (x4)", write_natural_sr),
)
