"""The Python API: train, load, sample (the CLI is a thin layer over these)."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from gankit import config as config_io
from gankit.config import RunConfig
from gankit.data import Batcher, ImageDataset, load_data
from gankit.errors import GankitError
from gankit.models import MODELS, PRESETS, GANModel, build_model
from gankit.train import distributed, runs
from gankit.train.checkpoint import load_checkpoint, strip_prefix
from gankit.train.precision import compile_available, resolve_device, resolve_precision
from gankit.train.trainer import Trainer

CHOICES = {
    "optimizer": ("adam", "rmsprop"),
    "precision": ("auto", "fp32", "bf16", "fp16"),
    "lr_schedule": ("linear", "step"),
}


def validate(config: RunConfig) -> None:
    """Refuse values the loop cannot run with, one clear line each."""
    train = config.train
    positive = {
        "batch_size": train.batch_size,
        "lr": train.lr,
        "d_steps": train.d_steps,
        "log_every": train.log_every,
        "sample_every": train.sample_every,
        "checkpoint_every": train.checkpoint_every,
    }
    for key, value in positive.items():
        if not value > 0 or (isinstance(value, float) and not math.isfinite(value)):
            raise GankitError(f"train.{key} must be positive, got {value}")
    for key, value in {
        "steps": train.steps,
        "epochs": train.epochs,
        "lr_d": train.lr_d,
        "max_seconds": train.max_seconds,
        "eval_every": train.eval_every,
    }.items():
        if value < 0:
            raise GankitError(f"train.{key} must not be negative, got {value}")
    if not 0 <= train.ema < 1:
        raise GankitError(f"train.ema must be in [0, 1), got {train.ema}")
    for key, allowed in CHOICES.items():
        if getattr(train, key) not in allowed:
            raise GankitError(
                f"train.{key} must be one of {', '.join(allowed)}, got {getattr(train, key)!r}"
            )
    if config.model.z_dim <= 0 if hasattr(config.model, "z_dim") else False:
        raise GankitError(f"model.z_dim must be positive, got {config.model.z_dim}")


def prepare(config: RunConfig) -> tuple[RunConfig, ImageDataset]:
    """Load the data and fill the model's size, channels and classes from it."""
    model = config.model
    dataset = load_data(
        config.data.spec,
        image_size=getattr(model, "image_size", 0) or None,
        channels=getattr(model, "channels", 0) or None,
        options=config.data.options(),
    )
    check_data_kind(config, dataset)
    for key, value in (
        ("image_size", dataset.image_size),
        ("channels", dataset.channels),
        ("num_classes", dataset.num_classes),
    ):
        if hasattr(model, key) and not getattr(model, key):
            setattr(model, key, value)
    return config, dataset


DATA_KINDS = {  # what each kind of dataset is, for the error when a model gets the wrong one
    "images": "single images (e.g. --data fashion-mnist, folder:<dir>)",
    "pairs": "aligned pairs (--data pairs:<root> with train/ and test/ of A|B images)",
    "unpaired": "two unaligned sets (--data unpaired:<root> with trainA/, trainB/, testA/, testB/)",
    "attributes": "images with attribute labels (--data celeba:<root>, rafd:<folder>)",
}


def check_data_kind(config: RunConfig, dataset: object) -> None:
    """Refuse data of another kind than the model trains on (`GANModel.data_kind`)."""
    needed = MODELS.get(PRESETS.get(config.name).family).data_kind
    have = getattr(dataset, "kind", "images")
    if have != needed:
        raise GankitError(
            f"{config.data.spec}: {config.name} trains on {DATA_KINDS.get(needed, needed)}; "
            f"this data is {DATA_KINDS.get(have, have).split(' (')[0]}"
        )


def build_trainer(
    config: RunConfig, run_dir: Path, dist: distributed.Distributed | None = None
) -> Trainer:
    """Everything a run needs, checked, on its device; nothing is written yet. `dist`: this
    process's place in a torchrun run (its device, its part of the global batch)."""
    dist = dist or distributed.Distributed()
    validate(config)
    local_batch = dist.local_batch(config.train.batch_size)
    torch.manual_seed(config.seed)  # the same weights in every process
    torch.set_num_threads(dist.threads(config.train.threads))
    config, dataset = prepare(config)
    device = dist.device or resolve_device(config.train.device)
    precision = resolve_precision(config.train.precision, device)
    model = build_model(config)
    model.fit_data(dataset, config.seed)  # on resume, the checkpoint's buffers replace these
    runs.check_evaluation(config, model, dist.is_main)  # before the config is saved
    model = model.to(device)
    if config.train.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if dist.active and config.train.sync_batchnorm:
        model = distributed.sync_batchnorm(model)
    try:
        batcher = Batcher(dataset, local_batch, config.seed, dist.rank, dist.world_size)
    except ValueError as error:
        raise GankitError(f"{config.data.spec}: {error}") from None
    steps = total_steps(config, batcher)
    trainer = Trainer(config, model, batcher, run_dir, precision, steps, dist)
    if config.train.compile and compile_available():  # after the EMA copy, which stays eager
        _compile(model)
    return trainer


def train(config: RunConfig, resume: str | Path | None = None) -> Path:
    """Train `config` (or resume the run in `resume`) and return the run directory.

    Under torchrun every process calls this and they train together (gankit.train.distributed):
    `train.batch_size` is the global batch, process 0 picks the run directory and writes the run.
    """
    config = copy.deepcopy(config)
    with distributed.session(config.train) as dist:
        run_dir = Path(resume) if resume else dist.from_main(lambda: runs.new_run_dir(config))
        trainer = build_trainer(config, run_dir, dist)
        if resume:
            trainer.resume()
        else:  # written only now that every input has been checked
            config.out = str(run_dir)
            if dist.is_main:
                run_dir.mkdir(parents=True, exist_ok=True)
        if dist.is_main:
            config_io.save(config, run_dir / "config.toml")
        trainer.run(config.train.max_seconds)
    return run_dir


def total_steps(config: RunConfig, batcher: Batcher) -> int:
    """``train.steps``, or the steps that make ``train.epochs`` passes over the data."""
    if config.train.epochs > 0:
        batches = config.train.epochs * batcher.batches_per_epoch
        return max(1, math.ceil(batches / max(1, config.train.d_steps)))
    return config.train.steps


def _compile(model: GANModel) -> None:
    """torch.compile each network in place (state_dict keys unchanged)."""
    for network in (model.generator, getattr(model, "discriminator", None)):
        if network is not None:
            network.compile(dynamic=False)


def resume_config(run_dir: str | Path, overrides: list[str] = ()) -> RunConfig:
    """The config of an existing run (checked), with `overrides` such as ``train.steps=30000``."""
    run_dir = runs.check_run_dir(Path(run_dir))
    config = config_io.load(run_dir / "config.toml")
    config_io.apply_overrides(config, list(overrides))
    return config


def load(
    run_dir: str | Path, device: str = "cpu", ema: bool = True, standing_statistics: bool = True
) -> GANModel:
    """The trained model of a run, in eval mode; the generator holds the EMA weights if any.

    With `standing_statistics`, the generator's batch-norm statistics are re-estimated for the
    weights it holds (see gankit.train.ema.with_standing_statistics), as the training grids were.
    """
    run_dir = runs.check_run_dir(Path(run_dir))
    config = config_io.load(run_dir / "config.toml")
    model = build_model(config)
    path = runs.last_checkpoint(run_dir)
    tensors, _ = load_checkpoint(path)
    runs.load_weights(model, strip_prefix("model", tensors), path)
    averaged = strip_prefix("ema.module", tensors)
    if ema and averaged:
        runs.load_weights(model.generator, averaged, path)
    model.run_config = config
    model = model.to(resolve_device(device))
    if standing_statistics:
        model.generator = runs.ready_for_sampling(model, model.generator)
    return model.eval()


@torch.no_grad()
def sample(
    model: GANModel,
    n: int,
    labels: Tensor | None = None,
    seed: int = 0,
    batch_size: int = 500,
    truncation: float | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """n samples as uint8 (N, H, W, C) and their labels (None if unconditional); seeded.

    `truncation` psi (style-based models, which have `set_truncation`) stays set on the model."""
    from gankit.data.transforms import to_uint8

    if truncation is not None:
        if not hasattr(model, "set_truncation"):
            raise GankitError("--truncation: only style-based models (stylegan) have a truncation")
        model.set_truncation(truncation)

    if model.num_classes:
        labels = torch.arange(n) % model.num_classes if labels is None else labels.long()
        if labels.min() < 0 or labels.max() >= model.num_classes:
            raise GankitError(f"labels must be in 0..{model.num_classes - 1}")
    elif labels is not None:
        raise GankitError("this model is unconditional: it takes no labels")
    chunks = []
    for i, index in enumerate(torch.arange(n).split(batch_size)):
        part = None if labels is None else labels[index]
        chunks.append(to_uint8(model.sample(len(index), labels=part, seed=seed * 100_003 + i)))
    images = torch.cat(chunks).permute(0, 2, 3, 1).cpu().numpy()
    return images, None if labels is None else labels.numpy()


def list_models() -> list[dict[str, object]]:
    """Every preset: name, paper, summary, how it departs from the paper, and its defaults."""
    out = []
    for name, preset in PRESETS.items():
        config = preset.config()
        out.append(
            {
                "name": name,
                "paper": preset.paper,
                "summary": preset.summary,
                "why": preset.why,
                "model": config_io.to_dict(config)["model"],
                "train": config_io.to_dict(config)["train"],
            }
        )
    return out


def show_data(
    data: config_io.DataConfig,
    grid: str | Path,
    per_class: int = 8,
    image_size: int | None = None,
) -> Path:
    """Write a PNG grid of a dataset's first images: one row of `per_class` per class.

    Unlabelled data gives 8 rows. Loaders that take ``per_class`` (quickdraw) read no more than
    the grid shows. Returns the path written.
    """
    from gankit.data.base import LOADER_OPTIONS, parse_spec
    from gankit.report import save_grid

    if per_class <= 0:
        raise GankitError(f"-n must be positive, got {per_class}")
    if image_size is not None and image_size <= 0:
        raise GankitError(f"--size must be positive, got {image_size}")
    options = data.options()
    if "per_class" in LOADER_OPTIONS.get(parse_spec(data.spec)[0], ()):
        options.setdefault("per_class", per_class)
    dataset = load_data(data.spec, image_size=image_size, options=options)
    if not isinstance(dataset, ImageDataset):
        raise GankitError(f"{data.spec}: not a dataset of single images")
    return save_grid(first_of_each_class(dataset, per_class), grid, nrow=per_class, scale=2)


def first_of_each_class(dataset: ImageDataset, per_class: int) -> Tensor:
    """uint8 (rows * per_class, C, H, W): each class's first images, blank-padded to a row."""
    if dataset.labels is None:
        return dataset.images[: 8 * per_class]
    rows = []
    for label in range(dataset.num_classes):
        images = dataset.images[dataset.labels == label][:per_class]
        blank = torch.zeros((per_class - len(images), *dataset.images.shape[1:]), dtype=torch.uint8)
        rows += [images, blank]
    return torch.cat(rows)
