"""`gankit eval`: score generated images against a reference dataset.

    evaluate("runs/dcgan", metrics=("fid", "kid", "is", "pr"), n=10000, ref="fashion-mnist:test")

The source is a run directory (sampled through `gankit.load`), a ``samples.npz`` in the
`gankit sample` format (``arr_0`` uint8 N x H x W x C, optional ``arr_1`` labels), an image folder,
a uint8 or [-1, 1] float tensor (N, C, H, W), or any object with ``sample(n, labels=, seed=)``.
Generated images are quantised to uint8 before embedding, as if saved to disk, so that a run and its
exported samples score the same. Reference statistics are cached (see `reference_statistics`).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from gankit.data import load_data, parse_spec
from gankit.data.transforms import to_float, to_uint8
from gankit.errors import GankitError
from gankit.metrics import distribution as dist
from gankit.metrics.features import FASHION_WEIGHTS, load_feature_network
from gankit.registry import Registry

if TYPE_CHECKING:
    from gankit.train.distributed import Shard

DEFAULT_METRICS = ("fid", "kid", "is", "pr")
DEFAULT_REF = "fashion-mnist:test"
REFERENCE_SEED = 0  # the reference subset never depends on the evaluation seed, so it caches


@dataclass
class Samples:
    """Images to score, as uint8 (B, C, H, W) chunks, with their labels (N,) when known."""

    chunks: Iterable[Tensor]
    labels: Tensor | None = None
    class_names: list[str] | None = None  # names of the label indices, when not the net's own


@torch.no_grad()
def embed(
    images: Tensor | Iterable[Tensor], net: nn.Module, batch_size: int = 500
) -> tuple[Tensor, Tensor]:
    """Features (N, D) and logits (N, K) of images: uint8 [0, 255] or float [-1, 1] (N, C, H, W),
    or an iterable of such chunks. Float32, in batches of `batch_size`."""
    chunks = images.split(batch_size) if isinstance(images, Tensor) else images
    features, logits = [], []
    for chunk in chunks:
        for part in chunk.split(batch_size):
            part = to_float(part) if part.dtype == torch.uint8 else part.float()
            part_features, part_logits = net.features_and_logits(part)
            features.append(part_features.float())
            logits.append(part_logits.float())
    if not features:
        raise GankitError("no images to evaluate")
    return torch.cat(features), torch.cat(logits)


def features_of(images: Tensor | Iterable[Tensor], net: nn.Module, batch_size: int = 500) -> Tensor:
    """Features (N, D) of uint8 or [-1, 1] images (N, C, H, W), batched under no_grad."""
    return embed(images, net, batch_size)[0]


def load_npz(path: Path, n: int) -> Samples:
    """The first `n` samples of a ``gankit sample`` npz file, validated."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "arr_0" not in archive:
                raise GankitError(f"{path}: no arr_0 (expected uint8 images N x H x W x C)")
            images = archive["arr_0"][:n]
            labels = archive["arr_1"][:n] if "arr_1" in archive else None
    except (OSError, ValueError) as error:
        raise GankitError(f"{path}: not a readable npz file ({error})") from None
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise GankitError(
            f"{path}: arr_0 must be uint8 N x H x W x C with C = 1 or 3; got "
            f"{images.dtype} with shape {images.shape}"
        )
    if labels is not None and (
        labels.shape != images.shape[:1] or not np.issubdtype(labels.dtype, np.integer)
    ):
        raise GankitError(
            f"{path}: arr_1 must be integer labels, one per image; got "
            f"{labels.dtype} with shape {labels.shape}"
        )
    tensor = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
    return Samples([tensor], None if labels is None else torch.from_numpy(labels.astype(np.int64)))


def sample_chunks(
    model: object, labels: Tensor | None, n: int, seed: int, batch_size: int
) -> Iterator[Tensor]:
    """`n` samples of a generator as uint8 chunks (seeded per chunk, quantised as if saved)."""
    for index, start in enumerate(range(0, n, batch_size)):
        count = min(batch_size, n - start)
        chunk_labels = None if labels is None else labels[start : start + count]
        with torch.no_grad():
            images = model.sample(count, labels=chunk_labels, seed=seed * 1_000_003 + index)
        yield to_uint8(images)


def model_samples(model: object, n: int, seed: int, batch_size: int) -> Samples:
    """Samples of a generator; a conditional one is asked for every class equally often."""
    num_classes = int(getattr(model, "num_classes", 0) or 0)
    labels = torch.arange(n) % num_classes if num_classes else None
    names = list(getattr(model, "class_names", None) or []) or None
    return Samples(sample_chunks(model, labels, n, seed, batch_size), labels, names)


def load_source(source: object, n: int, seed: int, batch_size: int) -> Samples:
    """The images to score, from any kind of source (see the module docstring)."""
    if isinstance(source, Tensor):
        images = source[:n]
        return Samples([images if images.dtype == torch.uint8 else to_uint8(images)])
    if hasattr(source, "sample"):
        return model_samples(source, n, seed, batch_size)
    path = Path(str(source)).expanduser()
    if path.is_file() and path.suffix == ".npz":
        return load_npz(path, n)
    if path.is_dir() and (path / "config.toml").is_file():
        import gankit  # lazily: gankit's top level imports the metrics

        return model_samples(gankit.load(path), n, seed, batch_size)
    if path.is_dir():
        data = load_data(f"folder:{path}")
        labels = None if data.labels is None else data.labels[:n]
        return Samples([data.images[:n]], labels, data.class_names or None)
    raise GankitError(f"{source}: not a run directory, a samples .npz file or an image folder")


def network_id(feature_net: str) -> str:
    """A string that changes whenever the feature network's weights may have changed."""
    weights = Path(feature_net) if feature_net.endswith(".safetensors") else None
    if feature_net == "fashion":
        weights = FASHION_WEIGHTS
    if weights is None or not weights.is_file():
        return feature_net
    stat = weights.stat()
    return f"{weights.resolve()}:{stat.st_size}:{int(stat.st_mtime)}"


def reference_path(ref: str, feature_net: str, n: int) -> Path:
    """Cache file of the reference statistics for (dataset spec, split, feature net, n)."""
    from gankit.data.idx import cache_dir

    kind, location, split = parse_spec(ref)
    key = json.dumps(
        [
            kind,
            location and str(Path(location).expanduser().resolve()),
            split,
            network_id(feature_net),
            n,
        ]
    )
    digest = hashlib.sha1(key.encode()).hexdigest()[:12]
    name = Path(feature_net).stem if feature_net.endswith(".safetensors") else feature_net
    return cache_dir() / "metrics" / f"{kind}-{split}-{name}-{n}-{digest}.safetensors"


def reference_statistics(
    ref: str, net: nn.Module, feature_net: str, n: int, batch_size: int = 500
) -> dict[str, Tensor]:
    """Features (float32) and their mean and covariance (float64) of up to `n` reference images.

    Cached as safetensors under gankit's cache dir, keyed by the dataset spec and split, the
    feature network (and its weights file's size and time) and n; the subset is seeded.
    """
    path = reference_path(ref, feature_net, n)
    if path.is_file():
        return load_file(str(path))
    data = load_data(ref)
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(REFERENCE_SEED))
    features = features_of(data.images[order[:n]], net, batch_size)
    stats = {"features": features}
    if len(features) > features.shape[1]:  # else no full-rank covariance: FID will say so
        mu, sigma = dist.feature_statistics(features)
        stats.update(mu=torch.from_numpy(mu), sigma=torch.from_numpy(sigma))
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".part")
    save_file(stats, str(temporary), metadata={"ref": ref, "feature_net": feature_net, "n": str(n)})
    temporary.replace(path)  # atomic: a concurrent evaluation never reads half a file
    return stats


@dataclass
class Context:
    """What a metric may use: reference statistics, fake features/logits, requested labels."""

    reference: dict[str, Tensor]
    features: Tensor
    logits: Tensor
    labels: Tensor | None
    net: nn.Module
    seed: int


Metric = Callable[[Context], dict[str, float]]
METRICS: Registry[Metric] = Registry("metric")


@METRICS.register("fid")
def _fid(ctx: Context) -> dict[str, float]:
    mu, sigma = dist.feature_statistics(ctx.features)
    if "mu" not in ctx.reference:
        reference = ctx.reference["features"]
        dist.check_enough_samples(len(reference), reference.shape[1], "FID's reference set")
    return {"fid": dist.frechet_distance(ctx.reference["mu"], ctx.reference["sigma"], mu, sigma)}


@METRICS.register("kid")
def _kid(ctx: Context) -> dict[str, float]:
    mean, std = dist.kernel_inception_distance(
        ctx.reference["features"], ctx.features, seed=ctx.seed
    )
    return {"kid": mean, "kid_std": std}


@METRICS.register("is")
def _inception_score(ctx: Context) -> dict[str, float]:
    mean, std = dist.inception_score(torch.softmax(ctx.logits.double(), 1))
    return {"is": mean, "is_std": std}


def equal_size(real: Tensor, fake: Tensor, seed: int) -> tuple[Tensor, Tensor]:
    """Seeded random subsets of equal size: k-NN radii shrink as a set grows, so manifold
    metrics compare sets of the same size."""
    count = min(len(real), len(fake))
    generator = torch.Generator().manual_seed(seed)
    real = real[torch.randperm(len(real), generator=generator)[:count]]
    return real, fake[torch.randperm(len(fake), generator=generator)[:count]]


@METRICS.register("pr")
def _precision_recall(ctx: Context) -> dict[str, float]:
    real, fake = equal_size(ctx.reference["features"], ctx.features, ctx.seed)
    precision, recall = dist.precision_recall(real, fake)
    return {"precision": precision, "recall": recall}


@METRICS.register("dc")
def _density_coverage(ctx: Context) -> dict[str, float]:
    real, fake = equal_size(ctx.reference["features"], ctx.features, ctx.seed)
    density, coverage = dist.density_coverage(real, fake)
    return {"density": density, "coverage": coverage}


def class_labels_for(net: nn.Module, samples: Samples) -> Tensor | None:
    """The samples' labels as indices of `net`'s classes, or None when they cannot be matched."""
    net_names = list(getattr(net, "class_names", []) or [])
    if samples.labels is None or not net_names:
        return None
    if samples.class_names is None:
        labels = samples.labels
        return labels if int(labels.max()) < len(net_names) and int(labels.min()) >= 0 else None
    mapping = []
    for name in samples.class_names:
        if name in net_names:
            mapping.append(net_names.index(name))
        elif name.isdigit() and int(name) < len(net_names):
            mapping.append(int(name))
        else:
            return None
    return torch.tensor(mapping)[samples.labels]


def evaluate(
    source: object,
    metrics: Iterable[str] = DEFAULT_METRICS,
    n: int = 10000,
    ref: str | None = None,
    feature_net: str = "fashion",
    seed: int = 0,
    batch_size: int = 500,
    shard: Shard | None = None,
) -> dict[str, float | int | str]:
    """Score `n` images from `source` against `ref`; the keys are described in the module docs.

    Returns fid, kid, kid_std, is, is_std, precision, recall (and density, coverage for "dc")
    for the requested metrics, plus
    class_accuracy (the feature classifier's accuracy on the requested labels) for conditional
    sources, and n, ref and feature_net. `ref` defaults to fashion-mnist:test.

    The run of an image-to-image model (pix2pix, CycleGAN) is scored on its held-out data instead
    (`ref` defaults to the run's own data): see gankit.metrics.translation for its keys, and
    gankit.metrics.attributes for StarGAN's.

    With a `shard` (distributed training), this process samples and embeds its share of the n
    images with a seed of its own, the features of every process are gathered, and process 0
    alone scores them (the others return {}).
    """
    from gankit.metrics import attributes, superres, translation  # lazily: they import this

    if superres.is_sr_run(source):  # srresnet, srgan: see gankit.metrics.superres
        return superres.evaluate_run(source, n, ref, feature_net)
    if attributes.is_attribute_run(source):  # StarGAN: see gankit.metrics.attributes
        return attributes.evaluate_run(source, n, ref, feature_net)
    if translation.is_translation_run(source):
        return translation.evaluate_run(source, n, ref, feature_net)
    ref = ref or DEFAULT_REF
    names = [name.strip().lower() for name in metrics if name.strip()]
    functions = [METRICS.get(name) for name in names]  # fails early on an unknown name
    net = load_feature_network(feature_net)
    local_n, local_seed = shard.local(n, seed) if shard is not None else (n, seed)
    samples = load_source(source, local_n, local_seed, batch_size)
    features, logits = embed(samples.chunks, net, batch_size)
    labels = class_labels_for(net, samples)
    if shard is not None:  # every process's features (and labels), in rank order
        features, logits = shard.gather(features), shard.gather(logits)
        labels = None if labels is None else shard.gather(labels)
        if shard.rank != 0:
            return {}
    reference = reference_statistics(ref, net, feature_net, n, batch_size) if names else {}
    ctx = Context(reference, features, logits, labels, net, seed)
    results: dict[str, float | int | str] = {}
    for function in functions:
        results.update(function(ctx))
    if labels is not None:
        results["class_accuracy"] = float((logits.argmax(1) == labels).float().mean())
    results.update({"n": len(features), "ref": ref, "feature_net": feature_net})
    return results


def format_table(results: dict[str, float | int | str]) -> str:
    """A two-column text table of `evaluate`'s results (std values shown as ±)."""
    rows = []
    for key, value in results.items():
        if key.endswith("_std"):
            continue
        if isinstance(value, float):
            text = f"{value:.4f}" if math.isfinite(value) and abs(value) < 1e4 else f"{value:.4g}"
            if f"{key}_std" in results:
                text += f" ± {results[f'{key}_std']:.4f}"
        else:
            text = str(value)
        rows.append((key, text))
    width = max(len(key) for key, _ in rows) if rows else 6
    lines = [f"{'metric':<{width}}  value"] + [f"{key:<{width}}  {text}" for key, text in rows]
    return "\n".join(lines)
