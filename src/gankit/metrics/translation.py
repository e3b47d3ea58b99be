"""Scores of image-to-image runs: what `gankit eval <run>` reports for pix2pix and CycleGAN.

Both are scored on the held-out split of the run's data (``test/``, else ``val/``, of a pairs
dataset; ``testA/`` and ``testB/`` of an unpaired one), or of the data spec given as `ref`. Outputs
are quantised to uint8 first, as if written to disk. Intensities are taken in [0, 1].

Pairs (pix2pix): ``l1`` (mean absolute error), ``psnr`` (dB, the mean of per-image values, capped
at 100 dB for exact matches), ``ssim`` (Wang et al. 2004, mean) against the targets, and ``fid`` of
the outputs to the targets (gankit's feature network; needs more images than feature dimensions,
else skipped with a ``note``). The same four for the identity mapping (output = input) as
``identity_*``.

Unpaired (CycleGAN), for each direction d in a_to_b, b_to_a: ``d_fid`` of the translations to the
held-out images of the target domain, ``d_cycle_l1`` = mean |F(G(a)) - a| (resp. |G(F(b)) - b|),
and, when the data root has a ``gankit-task.json`` naming the two classes (gankit.data.tasks),
``d_target_share``: the share of translations gankit's Fashion-MNIST classifier assigns to the
target class. Baselines: ``identity_d_fid`` and ``identity_d_target_share`` (untranslated images),
``real_d_target_share`` (the classifier on real images of the target domain: the ceiling).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import Tensor, nn

from gankit.config import RunConfig
from gankit.data import load_data, parse_spec
from gankit.data.tasks import task_info
from gankit.data.transforms import to_float, to_uint8
from gankit.errors import GankitError
from gankit.metrics import distribution as dist
from gankit.metrics.evaluate import features_of
from gankit.metrics.features import load_classifier, load_feature_network
from gankit.metrics.image import psnr, ssim
from gankit.models import GANModel

PSNR_CAP = 100.0
GRID_EXAMPLES = 16


def held_out(model: GANModel, spec: str) -> Any:
    """The held-out split of the data spec `spec`, at the model's size and channels."""
    kind, location, _ = parse_spec(spec)
    return load_data(
        f"{kind}:{location}" if location else kind,
        "test",
        image_size=model.config.image_size,
        channels=model.config.channels,
    )


@torch.no_grad()
def translate_all(
    model: GANModel, images: Tensor, direction: str | None, network: nn.Module | None = None
) -> Tensor:
    """uint8 translations of uint8 images (N, C, S, S), in batches of 250."""
    chunks = [
        to_uint8(model.translate(to_float(part), direction=direction, generator=network).cpu())
        for part in images.split(250)
    ]
    return torch.cat(chunks)


def unit(images: Tensor) -> Tensor:
    """uint8 images as float64 intensities in [0, 1]."""
    return images.double() / 255


def fid(real: Tensor, fake: Tensor, net: nn.Module, prefix: str, notes: list[str]) -> dict:
    """{prefix + "fid": FID of uint8 `fake` to `real`}, or {} with a note when too few images."""
    try:
        return {
            f"{prefix}fid": dist.fid_from_features(features_of(real, net), features_of(fake, net))
        }
    except GankitError as error:
        notes.append(f"{prefix}fid skipped: {error}")
        return {}


def pair_scores(output: Tensor, target: Tensor, net: nn.Module, prefix: str, notes: list) -> dict:
    """L1, PSNR, SSIM and FID of uint8 outputs against uint8 targets, keys under `prefix`."""
    out, ref = unit(output), unit(target)
    scores = {
        f"{prefix}l1": float((out - ref).abs().mean()),
        f"{prefix}psnr": float(psnr(out, ref).clamp(max=PSNR_CAP).mean()),
        f"{prefix}ssim": float(ssim(out, ref).mean()),
    }
    return scores | fid(target, output, net, prefix, notes)


def evaluate_pairs(model: GANModel, data: Any, n: int, net: nn.Module, network: Any) -> dict:
    """pix2pix scores on held-out pairs, and the identity mapping's (module docstring)."""
    direction = model.config.direction
    source, target = (data.a, data.b) if direction == "AtoB" else (data.b, data.a)
    source, target = source[:n], target[:n]
    notes: list[str] = []
    output = translate_all(model, source, direction, network)
    results = pair_scores(output, target, net, "", notes)
    results |= pair_scores(source, target, net, "identity_", notes)
    return results | ({"note": "; ".join(notes)} if notes else {})


def class_index(info: dict, side: str, names: list[str]) -> int | None:
    """The classifier's index of domain `side`'s class in a task file, or None."""
    name = info.get(side)
    if name in names:
        return names.index(name)
    label = info.get(f"{side}_label")
    return label if isinstance(label, int) and 0 <= label < len(names) else None


def target_share(images: Tensor, label: int | None, classifier: nn.Module) -> float | None:
    """The share of uint8 `images` that `classifier` assigns to class `label`."""
    if label is None:
        return None
    with torch.no_grad():
        logits = torch.cat([classifier(to_float(part)) for part in images.split(500)])
    return float((logits.argmax(1) == label).float().mean())


def evaluate_unpaired(model: GANModel, data: Any, n: int, net: nn.Module, network: Any) -> dict:
    """CycleGAN scores in both directions, and their baselines (module docstring)."""
    classifier = load_classifier()
    info = task_info(Path(data.source))
    domains = {"a": data.a[:n], "b": data.b[:n]}
    results: dict[str, Any] = {}
    notes: list[str] = []
    for name, real, goal, forward, back in (
        ("a_to_b", "a", "b", "AtoB", "BtoA"),
        ("b_to_a", "b", "a", "BtoA", "AtoB"),
    ):
        fake = translate_all(model, domains[real], forward, network)
        cycled = translate_all(model, fake, back, network)
        results[f"{name}_cycle_l1"] = float((unit(cycled) - unit(domains[real])).abs().mean())
        results |= fid(domains[goal], fake, net, f"{name}_", notes)
        results |= fid(domains[goal], domains[real], net, f"identity_{name}_", notes)
        label = class_index(info, goal.upper(), list(classifier.class_names))
        for prefix, images in (("", fake), ("identity_", domains[real]), ("real_", domains[goal])):
            share = target_share(images, label, classifier)
            if share is not None:
                results[f"{prefix}{name}_target_share"] = share
    return results | ({"note": "; ".join(notes)} if notes else {})


EVALUATORS: dict[str, Callable[..., dict]] = {
    "pairs": evaluate_pairs,
    "unpaired": evaluate_unpaired,
}


def evaluate_model(
    model: GANModel,
    config: RunConfig,
    n: int = 10000,
    network: nn.Module | None = None,
    ref: str | None = None,
    feature_net: str = "fashion",
) -> dict[str, Any]:
    """Scores of an image-to-image model on held-out data (see the module docstring)."""
    spec = ref or config.data.spec
    data = held_out(model, spec)
    if getattr(data, "kind", "images") != model.data_kind:
        raise GankitError(f"{spec}: not {model.data_kind} data, which {config.name} is scored on")
    net = load_feature_network(feature_net)
    results = EVALUATORS[model.data_kind](model, data, n, net, network)
    counts = {"n": min(n, len(data.a))}
    if model.data_kind == "unpaired":
        counts = {"n_a": min(n, len(data.a)), "n_b": min(n, len(data.b))}
    return results | counts | {"ref": spec, "feature_net": feature_net}


def is_translation_run(source: object) -> bool:
    """Whether `source` is the folder of a run of an image-to-image model."""
    from gankit import config as config_io
    from gankit.models import MODELS, PRESETS

    if not isinstance(source, (str, Path)) or not (Path(source) / "config.toml").is_file():
        return False
    config = config_io.load(Path(source) / "config.toml")
    return MODELS.get(PRESETS.get(config.name).family).translates


def evaluate_run(
    run_dir: str | Path, n: int = 10000, ref: str | None = None, feature_net: str = "fashion"
) -> dict[str, Any]:
    """`evaluate_model` on the trained model of `run_dir`."""
    import gankit

    model = gankit.load(run_dir)
    return evaluate_model(model, model.run_config, n, ref=ref, feature_net=feature_net)


def comparison_grid(columns: list[Tensor], per_row: int = 4) -> Tensor:
    """One picture (H', W', C) uint8 of examples side by side: each cell holds one example's
    images from `columns` (e.g. input | output | target; uint8 (N, C, S, S) each) left to right,
    1 px of grey between them; cells are separated by 4 px of white."""
    from gankit.report.grid import make_grid

    grey = torch.full_like(columns[0][..., :1], 128)
    parts = [columns[0]]
    for column in columns[1:]:
        parts += [grey, column]
    strips = torch.cat(parts, dim=3)  # (N, C, S, k S + k - 1)
    return torch.from_numpy(make_grid(strips, nrow=per_row, padding=4, pad_value=255))


@torch.no_grad()
def example_columns(model: GANModel, data: Any, n: int = GRID_EXAMPLES) -> list[Tensor]:
    """pix2pix: input | output | target; CycleGAN: real | translated | translated back, the
    first n/2 examples of A then of B."""
    if model.data_kind == "pairs":
        direction = model.config.direction
        source, target = (data.a, data.b) if direction == "AtoB" else (data.b, data.a)
        return [source[:n], translate_all(model, source[:n], direction), target[:n]]
    half = n // 2
    real = torch.cat([data.a[:half], data.b[:half]])
    there = torch.cat(
        [translate_all(model, data.a[:half], "AtoB"), translate_all(model, data.b[:half], "BtoA")]
    )
    back = torch.cat(
        [translate_all(model, there[:half], "BtoA"), translate_all(model, there[half:], "AtoB")]
    )
    return [real, there, back]


def save_run_grid(run_dir: str | Path, path: str | Path, ref: str | None = None) -> Path:
    """Write the comparison grid of a run's held-out examples as a PNG (atomically), 2x upscaled."""
    import gankit
    from gankit.report.grid import write_bytes_atomic

    model = gankit.load(run_dir)
    grid = comparison_grid(
        example_columns(model, held_out(model, ref or model.run_config.data.spec))
    )
    array = grid.repeat_interleave(2, 0).repeat_interleave(2, 1).numpy()
    picture = Image.fromarray(array[..., 0] if array.shape[2] == 1 else array)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return write_bytes_atomic(path, buffer.getvalue())
