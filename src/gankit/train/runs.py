"""Run directories: layout, sample grids, weights loading, the report hook, evaluation hook."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
from torch import Tensor, nn

from gankit.config import RunConfig
from gankit.errors import GankitError
from gankit.models import GANModel
from gankit.train.ema import with_standing_statistics

GRID_SIZE = 64
CALIBRATION_SEED = 999_983  # batch-norm re-estimation never draws from the training RNG
GRID_SEED_OFFSET = 12345  # the fixed-noise grid never draws from the training RNG


def new_run_dir(config: RunConfig) -> Path:
    """``config.out`` or ``runs/<name>-<date>-<time>``; refuses a folder that holds a run."""
    path = Path(config.out or f"runs/{config.name}-{time.strftime('%Y%m%d-%H%M%S')}")
    if (path / "checkpoints").exists() or (path / "config.toml").exists():
        raise GankitError(f"{path}: already holds a run; use --resume {path} or another --out")
    if path.exists() and not path.is_dir():
        raise GankitError(f"{path}: exists and is not a folder")
    return path


def last_checkpoint(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints" / "last.safetensors"


def check_run_dir(run_dir: Path) -> Path:
    """A clear error unless `run_dir` holds a gankit run (config.toml + a checkpoint)."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.toml").is_file():
        raise GankitError(f"{run_dir}: not a gankit run (no config.toml)")
    if not last_checkpoint(run_dir).is_file():
        raise GankitError(f"{run_dir}: no checkpoint yet (checkpoints/last.safetensors)")
    return run_dir


def load_weights(module: nn.Module, state: dict[str, Tensor], source: Path) -> None:
    """Load a state_dict strictly, naming the first bad key on failure."""
    own = module.state_dict()
    for key, value in own.items():
        if key not in state:
            raise GankitError(
                f"{source}: missing weight {key!r} (was it trained with this config?)"
            )
        if state[key].shape != value.shape:
            raise GankitError(
                f"{source}: weight {key!r} has shape {tuple(state[key].shape)}, "
                f"the model expects {tuple(value.shape)}"
            )
    extra = sorted(set(state) - set(own))
    if extra:
        raise GankitError(f"{source}: unexpected weight {extra[0]!r}")
    module.load_state_dict(state)


def grid_labels(model: GANModel, n: int = GRID_SIZE) -> Tensor | None:
    """For a conditional model, one class per grid row (rows of 8)."""
    if not model.num_classes:
        return None
    return (torch.arange(n) // 8) % model.num_classes


def ready_for_sampling(model: GANModel, network: nn.Module) -> nn.Module:
    """`network` in eval mode with its batch-norm statistics re-estimated on fixed noise.

    An image-to-image model keeps the statistics it gathered on its training inputs (it has no
    noise to re-estimate them on): its network is returned as is (callers set eval mode)."""
    if model.translates:
        return network
    batch = 128

    def forward(copy: nn.Module, index: int) -> None:
        model.sample(batch, seed=CALIBRATION_SEED + index, generator=copy)

    return with_standing_statistics(network, forward).eval()


@torch.no_grad()
def fixed_samples(model: GANModel, network: nn.Module, seed: int, data: object = None) -> Tensor:
    """The fixed-noise grid images (n, C, H, W) in [-1, 1] from `network` in eval mode; for an
    image-to-image model, its `preview` of fixed examples of `data` (the training dataset)."""
    was_training = network.training
    network.eval()
    try:
        if model.translates:
            return model.preview(data, network).cpu()
        return model.sample(
            GRID_SIZE, labels=grid_labels(model), seed=seed + GRID_SEED_OFFSET, generator=network
        ).cpu()
    finally:
        network.train(was_training)


def save_sample_grid(run_dir: Path, step: int, images: Tensor) -> Path:
    from gankit.report import save_grid

    return save_grid(images, Path(run_dir) / "samples" / f"step-{step:06d}.png", nrow=8, scale=2)


def write_report(run_dir: Path) -> Path:
    from gankit.report import write_report as write

    return write(run_dir)


class Sampler:
    """A model seen through another generator network (the EMA): what evaluation samples from."""

    def __init__(self, model: GANModel, network: nn.Module) -> None:
        self.model, self.network, self.num_classes = model, network, model.num_classes

    def sample(self, n: int, *, labels: Tensor | None = None, seed: int | None = None) -> Tensor:
        return self.model.sample(n, labels=labels, seed=seed, generator=self.network)


def _translation_scores(model: GANModel, config: RunConfig, n: int, network: nn.Module) -> dict:
    from gankit.metrics.translation import evaluate_model

    return evaluate_model(model, config, n=n, network=network)


def _attribute_scores(model: GANModel, config: RunConfig, n: int, network: nn.Module) -> dict:
    from gankit.metrics.attributes import evaluate_model

    with torch.enable_grad():  # it first trains the attribute classifiers it scores with
        return evaluate_model(model, config, n=n, network=network)


def _superres_scores(model: GANModel, config: RunConfig, n: int, network: nn.Module) -> dict:
    from gankit.metrics.superres import evaluate_sr

    return evaluate_sr(model, n=n, ref=config.data.spec, network=network)


# How an image-to-image model is scored during training, by the kind of data it trains on: the
# code `gankit eval <run>` runs for such a run (gankit.metrics.evaluate), on `network`.
# Style transfer ("images") has no held-out score: see `check_evaluation`.
TRANSLATION_SCORES = {
    "pairs": _translation_scores,
    "unpaired": _translation_scores,
    "attributes": _attribute_scores,
    "superres": _superres_scores,
}


def check_evaluation(config: RunConfig, model: GANModel, main: bool = True) -> None:
    """Before training: turn ``train.eval_every`` off, saying so in one line (process 0), for a
    model that has nothing to score during training (style transfer)."""
    if not config.train.eval_every or not model.translates:
        return
    if model.data_kind not in TRANSLATION_SCORES:
        config.train.eval_every = 0  # saved so: the run's config says what ran
        if main:
            print(
                f"gankit: train.eval_every ignored: {config.name} runs have no held-out score "
                f"(look at the run's samples/ grids, or `gankit stylize` images)",
                file=sys.stderr,
            )


@torch.no_grad()
def evaluate_generator(
    model: GANModel, network: nn.Module, config: RunConfig, shard: object = None
) -> dict:
    """FID etc. of `eval_n` samples against the training data's test split; with a `shard`
    (gankit.train.distributed.Shard), this process's share of them, the features gathered.
    An image-to-image model is scored on its held-out data (`TRANSLATION_SCORES`)."""
    from gankit.metrics.evaluate import evaluate  # a heavy import, only when evaluation is on

    was_training = network.training
    network.eval()
    try:
        if model.translates:
            score = TRANSLATION_SCORES.get(model.data_kind)  # None: see check_evaluation
            results = score(model, config, config.train.eval_n, network) if score else {}
        else:
            results = evaluate(
                Sampler(model, network),
                metrics=config.train.eval_metrics,
                n=config.train.eval_n,
                ref=_test_spec(config.data.spec),
                seed=config.seed,
                shard=shard,
            )
    finally:
        network.train(was_training)
    return {key: value for key, value in results.items() if isinstance(value, (int, float))}


def _test_spec(spec: str) -> str:
    from gankit.data import parse_spec

    kind, location, _ = parse_spec(spec)
    return f"{kind}:{location}:test" if location else f"{kind}:test"
