"""Tools over a trained StyleGAN: interpolation strips (and GIFs), style-mixing grids.

Seed s stands for the latent z ~ N(0, I) drawn from a torch.Generator seeded with s, so the same
seed gives the same image in every tool. Style mixing follows Fig. 3 of Karras, Laine & Aila 2019
("A Style-Based Generator Architecture for GANs"): the images of the column seeds (source A, top
row) take the coarse, middle or fine styles of the row seeds (source B, left column).
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import torch
from PIL import Image
from torch import Tensor

from gankit.data.transforms import to_uint8
from gankit.errors import GankitError
from gankit.models import GANModel
from gankit.models.base import noise
from gankit.nn.stylegan import mix_styles

SPACES = ("w", "z")
NOISE = ("const", "random")


def parse_seeds(text: str, flag: str) -> list[int]:
    """'1,2,3' -> [1, 2, 3]; a clear error naming `flag` otherwise."""
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise GankitError(f"{flag} {text!r}: expected integers like 1,2,3") from None
    if not seeds or min(seeds) < 0:
        raise GankitError(f"{flag} {text!r}: expected non-negative integers like 1,2,3")
    return seeds


def check_style_model(model: GANModel) -> None:
    """Refuse models without a mapping network (only StyleGAN has styles to mix)."""
    if not hasattr(model, "synthesize") or not hasattr(model.generator, "mapping"):
        raise GankitError(
            f"{getattr(model, 'run_config', None) and model.run_config.name or 'this model'}: "
            "not a style-based model (interpolate and mix need a stylegan run)"
        )


def latents(model: GANModel, seeds: list[int]) -> Tensor:
    """z (len(seeds), z_dim), one per seed, on the model's device."""
    device = next(model.generator.parameters()).device
    return torch.cat([noise(1, model.config.z_dim, seed, device) for seed in seeds])


def conditions(model: GANModel, seeds: list[int]) -> Tensor | None:
    """The class vectors of each seed's cluster (a cluster-conditioned model), else None."""
    device = next(model.generator.parameters()).device
    drawn = [model.seed_condition(1, seed, device) for seed in seeds]
    return None if drawn[0] is None else torch.cat(drawn)


def slerp(a: Tensor, b: Tensor, t: float) -> Tensor:
    """Spherical interpolation between rows of a and b (Shoemake 1985), as for z in the paper's
    perceptual path length (Karras et al. 2019, Sec. 4.1); nearly parallel rows: linear."""
    unit_a, unit_b = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    omega = torch.acos((unit_a * unit_b).sum(-1, keepdim=True).clamp(-1, 1))
    sin = torch.sin(omega)
    safe = sin.abs() > 1e-6
    weight_a = torch.where(safe, torch.sin((1 - t) * omega) / sin, torch.full_like(sin, 1 - t))
    weight_b = torch.where(safe, torch.sin(t * omega) / sin, torch.full_like(sin, t))
    return weight_a * a + weight_b * b


def shared_noise(model: GANModel, n: int, mode: str, seed: int) -> list[Tensor]:
    """One noise image per layer, the same for all n images (so only the styles change)."""
    if mode not in NOISE:
        raise GankitError(f"--noise must be one of {', '.join(NOISE)}, got {mode!r}")
    device = next(model.generator.parameters()).device
    synthesis = model.generator.synthesis
    return [image.expand(n, -1, -1, -1) for image in synthesis.noise_images(1, mode, seed, device)]


@torch.no_grad()
def interpolate(
    model: GANModel, seeds: list[int], steps: int, space: str = "w", noise_mode: str = "const"
) -> Tensor:
    """Frames (F, C, H, W) in [-1, 1] from each seed to the next, `steps` per segment plus the
    last seed: linear in W (after truncation), spherical in Z."""
    check_style_model(model)
    if len(seeds) < 2:
        raise GankitError(f"--seeds: interpolation needs at least 2 seeds, got {len(seeds)}")
    if steps < 1:
        raise GankitError(f"--steps must be positive, got {steps}")
    if space not in SPACES:
        raise GankitError(f"--space must be w or z, got {space!r}")
    z, condition = latents(model, seeds), conditions(model, seeds)
    points = z if space == "z" else model.generator.mapping(z, model.truncation, condition)
    blend = slerp if space == "z" else torch.lerp

    def along(rows: Tensor, blend=blend) -> Tensor:
        """`steps` points from each row to the next, then the last row."""
        path = [
            blend(rows[i], rows[i + 1], k / steps)
            for i in range(len(rows) - 1)
            for k in range(steps)
        ]
        return torch.stack([*path, rows[-1]])

    path = along(points)
    if space == "z":  # the clusters' class vectors blend linearly beside z
        path_condition = None if condition is None else along(condition, torch.lerp)
        path = model.generator.mapping(path, model.truncation, path_condition)
    ws = path[:, None].expand(-1, model.generator.num_ws, -1)
    return model.synthesize(ws, noise_images=shared_noise(model, len(ws), noise_mode, seeds[0]))


def mixing_ranges(num_ws: int) -> list[tuple[str, int, int]]:
    """(name, start, stop) of the coarse (4-8 px: ws 0-3), middle (16-32 px) and fine (the rest)
    styles, the paper's split, fitted to small images (two ws per resolution; empty ones
    dropped): at 32 x 32, middle is 16 px and fine is 32 px."""
    middle_stop = max(4, min(8, num_ws - 2))
    ranges = [
        ("coarse", 0, min(4, num_ws)),
        ("middle", 4, middle_stop),
        ("fine", middle_stop, num_ws),
    ]
    return [(name, start, stop) for name, start, stop in ranges if stop > start]


@torch.no_grad()
def mix(
    model: GANModel, rows: list[int], cols: list[int], noise_mode: str = "const"
) -> tuple[Tensor, int]:
    """The style-mixing grid of Fig. 3: images (N, C, H, W) in [-1, 1] and the images per row.

    Top row: a blank cell, then the column seeds (source A). Then for each range (coarse, middle,
    fine), one row per row seed (source B): the B image, then each A with B's styles there."""
    check_style_model(model)
    generator, psi = model.generator, model.truncation
    ws_a = generator.styles(latents(model, cols), psi, conditions(model, cols))  # (A, num_ws, w)
    ws_b = generator.styles(latents(model, rows), psi, conditions(model, rows))
    cells = [torch.full_like(ws_a[:1], math.nan), ws_a]  # NaN marks the blank corner
    for _, start, stop in mixing_ranges(model.generator.num_ws):
        for b in range(len(rows)):
            mixed = mix_styles(ws_a, ws_b[b : b + 1].expand_as(ws_a), start, stop)
            cells += [ws_b[b : b + 1], mixed]
    ws = torch.cat(cells)
    blank = ws[:, 0, 0].isnan()
    noise_images = shared_noise(model, len(ws), noise_mode, 0)
    if noise_mode == "random":  # a noise image of its own for each cell
        noise_images = model.generator.synthesis.noise_images(len(ws), "random", 1, ws.device)
    images = model.synthesize(ws.nan_to_num(0.0), noise_images=noise_images)
    images[blank] = 1.0  # a white corner
    return images, 1 + len(cols)


def write_gif(frames: Tensor, path: str | Path, scale: int = 2, ms_per_frame: int = 120) -> Path:
    """An animated GIF of frames (F, C, H, W) in [-1, 1], back and forth, looping; atomic."""
    from gankit.report.grid import write_bytes_atomic

    pixels = to_uint8(frames).cpu()
    pixels = pixels.repeat_interleave(scale, 2).repeat_interleave(scale, 3)
    pictures = [
        Image.fromarray(p[0].numpy() if p.shape[0] == 1 else p.permute(1, 2, 0).numpy())
        for p in pixels
    ]
    pictures += pictures[-2:0:-1]  # then back to the start
    buffer = io.BytesIO()
    pictures[0].save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=pictures[1:],
        duration=ms_per_frame,
        loop=0,
    )
    return write_bytes_atomic(path, buffer.getvalue())
