"""Scores of StarGAN runs: what `gankit eval <run>` reports for attribute translation.

Each held-out image is translated once per attribute changed alone (the columns of the paper's
figure, `StarGAN.single_changes`: an exclusive or categorical attribute set, an independent one
toggled). Attribute classifiers, trained with gankit's feature-network trainer
(gankit.metrics.classifier.fit) on the real training images and labels, check the result: one
classifier per exclusive group (classes: none of them, or which one), per categorical label and
per independent attribute. They are trained once per run and kept under
``<run>/attribute-classifiers/``.

Keys, for each attribute A: ``accuracy_A`` (the share of translations that carry the requested
value of A), ``identity_accuracy_A`` (the same for the untranslated input: the baseline),
``fid_A`` (FID of the translations to real held-out images with the requested value, as many of
each value as there are, up to the translations' proportions; gankit's feature network) and
``identity_fid_A``; ``accuracy`` and ``identity_accuracy`` overall (the mean over attributes), and
``classifier_accuracy_G`` of each classifier on the real held-out images (its ceiling). For the
fashion-attrs task (gankit.data.tasks) also ``kept_A`` and ``kept``: the share of translations
whose garment class, by gankit's Fashion-MNIST classifier on the central 28 x 28 pixels taken in
grey as the largest channel (which undoes the tint and drops the frame), is the input's.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from gankit.config import RunConfig
from gankit.data import ImageDataset, load_data
from gankit.data.celeba import parse_attr_file, select
from gankit.data.tasks import task_info
from gankit.data.transforms import to_float, to_uint8
from gankit.errors import GankitError
from gankit.metrics import distribution as dist
from gankit.metrics.classifier import accuracy, fit, save_classifier
from gankit.metrics.evaluate import features_of
from gankit.metrics.features import FashionClassifier, load_classifier, load_feature_network

CLASSIFIER_STEPS = 600
CLASSIFIER_FOLDER = "attribute-classifiers"


def labels_from_file(path: str | Path, names: list[str]) -> dict[str, Tensor]:
    """{file name: 0/1 floats of `names`} from a CelebA attribute file (checked)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise GankitError(f"{path}: attribute file not found")
    file_names, rows = parse_attr_file(path)
    columns = select(file_names, names, path)
    return {name: torch.tensor([float(values[c]) for c in columns]) for _, name, values in rows}


class Group(NamedTuple):
    """What one attribute classifier tells apart: label dims, and whether class 0 is "none"."""

    name: str
    columns: list[int]
    none: bool

    def targets(self, labels: Tensor) -> Tensor:
        """Class indices (N,) of label vectors (N, K) for this group."""
        part = labels[:, self.columns]
        if not self.none:
            return part.argmax(1)
        return torch.where(part.max(1).values > 0.5, part.argmax(1) + 1, 0)


def classifier_groups(model: Any) -> list[Group]:
    """One group per exclusive set, categorical block and independent attribute."""
    attrs, groups = model.config.attrs, []
    grouped = {name for group in model.config.exclusive for name in group}
    for group in model.config.exclusive:
        groups.append(Group("|".join(group), [attrs.index(name) for name in group], True))
    for block in model.layout:
        columns = list(range(block.start, block.start + block.size))
        if block.single:
            groups.append(Group(block.name, columns, False))
            continue
        groups += [Group(attrs[c], [c], True) for c in columns if attrs[c] not in grouped]
    return groups


def group_of(groups: list[Group], column: int) -> Group:
    return next(group for group in groups if column in group.columns)


def known_rows(model: Any, group: Group, labels: Tensor) -> Tensor:
    """Which samples know this group's labels (the mask vector; all of them without one)."""
    block = next(b for b in model.layout if b.start <= group.columns[0] < b.start + b.size)
    if block.mask is None:
        return torch.ones(len(labels), dtype=torch.bool)
    return labels[:, block.mask] > 0.5


def group_dataset(model: Any, group: Group, data: Any) -> ImageDataset:
    rows = known_rows(model, group, data.attrs)
    names = (["none"] if group.none else []) + [model.config.attrs[c] for c in group.columns]
    if group.none and len(group.columns) == 1:
        names = [f"not {names[1]}", names[1]]
    targets = group.targets(data.attrs[rows])
    return ImageDataset(data.images[rows], targets, names, data.source)


def attribute_classifier(
    model: Any, group: Group, train: Any, test: Any, folder: Path | None, seed: int = 0
) -> tuple[FashionClassifier, float]:
    """The group's classifier (from `folder` when trained before) and its held-out accuracy."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "_", group.name)
    path = None if folder is None else folder / f"{slug}.safetensors"
    held_out = group_dataset(model, group, test)
    if path is not None and path.is_file():
        network = load_classifier(path)
        return network, accuracy(network, held_out)
    data = group_dataset(model, group, train)
    torch.manual_seed(seed)
    network = FashionClassifier(
        len(data.class_names), (32, 64, 128), 128, data.image_size, data.channels
    )
    network.class_names = list(data.class_names)
    fit(network, data, CLASSIFIER_STEPS, min(128, len(data)), seed, 3e-3, log_every=0)
    score = accuracy(network, held_out)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        summary = {"group": group.name, "steps": CLASSIFIER_STEPS, "test_accuracy": score}
        save_classifier(network, path, summary)
    return network, score


@torch.no_grad()
def predict(network: nn.Module, images: Tensor) -> Tensor:
    """Class indices (N,) of uint8 images."""
    return torch.cat([network(to_float(part)).argmax(1) for part in images.split(500)])


@torch.no_grad()
def translate_all(model: Any, images: Tensor, labels: Tensor, network: Any = None) -> Tensor:
    """uint8 translations of uint8 images (N, C, S, S) to labels (N, K), in batches of 250."""
    parts = [
        to_uint8(model.translate(to_float(x), generator=network, labels=c).cpu())
        for x, c in zip(images.split(250), labels.split(250), strict=True)
    ]
    return torch.cat(parts)


def garment_view(images: Tensor) -> Tensor:
    """fashion-attrs images as Fashion-MNIST saw them: grey (largest channel), central 28/32."""
    grey = images.max(dim=1, keepdim=True).values
    size = images.shape[-1]
    margin = round(size * 2 / 32)
    return grey[..., margin : size - margin, margin : size - margin]


def matched_reals(reals: Tensor, real_classes: Tensor, wanted: Tensor) -> Tensor:
    """Real images with the wanted classes, in the wanted proportions as far as there are."""
    parts = []
    for label in wanted.unique():
        count = int((wanted == label).sum())
        parts.append(reals[real_classes == label][:count])
    return torch.cat(parts)


def fid_or_note(real: Tensor, fake: Tensor, net: nn.Module, key: str, notes: list) -> dict:
    try:
        return {key: dist.fid_from_features(features_of(real, net), features_of(fake, net))}
    except GankitError as error:
        notes.append(f"{key} skipped: {error}")
        return {}


def score_change(
    model: Any, name: str, labels: Tensor, test: Any, n: int, tools: dict, network: Any
) -> dict[str, float]:
    """The scores of one column (attribute `name` changed to `labels`) on n test images."""
    inputs, column = test.images[:n], model.config.attrs.index(name[1:])
    group = group_of(tools["groups"], column)
    classifier, wanted = tools["classifiers"][group.name], group.targets(labels)
    fake = translate_all(model, inputs, labels, network)
    plain = name[1:]
    results = {
        f"accuracy_{plain}": float((predict(classifier, fake) == wanted).float().mean()),
        f"identity_accuracy_{plain}": float((predict(classifier, inputs) == wanted).float().mean()),
    }
    reals = matched_reals(test.images, group.targets(test.attrs), wanted)
    results |= fid_or_note(reals, fake, tools["net"], f"fid_{plain}", tools["notes"])
    results |= fid_or_note(reals, inputs, tools["net"], f"identity_fid_{plain}", tools["notes"])
    if tools.get("garments") is not None:
        kept = predict(tools["garments"], garment_view(fake)) == tools["garment_classes"]
        results[f"kept_{plain}"] = float(kept.float().mean())
    return results


def evaluate_model(
    model: Any,
    config: RunConfig,
    n: int = 10000,
    network: nn.Module | None = None,
    ref: str | None = None,
    feature_net: str = "fashion",
    folder: Path | None = None,
) -> dict[str, Any]:
    """Scores of a StarGAN model on held-out data (module docstring)."""
    spec = ref or config.data.spec
    size, channels = model.config.image_size, model.config.channels
    options = config.data.options()
    train = load_data(spec, "train", image_size=size, channels=channels, options=options)
    test = load_data(spec, "test", image_size=size, channels=channels, options=options)
    if list(getattr(test, "names", [])) != list(model.config.attrs):
        raise GankitError(f"{spec}: not the attributes {config.name} was trained on")
    groups = classifier_groups(model)
    tools: dict[str, Any] = {"groups": groups, "classifiers": {}, "notes": []}
    results: dict[str, Any] = {}
    for group in groups:
        classifier, score = attribute_classifier(model, group, train, test, folder, config.seed)
        tools["classifiers"][group.name] = classifier
        results[f"classifier_accuracy_{group.name}"] = score
    tools["net"] = load_feature_network(feature_net)
    inputs = test.images[:n]
    if task_info(Path(test.source)).get("task") == "fashion-attrs":
        tools["garments"] = load_classifier()
        tools["garment_classes"] = predict(tools["garments"], garment_view(inputs))
    own = test.attrs[:n]
    for name, labels in model.single_changes(own):
        results |= score_change(model, name, labels, test, n, tools, network)
    for key in ("accuracy", "identity_accuracy", "kept"):
        values = [v for k, v in results.items() if k.startswith(f"{key}_")]
        if values:
            results[key] = sum(values) / len(values)
    if "kept" in results:
        results["identity_kept"] = 1.0
    notes = {"note": "; ".join(tools["notes"])} if tools["notes"] else {}
    return results | notes | {"n": len(inputs), "ref": spec, "feature_net": feature_net}


def is_attribute_run(source: object) -> bool:
    """Whether `source` is the folder of a StarGAN run."""
    from gankit import config as config_io
    from gankit.models import MODELS, PRESETS

    if not isinstance(source, (str, Path)) or not (Path(source) / "config.toml").is_file():
        return False
    config = config_io.load(Path(source) / "config.toml")
    return MODELS.get(PRESETS.get(config.name).family).data_kind == "attributes"


def evaluate_run(
    run_dir: str | Path, n: int = 10000, ref: str | None = None, feature_net: str = "fashion"
) -> dict[str, Any]:
    """`evaluate_model` on the trained model of `run_dir` (classifiers kept in the run)."""
    import gankit

    model = gankit.load(run_dir)
    folder = Path(run_dir) / CLASSIFIER_FOLDER
    config = model.run_config
    return evaluate_model(model, config, n, ref=ref, feature_net=feature_net, folder=folder)
