"""`gankit upscale`: run a trained super-resolution model (srresnet, srgan) on image files.

    upscale_files("runs/srgan", "photos/", "out/")

writes one output per input image, under the same relative name (so the same format), `scale`
times larger. Images of any size: a large image is cut into tiles of ``tile`` x ``tile`` LR
pixels, each run with ``overlap`` pixels of context on every side (cut away again; gankit.tiling,
shared with `gankit stylize`), so that memory stays bounded; with an overlap of at least the
network's receptive radius the tiles give the same result as the whole image (the paper-width
SRResNet's radius is about 40 LR pixels).

Colour: an RGB model upscales RGB images, and grey images as RGB (written back as grey); a grey
model upscales grey images, and the luma (Y of YCbCr) of RGB ones, whose chroma is upscaled
bicubically (the SR papers' convention for Y-only models). As `gankit translate`, every output is
written into a staging folder and moved into place at the end: nothing is half written.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from gankit import config as config_io
from gankit.data.folders import open_image
from gankit.data.transforms import to_float, to_uint8
from gankit.errors import GankitError
from gankit.models import PRESETS, GANModel
from gankit.tiling import apply_tiled
from gankit.train import runs
from gankit.translation import input_files, publish, save_image

TILE, OVERLAP = 128, 48


def load_upscaler(run_dir: str | Path, scale: int | None = None, device: str = "cpu") -> GANModel:
    """The model of an srresnet/srgan run; a GankitError for another run or another `scale`."""
    import gankit

    run_dir = runs.check_run_dir(Path(run_dir).expanduser())
    config = config_io.load(run_dir / "config.toml")
    if PRESETS.get(config.name).family != "srgan":
        raise GankitError(f"{run_dir}: a {config.name} run, not a super-resolution run (srgan)")
    if scale is not None and scale != config.model.scale:
        raise GankitError(f"--scale {scale}: {run_dir} was trained for x{config.model.scale} only")
    return gankit.load(run_dir, device=device)


def upscale_tensor(
    model: GANModel,
    images: Tensor,
    tile: int = TILE,
    overlap: int = OVERLAP,
    generator: torch.nn.Module | None = None,
) -> Tensor:
    """(B, C, H, W) in [-1, 1] -> (B, C, s H, s W) in [-1, 1], in tiles of tile x tile LR pixels
    with `overlap` pixels of context (gankit.tiling); `generator` overrides the model's network
    (e.g. the EMA, during training)."""
    return apply_tiled(
        lambda piece: model.translate(piece, generator=generator),
        images,
        tile,
        overlap,
        model.output_scale,
    )


def as_tensor(picture: Image.Image) -> Tensor:
    """A Pillow image as float (1, C, H, W) in [-1, 1]."""
    array = np.array(picture, dtype=np.uint8)
    return to_float(torch.from_numpy(array.reshape(*array.shape[:2], -1)).permute(2, 0, 1)[None])


def upscale_image(model: GANModel, path: Path, tile: int, overlap: int) -> Tensor:
    """The upscaled image of the file `path`: uint8 (C, sH, sW), in the input's colour mode."""
    grey_model = model.config.channels == 1
    picture = open_image(path, "RGB")  # a GankitError naming the file if it is unreadable
    with Image.open(path) as probe:
        grey_input = probe.mode in ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L")
    if grey_input:
        picture = open_image(path, "L")
    if grey_model and not grey_input:  # SR on the luma, bicubic on the chroma
        luma, blue, red = picture.convert("YCbCr").split()
        high = to_uint8(upscale_tensor(model, as_tensor(luma), tile, overlap)[0])
        size = (high.shape[2], high.shape[1])
        planes = [Image.fromarray(high[0].numpy())]
        planes += [plane.resize(size, Image.Resampling.BICUBIC) for plane in (blue, red)]
        merged = Image.merge("YCbCr", planes).convert("RGB")
        return torch.from_numpy(np.array(merged)).permute(2, 0, 1)
    if not grey_model:
        picture = picture.convert("RGB")
    high = to_uint8(upscale_tensor(model, as_tensor(picture), tile, overlap)[0])
    if grey_input and not grey_model:  # back to grey: ITU-R 601 luma
        weights = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)
        high = (high.float() * weights).sum(0, keepdim=True).round().clamp(0, 255).byte()
    return high


def upscale_files(
    run_dir: str | Path,
    source: str | Path,
    out: str | Path,
    scale: int | None = None,
    device: str = "cpu",
    tile: int = TILE,
    overlap: int = OVERLAP,
) -> list[Path]:
    """Upscale the image `source` (or every image under the folder `source`) with the model of
    `run_dir` into the folder `out`, same relative names; nothing is written if any input fails."""
    model = load_upscaler(run_dir, scale, device)
    root, files = input_files(Path(source).expanduser())
    out = Path(out).expanduser()
    if out.exists() and not out.is_dir():
        raise GankitError(f"{out}: exists and is not a folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        for path in files:
            save_image(upscale_image(model, path, tile, overlap), staging / path.relative_to(root))
        publish(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [out / path.relative_to(root) for path in files]
