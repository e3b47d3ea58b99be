"""`gankit translate`: run a trained image-to-image model on image files, each at its own size.

    translate_files("runs/p2p", "photos/", "out/", direction=None)

writes one output per input image, under the same relative name (and so the same format), at the
input's size. The networks are fully convolutional, so an image is translated whole: its sides are
padded by reflection (replication when the image is smaller than the padding) to multiples of the
model's stride (2^depth for pix2pix's U-Net, 4 for CycleGAN's ResNet), and the output is cropped
back. Inputs are read as gankit.data.folders reads training images (grey or RGB as the model was
trained, RGBA composited on white, EXIF orientation applied). Every input is translated into a
staging folder first and moved into place at the end, so an unreadable input stops the command
before anything is written.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from gankit import config as config_io
from gankit.data.folders import images_in, open_image
from gankit.data.transforms import to_float, to_uint8
from gankit.errors import GankitError
from gankit.models import MODELS, PRESETS, GANModel
from gankit.train import runs

JPEG_QUALITY = 95


def pad_to_multiple(images: Tensor, stride: int) -> tuple[Tensor, tuple[int, int, int, int]]:
    """`images` (B, C, H, W) padded evenly on both sides to multiples of `stride`, and the
    (top, left, H, W) box that crops the original area back out."""
    height, width = images.shape[-2:]
    pad_h, pad_w = -height % stride, -width % stride
    top, left = pad_h // 2, pad_w // 2
    padding = (left, pad_w - left, top, pad_h - top)
    fits = max(padding[:2]) < width and max(padding[2:]) < height
    padded = F.pad(images, padding, mode="reflect" if fits else "replicate")
    return padded, (top, left, height, width)


@torch.no_grad()
def translate_tensor(model: GANModel, images: Tensor, direction: str | None = None) -> Tensor:
    """Translations (B, C, H, W) in [-1, 1] of images in [-1, 1] of any size (padded and
    cropped back, see `pad_to_multiple`)."""
    padded, (top, left, height, width) = pad_to_multiple(images, model.stride)
    output = model.translate(padded, direction=direction).cpu()
    return output[..., top : top + height, left : left + width]


def load_translator(run_dir: str | Path, device: str = "cpu") -> GANModel:
    """The image-to-image model of a run; a clear error for a run of a noise model."""
    import gankit

    run_dir = runs.check_run_dir(Path(run_dir))
    config = config_io.load(run_dir / "config.toml")
    if not MODELS.get(PRESETS.get(config.name).family).translates:
        raise GankitError(
            f"{run_dir}: a {config.name} run generates images from noise; translate needs an "
            f"image-to-image run (pix2pix, cyclegan, stargan)"
        )
    return gankit.load(run_dir, device=device)


def input_files(source: Path) -> tuple[Path, list[Path]]:
    """(root, files): one image file, or every image under a folder (names relative to root)."""
    if source.is_dir():
        return source, images_in(source)
    if not source.exists():
        raise GankitError(f"{source}: no such file or folder")
    return source.parent, [source]


def save_image(image: Tensor, path: Path) -> None:
    """Write a uint8 (C, H, W) image; the format follows the file name's extension."""
    array = image.permute(1, 2, 0).numpy()
    picture = Image.fromarray(array[..., 0] if array.shape[2] == 1 else np.ascontiguousarray(array))
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        picture.save(path, quality=JPEG_QUALITY)
    except (OSError, ValueError, KeyError) as error:
        raise GankitError(f"{path}: cannot write this image format ({error})") from None


def file_translator(
    model: GANModel, direction: str | None, **options: str | None
) -> Callable[[Path, Tensor], Tensor]:
    """How each input file (path, (1, C, H, W) in [-1, 1]) is translated: the model's own
    `file_translator` hook when it has one (StarGAN: `options` such as attrs, attr_file, checked
    before anything is read), else at the input's own size."""
    hook = getattr(model, "file_translator", None)
    if hook is not None:
        return hook(direction=direction, **options)
    name = model.run_config.name if hasattr(model, "run_config") else type(model).__name__
    refuse_options(name, options)
    return lambda path, images: translate_tensor(model, images, direction)


def refuse_options(name: str, options: dict[str, str | None]) -> None:
    """One line naming the first attribute option (`--attrs`, ...) given to a `name` run, which
    translates without attributes."""
    given = [key for key, value in options.items() if value]
    if given:
        flag = "--" + given[0].replace("_", "-")
        raise GankitError(f"{flag}: a {name} run translates without attributes (StarGAN does)")


def translate_files(
    run_dir: str | Path,
    source: str | Path,
    out: str | Path,
    direction: str | None = None,
    device: str = "cpu",
    **options: str | None,
) -> list[Path]:
    """Translate the image `source` (or every image under the folder `source`) with the model of
    `run_dir` into the folder `out`, same relative names, each at its input's size (StarGAN: at
    the model's size, with `options` attrs and attr_file, see gankit.models.stargan)."""
    model = load_translator(run_dir, device)
    translate_one = file_translator(model, direction, **options)
    root, files = input_files(Path(source).expanduser())
    out = Path(out).expanduser()
    if out.exists() and not out.is_dir():
        raise GankitError(f"{out}: exists and is not a folder")
    mode = "L" if model.config.channels == 1 else "RGB"
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        for path in files:
            pixels = torch.from_numpy(np.array(open_image(path, mode), dtype=np.uint8))
            pixels = pixels.view(*pixels.shape[:2], -1).permute(2, 0, 1)[None]  # (1, C, H, W)
            output = translate_one(path, to_float(pixels))
            save_image(to_uint8(output[0]), staging / path.relative_to(root))
        publish(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [out / path.relative_to(root) for path in files]


def publish(staging: Path, out: Path) -> None:
    """Move every file of `staging` into `out` (renaming the whole folder when `out` is new)."""
    if not out.exists():
        os.replace(staging, out)
        return
    for path in sorted(p for p in staging.rglob("*") if p.is_file()):
        target = out / path.relative_to(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)


def translate_grid(
    run_dir: str | Path, source: str | Path, grid: str | Path, device: str = "cpu", **options: str
) -> tuple[Path, list[str]]:
    """The paper's attribute figure (StarGAN's `grid_columns` hook): one row per input image of
    `source`, the input then one column per attribute changed alone; a PNG written atomically.
    Returns its path and the column names."""
    from gankit.metrics.translation import comparison_grid
    from gankit.report.grid import write_bytes_atomic

    model = load_translator(run_dir, device)
    hook = getattr(model, "grid_columns", None)
    if hook is None:
        raise GankitError(f"--grid: a {model.run_config.name} run has no attribute grid (stargan)")
    _, files = input_files(Path(source).expanduser())
    columns, names = hook(files, **options)
    picture = comparison_grid([to_uint8(column) for column in columns], per_row=1)
    array = picture.repeat_interleave(2, 0).repeat_interleave(2, 1).numpy()
    image = Image.fromarray(array[..., 0] if array.shape[2] == 1 else array)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return write_bytes_atomic(Path(grid).expanduser(), buffer.getvalue()), names
