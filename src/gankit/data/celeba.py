"""Attribute-labelled images for StarGAN (Choi et al. 2018): CelebA, RaFD, and both at once.

``celeba:<root>`` reads CelebA as published: the images in ``<root>/images/`` (or
``<root>/img_align_celeba/``) and ``<root>/list_attr_celeba.txt``, whose line 1 is the image count,
line 2 the attribute names (space-separated; a trailing space is allowed) and every further line a
file name and one value of 1 or -1 per attribute, separated by one or more spaces. ``data.attrs``
(``--attrs``) selects attributes; the default is the paper's Black_Hair, Blond_Hair, Brown_Hair,
Male, Young (or, for a root that gankit wrote, the attributes its ``gankit-task.json`` names).
The split is the reference code's: the lines shuffled by Python's ``random`` seeded with 1234, the
first 1999 held out as test (its ``(i + 1) < 2000``); a small file holds out a tenth (at least one
image, and never its only one). Each image is centre-cropped to 178 x 178 (its short side when
smaller) and resized to the model's size (128 by default, never upscaled).

``rafd:<root>`` reads RaFD as an image folder with one subfolder per expression (read by
gankit.data.folders: the labels are the sorted subfolder names), one categorical label.
``attributes:<root>`` is either, by the root's layout.
``celeba+rafd:<celeba root>,<rafd root>`` is the joint dataset of Sec. 3.2: the label vector is
[CelebA attributes | RaFD one-hot | mask vector m (2 dims, one-hot: which dataset's labels are
known)]; the unknown part of each label is zero.

A batch is ``{"image": (B, C, S, S) in [-1, 1], "attrs": (B, K) floats of 0 and 1}``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from gankit.data.base import ImageTensor, register_data, resized_images
from gankit.data.folders import image_folder, image_mode, open_image, to_tensor
from gankit.data.tasks import task_info
from gankit.data.transforms import to_float
from gankit.errors import GankitError

ATTR_FILE = "list_attr_celeba.txt"
IMAGE_FOLDERS = ("images", "img_align_celeba")
PAPER_ATTRS = ["Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young"]
HAIR_COLOURS = ["Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair"]  # at most one is set
CROP = 178  # the reference code's CenterCrop(178) of the 178 x 218 aligned faces
DEFAULT_SIZE = 128
TEST_LIMIT = 2000  # the reference code holds out the lines with (i + 1) < 2000
SPLIT_SEED = 1234


@dataclass
class AttributeDataset(ImageTensor, torch.utils.data.Dataset):
    """Images (N, C, S, S) uint8 with label vectors (N, K) of 0/1 floats, held in memory.

    `blocks` describes the label vector: one (dataset name, size, single) per labelled dataset,
    in order; `single` blocks are one categorical label (one-hot), the others independent binary
    attributes. With several blocks the last len(blocks) dims are the mask vector.
    """

    images: Tensor
    attrs: Tensor
    names: list[str]
    blocks: list[tuple[str, int, bool]]
    exclusive: list[list[str]] = field(default_factory=list)
    source: str = ""
    kind: ClassVar[str] = "attributes"

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError("images must be a uint8 tensor (N, C, H, W)")
        if self.attrs.shape != (len(self.images), len(self.names)):
            raise ValueError("attrs must be (N, K) with one name per label dim")

    def __len__(self) -> int:
        return len(self.images)

    def batch(self, index: Tensor) -> dict[str, Tensor]:
        """Images at `index` as floats in [-1, 1] and their label vectors."""
        return {"image": to_float(self.images[index]), "attrs": self.attrs[index]}

    def fixed_batch(self, n: int) -> dict[str, Tensor]:
        """The first `n` examples (training previews)."""
        return self.batch(torch.arange(min(n, len(self))))

    @property
    def num_classes(self) -> int:
        """The length of the label vector (mask dims included): what the generator is given."""
        return len(self.names)

    def resized(self, size: int | None = None, channels: int | None = None) -> AttributeDataset:
        """A copy at size x size with `channels` channels (see ImageDataset.resized)."""
        images = resized_images(self.images, size, channels, self.source)
        return AttributeDataset(
            images, self.attrs, self.names, self.blocks, self.exclusive, self.source
        )


def parse_attr_file(path: Path) -> tuple[list[str], list[tuple[int, str, list[bool]]]]:
    """(attribute names, rows): each row its line number, file name and values (True for 1)."""
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise GankitError(f"{path}: cannot read ({error})") from None
    if len(lines) < 2 or not lines[0].strip().isdigit():
        raise GankitError(f"{path}, line 1: expected the image count, got {lines[:1]}")
    names = lines[1].split()
    if not names:
        raise GankitError(f"{path}, line 2: expected the attribute names")
    rows = []
    for number, line in enumerate(lines[2:], start=3):
        parts = line.split()
        if not parts:
            continue  # a blank line (e.g. at the end) holds no image
        if len(parts) != len(names) + 1:
            raise GankitError(
                f"{path}, line {number}: {len(parts) - 1} values, expected {len(names)}"
            )
        bad = [value for value in parts[1:] if value not in ("1", "-1")]
        if bad:
            raise GankitError(f"{path}, line {number}: value {bad[0]!r} is not 1 or -1")
        rows.append((number, parts[0], [value == "1" for value in parts[1:]]))
    if int(lines[0]) != len(rows):
        count = int(lines[0])
        raise GankitError(f"{path}, line 1: says {count} images, the file lists {len(rows)}")
    return names, rows


def select(names: list[str], wanted: list[str], path: Path) -> list[int]:
    """Column indices of the `wanted` attributes, or an error listing the file's attributes."""
    for name in wanted:
        if name not in names:
            raise GankitError(f"{path}: no attribute {name!r} (its attributes: {', '.join(names)})")
    if len(set(wanted)) != len(wanted):
        raise GankitError(f"--attrs {','.join(wanted)}: an attribute is named twice")
    return [names.index(name) for name in wanted]


def held_out_count(total: int) -> int:
    """Test images: the reference code's 1999, a tenth of a small file, never all of it."""
    if total < 2:
        return 0
    return min(TEST_LIMIT - 1, max(1, total // 10))


def split_rows(rows: list, split: str) -> list:
    """The rows of `split`, in the reference code's seeded shuffle order."""
    order = list(rows)
    random.Random(SPLIT_SEED).shuffle(order)  # the same permutation as random.seed(1234)
    cut = held_out_count(len(order))
    return order[:cut] if split == "test" else order[cut:]


def image_dir(root: Path) -> Path:
    """<root>/images or <root>/img_align_celeba."""
    for name in IMAGE_FOLDERS:
        if (root / name).is_dir():
            return root / name
    raise GankitError(f"{root}: no image folder ({' or '.join(IMAGE_FOLDERS)})")


def crop_resize(image: Image.Image, size: int | None) -> Image.Image:
    """Centre crop of 178 x 178 (the short side when smaller), resized to `size` (bilinear)."""
    width, height = image.size
    side = min(CROP, width, height)
    left, top = (width - side) // 2, (height - side) // 2
    image = image.crop((left, top, left + side, top + side))
    size = size or min(DEFAULT_SIZE, side)
    return image if side == size else image.resize((size, size), Image.Resampling.BILINEAR)


def read_image(path: Path, mode: str, size: int | None) -> np.ndarray:
    """One image as the CelebA loader holds it: uint8 (S, S) or (S, S, 3)."""
    return np.asarray(crop_resize(open_image(path, mode), size))


def default_attrs(root: Path) -> tuple[list[str], list[list[str]]]:
    """The attributes to select by default and the exclusive groups a gankit task declares."""
    info = task_info(root)
    return list(info.get("attrs") or PAPER_ATTRS), [list(g) for g in info.get("exclusive", [])]


def exclusive_groups(wanted: list[str], declared: list[list[str]]) -> list[list[str]]:
    """Groups of 2+ selected attributes of which at most one may be set (hair colours)."""
    groups = []
    for group in [HAIR_COLOURS, *declared]:
        chosen = [name for name in wanted if name in group]
        if len(chosen) > 1:
            groups.append(chosen)
    return groups


def load_celeba(
    location: str, split: str, attrs: list[str] | None = None, image_size: int | None = None
) -> AttributeDataset:
    """The `split` of a CelebA-layout root (module docstring), selected attributes as 0/1."""
    root = Path(location).expanduser()
    path = root / ATTR_FILE
    if not path.is_file():
        raise GankitError(f"{root}: no {ATTR_FILE}")
    names, rows = parse_attr_file(path)
    default, declared = default_attrs(root)
    wanted = list(attrs or default)
    columns = select(names, wanted, path)
    folder = image_dir(root)
    for number, name, _ in rows:  # every listed image, before any is read
        if not (folder / name).is_file():
            raise GankitError(f"{path}, line {number}: image {name} is missing from {folder}")
    chosen = split_rows(rows, split)
    if not chosen:
        raise GankitError(f"{path}: the {split} split is empty ({len(rows)} images listed)")
    files = [folder / name for _, name, _ in chosen]
    mode = image_mode(files)
    images = to_tensor([read_image(file, mode, image_size) for file in files])
    labels = torch.tensor([[values[c] for c in columns] for _, _, values in chosen]).float()
    blocks = [("celeba", len(wanted), False)]
    groups = exclusive_groups(wanted, declared)
    return AttributeDataset(images, labels, wanted, blocks, groups, str(root))


def load_rafd(location: str, split: str, image_size: int | None = None) -> AttributeDataset:
    """An expression folder (one subfolder per expression) as one categorical label."""
    data = image_folder(location, split, image_size or DEFAULT_SIZE)
    if data.labels is None or len(data.class_names) < 2:
        raise GankitError(f"{location}: needs one subfolder per expression (at least 2)")
    one_hot = torch.nn.functional.one_hot(data.labels, len(data.class_names)).float()
    blocks = [("rafd", len(data.class_names), True)]
    return AttributeDataset(data.images, one_hot, list(data.class_names), blocks, [], data.source)


def joint(first: AttributeDataset, second: AttributeDataset) -> AttributeDataset:
    """Both datasets with the mask vector (Sec. 3.2): labels [first | second | m]."""
    size = min(first.image_size, second.image_size)
    channels = max(first.channels, second.channels)
    first, second = first.resized(size, channels), second.resized(size, channels)
    k1, k2 = len(first.names), len(second.names)
    labels = torch.zeros(len(first) + len(second), k1 + k2 + 2)
    labels[: len(first), :k1] = first.attrs
    labels[len(first) :, k1 : k1 + k2] = second.attrs
    labels[: len(first), k1 + k2] = 1  # m: the first dataset's labels are known
    labels[len(first) :, k1 + k2 + 1] = 1
    (name1, _, single1), (name2, _, single2) = first.blocks[0], second.blocks[0]
    names = first.names + second.names + [f"mask:{name1}", f"mask:{name2}"]
    blocks = [(name1, k1, single1), (name2, k2, single2)]
    images = torch.cat([first.images, second.images])
    source = f"{first.source},{second.source}"
    return AttributeDataset(images, labels, names, blocks, first.exclusive, source)


@register_data("celeba", options=("attrs", "image_size"))
def celeba(
    location: str | None, split: str, attrs: list[str] | None = None, image_size: int | None = None
) -> AttributeDataset:
    """CelebA as published: ``celeba:<root>`` (module docstring)."""
    if not location:
        raise GankitError("celeba: needs a path (celeba:/path/with/list_attr_celeba.txt)")
    return load_celeba(location, split, attrs, image_size)


@register_data("rafd", options=("image_size",))
def rafd(location: str | None, split: str, image_size: int | None = None) -> AttributeDataset:
    """RaFD as an image folder, one subfolder per expression: ``rafd:<root>``."""
    if not location:
        raise GankitError("rafd: needs a path (rafd:/path/with/one/folder/per/expression)")
    return load_rafd(location, split, image_size)


@register_data("attributes", options=("attrs", "image_size"))
def attributes(
    location: str | None, split: str, attrs: list[str] | None = None, image_size: int | None = None
) -> AttributeDataset:
    """``celeba:`` when the root has list_attr_celeba.txt, else ``rafd:``."""
    if location and (Path(location).expanduser() / ATTR_FILE).is_file():
        return celeba(location, split, attrs, image_size)
    if attrs:
        raise GankitError(f"{location}: --attrs needs a {ATTR_FILE} (this is a class folder)")
    return rafd(location, split, image_size)


@register_data("celeba+rafd", options=("attrs", "image_size"))
def celeba_and_rafd(
    location: str | None, split: str, attrs: list[str] | None = None, image_size: int | None = None
) -> AttributeDataset:
    """Both at once with the mask vector: ``celeba+rafd:<celeba root>,<rafd root>``."""
    parts = (location or "").split(",")
    if len(parts) != 2 or not all(part.strip() for part in parts):
        raise GankitError("celeba+rafd: needs two paths (celeba+rafd:/path/celeba,/path/rafd)")
    first = load_celeba(parts[0].strip(), split, attrs, image_size)
    return joint(first, load_rafd(parts[1].strip(), split, image_size or first.image_size))
