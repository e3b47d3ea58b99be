"""Image folders: every image under a root, class subfolders as labels.

``folder:/root`` with ``/root/<class>/*.png`` gives labelled data (classes sorted by name);
images directly in ``/root`` (and no class folders) give unlabelled data. Grey, RGB, RGBA
(composited on white), palette and 16-bit images are converted; EXIF orientation is honoured;
every image is resized (short side) and centre-cropped to a square once, at load time.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from gankit.data.base import ImageDataset, register_data
from gankit.errors import GankitError

IMAGE_EXTENSIONS = {
    ".jpg",
    ".jpeg",
    ".png",
    ".bmp",
    ".ppm",
    ".pgm",
    ".tif",
    ".tiff",
    ".webp",
    ".gif",
}
LOAD_SIZE = 64  # folder images are held at this size unless the model asks for another


def natural_key(path: Path) -> list[object]:
    """Sort key that orders "img2" before "img10"."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", str(path))]


def list_images(root: Path) -> list[Path]:
    """Every image file under `root` (extensions matched case-insensitively), sorted naturally."""
    files = [p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
    return sorted(files, key=natural_key)


def images_in(root: Path) -> list[Path]:
    """`list_images(root)`, or a GankitError naming `root` when it is no folder or holds none."""
    if not root.is_dir():
        raise GankitError(f"{root}: not a folder")
    files = list_images(root)
    if not files:
        raise GankitError(
            f"{root}: no images found (looked for {', '.join(sorted(IMAGE_EXTENSIONS))})"
        )
    return files


def open_image(path: Path, mode: str = "RGB", background: int = 255) -> Image.Image:
    """Open `path` as "RGB" or "L": EXIF-rotated, 16-bit scaled, alpha over `background`."""
    try:
        with Image.open(path) as opened:
            opened.load()
            image = ImageOps.exif_transpose(opened)
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as error:
        # A truncated file fails here too ("image file is truncated"): load() decodes it all.
        raise GankitError(f"{path}: unreadable image ({error})") from None
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if array.max() > 255 else 255.0
        image = Image.fromarray((array / peak * 255).round().astype(np.uint8), "L")
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA"):
        # Transparent pixels become `background` (white by default): the documented rule.
        canvas = Image.new("RGBA", image.size, (background,) * 3 + (255,))
        image = Image.alpha_composite(canvas, image.convert("RGBA"))
    return image.convert(mode)


def square(image: Image.Image, size: int) -> Image.Image:
    """Resize the short side to `size` and centre-crop to size x size."""
    return ImageOps.fit(image, (size, size), Image.Resampling.BICUBIC)


@register_data("folder")
def image_folder(location: str | None, split: str, size: int = LOAD_SIZE) -> ImageDataset:
    """All images under `location`; labels from first-level subfolders when there are some."""
    if not location:
        raise GankitError("folder: needs a path (folder:/path/to/images)")
    root = Path(location).expanduser()
    files = images_in(root)
    classes = sorted(
        {f.relative_to(root).parts[0] for f in files if len(f.relative_to(root).parts) > 1}
    )
    images = read_images(files, image_mode(files), size)
    labels = None
    if classes:
        index = {name: i for i, name in enumerate(classes)}
        labels = torch.tensor([index.get(f.relative_to(root).parts[0], 0) for f in files])
    return ImageDataset(images, labels, classes, source=str(root))


def image_mode(files: list[Path]) -> str:
    """The mode a set of images is read in: "L" when the first 64 are all grey, else "RGB"."""
    return "L" if all(_is_grey(f) for f in files[:64]) else "RGB"


def to_tensor(arrays: list[np.ndarray]) -> torch.Tensor:
    """Equal-sized uint8 arrays (H, W) or (H, W, C) -> one uint8 tensor (N, C, H, W)."""
    images = torch.from_numpy(np.stack(arrays))
    return images.unsqueeze(1) if images.dim() == 3 else images.permute(0, 3, 1, 2).contiguous()


def read_images(files: list[Path], mode: str, size: int) -> torch.Tensor:
    """`files` read in `mode` ("L" or "RGB", see `open_image`), each resized (short side) and
    centre-cropped to size x size: uint8 (N, C, size, size)."""
    return to_tensor([np.asarray(square(open_image(f, mode), size)) for f in files])


def _is_grey(path: Path) -> bool:
    try:
        with Image.open(path) as image:
            return image.mode in ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L")
    except (UnidentifiedImageError, OSError):
        return False  # reported properly when the image is loaded
