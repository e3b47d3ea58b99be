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


def open_image(path: Path, mode: str = "RGB", background: int = 255) -> Image.Image:
    """Open `path` as "RGB" or "L": EXIF-rotated, 16-bit scaled, alpha over `background`."""
    try:
        with Image.open(path) as opened:
            opened.load()
            image = ImageOps.exif_transpose(opened)
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
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
    if not root.is_dir():
        raise GankitError(f"{root}: not a folder")
    files = list_images(root)
    if not files:
        raise GankitError(
            f"{root}: no images found (looked for {', '.join(sorted(IMAGE_EXTENSIONS))})"
        )
    classes = sorted(
        {f.relative_to(root).parts[0] for f in files if len(f.relative_to(root).parts) > 1}
    )
    grey = all(_is_grey(f) for f in files[:64])
    mode = "L" if grey else "RGB"
    arrays = [np.asarray(square(open_image(f, mode), size)) for f in files]
    images = torch.from_numpy(np.stack(arrays))
    images = images.unsqueeze(1) if grey else images.permute(0, 3, 1, 2).contiguous()
    labels = None
    if classes:
        index = {name: i for i, name in enumerate(classes)}
        labels = torch.tensor([index.get(f.relative_to(root).parts[0], 0) for f in files])
    return ImageDataset(images, labels, classes, source=str(root))


def _is_grey(path: Path) -> bool:
    try:
        with Image.open(path) as image:
            return image.mode in ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L")
    except (UnidentifiedImageError, OSError):
        return False  # reported properly when the image is loaded
