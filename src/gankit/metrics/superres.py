"""Scores of super-resolution runs: what `gankit eval <run>` reports for srresnet and srgan.

On the held-out split of the run's data (or the ``superres:`` spec given as `ref`), each LR image is
upscaled whole (tiled when large, gankit.upscale) and quantised to uint8, as if written to disk.
Next to the model, the bicubic baseline (Pillow's bicubic up-sampling of the same LR image).

- ``psnr``, ``ssim`` (and ``bicubic_psnr``, ``bicubic_ssim``): on the luma Y of ITU-R BT.601
  (MATLAB's rgb2ycbcr; the channel itself for grey images) with ``scale`` pixels cropped from every
  border, the convention of the SR papers (Ledig et al. 2017, Sec. 3.1, after Dong et al.);
  intensities in [0, 1], the mean of per-image values, PSNR capped at 100 dB.
- ``fid`` (and ``bicubic_fid``): FID of the outputs to the real HR images with gankit's offline
  feature network (it sees every image resized to 28 x 28 grey, so it scores the coarse look of an
  image, not fine texture); needs more images than its 256 feature dimensions, else a ``note``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

from gankit.data import load_data, parse_spec
from gankit.data.transforms import to_float, to_uint8
from gankit.errors import GankitError
from gankit.metrics.features import load_feature_network
from gankit.metrics.image import psnr, rgb_to_y, ssim
from gankit.metrics.translation import PSNR_CAP, fid
from gankit.models import GANModel

GRID_EXAMPLES = 8


def is_sr_run(source: object) -> bool:
    """Whether `source` is the folder of an srresnet/srgan run."""
    from gankit import config as config_io
    from gankit.models import PRESETS

    if not isinstance(source, (str, Path)) or not (Path(source) / "config.toml").is_file():
        return False
    config = config_io.load(Path(source) / "config.toml")
    return PRESETS.get(config.name).family == "srgan"


def held_out_sr(model: GANModel, spec: str) -> Any:
    """The held-out split of the ``superres:`` spec, paired at the model's scale and channels."""
    kind, location, _ = parse_spec(spec)
    if kind != "superres":
        raise GankitError(f"{spec}: not superres data, which super-resolution runs are scored on")
    data = load_data(f"{kind}:{location}", "test", channels=model.config.channels)
    data.crop = model.config.scale  # whole images are scored: any size is fine
    data.use_scale(model.config.scale)
    return data


def bicubic_up(low: Tensor, scale: int) -> Tensor:
    """uint8 (C, h, w) -> (C, s h, s w) by Pillow's bicubic."""
    channels, height, width = low.shape
    array = low.permute(1, 2, 0).numpy()
    picture = Image.fromarray(array[..., 0] if channels == 1 else array)
    big = picture.resize((width * scale, height * scale), Image.Resampling.BICUBIC)
    return torch.from_numpy(np.array(big).reshape(height * scale, width * scale, channels)).permute(
        2, 0, 1
    )


def luma(image: Tensor, border: int) -> Tensor:
    """uint8 (C, H, W) -> float64 (1, 1, H - 2b, W - 2b) in [0, 1]: Y, `border` pixels cropped."""
    unit = image.double()[None] / 255
    y = rgb_to_y(unit) if unit.shape[1] == 3 else unit
    return y[..., border : y.shape[-2] - border, border : y.shape[-1] - border]


def upscaled(model: GANModel, data: Any, n: int, network: nn.Module | None = None) -> list[Tensor]:
    """uint8 outputs (C, sH, sW) of the first `n` LR images, batched where sizes agree;
    `network` overrides the model's generator (the EMA, during training)."""
    from gankit.upscale import upscale_tensor

    outputs: list[Tensor] = []
    lows = data.lr[:n]
    same = all(low.shape == lows[0].shape for low in lows)
    for part in torch.stack(lows).split(100) if same else [low[None] for low in lows]:
        outputs += list(to_uint8(upscale_tensor(model, to_float(part), generator=network)))
    return outputs


def quality(outputs: list[Tensor], targets: list[Tensor], scale: int, prefix: str) -> dict:
    """Mean PSNR and SSIM on Y with a border of `scale` pixels cropped."""
    psnrs, ssims = [], []
    for output, target in zip(outputs, targets, strict=True):
        a, b = luma(output, scale), luma(target, scale)
        psnrs.append(float(psnr(a, b).clamp(max=PSNR_CAP)))
        ssims.append(float(ssim(a, b)))
    return {f"{prefix}psnr": float(np.mean(psnrs)), f"{prefix}ssim": float(np.mean(ssims))}


def stacked(images: list[Tensor]) -> Tensor | list[Tensor]:
    return torch.stack(images) if all(i.shape == images[0].shape for i in images) else images


def fid_of(
    targets: list[Tensor], outputs: list[Tensor], net: Any, prefix: str, notes: list
) -> dict:
    """FID of outputs to targets (one image at a time when sizes differ)."""
    real, fake = stacked(targets), stacked(outputs)
    if isinstance(real, list) or isinstance(fake, list):
        real, fake = [t[None] for t in targets], [o[None] for o in outputs]
    return fid(real, fake, net, prefix, notes)


def evaluate_sr(
    model: GANModel,
    n: int = 10000,
    ref: str | None = None,
    feature_net: str = "fashion",
    network: nn.Module | None = None,
) -> dict[str, Any]:
    """The scores of the module docstring for the model of an srresnet/srgan run (`network`:
    another generator to score, e.g. during training, gankit.train.runs.evaluate_generator)."""
    spec = ref or model.run_config.data.spec
    data = held_out_sr(model, spec)
    scale, count = model.config.scale, min(n, len(data))
    targets = data.hr[:count]
    outputs = upscaled(model, data, count, network)
    bicubic = [bicubic_up(low, scale) for low in data.lr[:count]]
    net = load_feature_network(feature_net)
    notes: list[str] = []
    results = quality(outputs, targets, scale, "") | quality(bicubic, targets, scale, "bicubic_")
    results |= fid_of(targets, outputs, net, "", notes)
    results |= fid_of(targets, bicubic, net, "bicubic_", notes)
    results |= {"n": count, "ref": spec, "feature_net": feature_net, "scale": scale}
    results["y_channel"] = f"Y (BT.601), {scale}-px border cropped"
    return results | ({"note": "; ".join(notes)} if notes else {})


def evaluate_run(
    run_dir: str | Path, n: int = 10000, ref: str | None = None, feature_net: str = "fashion"
) -> dict[str, Any]:
    """`evaluate_sr` on the trained model of `run_dir`."""
    import gankit

    return evaluate_sr(gankit.load(run_dir), n, ref, feature_net)


def save_sr_grid(
    run_dirs: list[str | Path], path: str | Path, ref: str | None = None, n: int = GRID_EXAMPLES
) -> Path:
    """A PNG (atomic, 2x nearest) of held-out examples: LR (nearest) | bicubic | each run's
    output | HR, one example per row; the data of the first run (or `ref`)."""
    import io

    import gankit
    from gankit.metrics.translation import comparison_grid
    from gankit.report.grid import write_bytes_atomic

    models = [gankit.load(run_dir) for run_dir in run_dirs]
    data = held_out_sr(models[0], ref or models[0].run_config.data.spec)
    count, scale = min(n, len(data)), models[0].config.scale
    if any(model.config.scale != scale for model in models):
        raise GankitError("--grid: the runs differ in scale")
    lows, highs = data.lr[:count], data.hr[:count]
    if any(low.shape != lows[0].shape for low in lows):
        raise GankitError(f"{data.source}: the grid needs held-out images of one size")
    nearest = torch.stack(lows).repeat_interleave(scale, 2).repeat_interleave(scale, 3)
    columns = [nearest, torch.stack([bicubic_up(low, scale) for low in lows])]
    columns += [torch.stack(upscaled(model, data, count)) for model in models]
    grid = comparison_grid([*columns, torch.stack(highs)], per_row=1)
    array = grid.repeat_interleave(2, 0).repeat_interleave(2, 1).numpy()
    picture = Image.fromarray(array[..., 0] if array.shape[2] == 1 else array)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return write_bytes_atomic(Path(path).expanduser(), buffer.getvalue())
