"""Train gankit's feature classifier on any labelled dataset, reproducibly.

    python -m gankit.metrics.classifier --data fashion-mnist --out fashion.safetensors

trains a `FashionClassifier` (seeded: the same command gives the same weights on the same machine),
reports its accuracy on the dataset's test split (or a held-out tenth when the dataset has no
separate test split, as for image folders) and saves safetensors whose metadata record the command,
data, seed, steps and accuracy. The shipped Fashion-MNIST weights were made this way
(src/gankit/weights/README.md).
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import Tensor

from gankit.data import Batcher, ImageDataset, load_data
from gankit.data.transforms import to_float
from gankit.errors import GankitError
from gankit.metrics.features import FashionClassifier

DEFAULT_STEPS = 6000
DEFAULT_BATCH = 128


def augment(images: Tensor, generator: torch.Generator, shift: int = 2) -> Tensor:
    """Random horizontal flips and translations of up to `shift` pixels, per image.

    The standard light augmentation for small-image classifiers (e.g. He et al. 2016 on CIFAR):
    zero padding ("black" is -1 here) and a random crop, done by one gather, no per-image Python.
    """
    batch, channels, height, width = images.shape
    flip = torch.rand(batch, generator=generator) < 0.5
    images = torch.where(flip.view(-1, 1, 1, 1), images.flip(-1), images)
    padded = F.pad(images, (shift,) * 4, value=-1.0)
    dy = torch.randint(0, 2 * shift + 1, (batch,), generator=generator)
    dx = torch.randint(0, 2 * shift + 1, (batch,), generator=generator)
    rows = (dy[:, None] + torch.arange(height))[:, None, :, None]  # (B, 1, H, 1)
    cols = (dx[:, None] + torch.arange(width))[:, None, None, :]  # (B, 1, 1, W)
    index_b = torch.arange(batch).view(-1, 1, 1, 1)
    index_c = torch.arange(channels).view(1, -1, 1, 1)
    return padded[index_b, index_c, rows, cols]


def lr_at(step: int, steps: int, peak: float, warmup: float = 0.05) -> float:
    """Linear warm-up then cosine decay to zero (the one-cycle shape, Smith & Topin 2019)."""
    warm = max(1, int(steps * warmup))
    if step < warm:
        return peak * (step + 1) / warm
    progress = (step - warm) / max(1, steps - warm)
    return peak * 0.5 * (1 + math.cos(math.pi * progress))


@torch.no_grad()
def accuracy(network: FashionClassifier, dataset: ImageDataset, batch_size: int = 1000) -> float:
    """Top-1 accuracy of `network` on a labelled dataset."""
    if dataset.labels is None:
        raise GankitError(f"{dataset.source or 'data'}: has no labels to measure accuracy on")
    network.eval()
    correct = 0
    for start in range(0, len(dataset), batch_size):
        # float32, as the metrics use it (training alone runs under bf16 autocast)
        logits = network(to_float(dataset.images[start : start + batch_size]))
        correct += int((logits.argmax(1) == dataset.labels[start : start + batch_size]).sum())
    return correct / len(dataset)


def train_test_split(data_spec: str, image_size: int) -> tuple[ImageDataset, ImageDataset]:
    """The train and test splits of `data_spec`; a fixed held-out tenth when they are the same."""
    train = load_data(data_spec, "train")
    if train.labels is None or train.num_classes < 2:
        raise GankitError(f"{data_spec}: a classifier needs labelled data with at least 2 classes")
    test = load_data(data_spec, "test")
    if test.source == train.source and len(test) == len(train):
        order = torch.randperm(len(train), generator=torch.Generator().manual_seed(1234))
        cut = len(train) // 10
        test = ImageDataset(
            train.images[order[:cut]], train.labels[order[:cut]], train.class_names, train.source
        )
        train = ImageDataset(
            train.images[order[cut:]], train.labels[order[cut:]], train.class_names, train.source
        )
    channels = 1 if train.channels == 1 else 3
    return train.resized(image_size, channels), test.resized(image_size, channels)


def fit(
    network: FashionClassifier,
    train: ImageDataset,
    steps: int,
    batch_size: int,
    seed: int,
    lr: float,
    log_every: int = 500,
) -> None:
    """`steps` AdamW steps (Loshchilov & Hutter 2019) with label smoothing, under bf16 autocast.

    bf16 autocast roughly doubles CPU throughput here; the weights and optimiser stay float32.
    """
    torch.manual_seed(seed)
    batcher = Batcher(train, batch_size, seed=seed)
    generator = torch.Generator().manual_seed(seed + 1)
    optimizer = torch.optim.AdamW(network.parameters(), lr=lr, weight_decay=5e-4)
    network.train().to(memory_format=torch.channels_last)
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, steps, lr)
        batch = batcher.next()
        images = augment(batch["image"], generator).contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = F.cross_entropy(network(images), batch["label"], label_smoothing=0.1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if log_every and (step + 1) % log_every == 0:
            print(f"step {step + 1}/{steps}  loss {loss.item():.4f}", file=sys.stderr, flush=True)
    network.eval().to(memory_format=torch.contiguous_format)


def train_classifier(
    data_spec: str = "fashion-mnist",
    out: str | Path | None = None,
    steps: int = DEFAULT_STEPS,
    seed: int = 0,
    batch_size: int = DEFAULT_BATCH,
    lr: float = 3e-3,
    *,
    widths: tuple[int, ...] = (32, 64, 128),
    feature_dim: int = 256,
    image_size: int = 28,
    command: str | None = None,
    log_every: int = 500,
) -> tuple[FashionClassifier, dict[str, object]]:
    """Train a `FashionClassifier` on `data_spec`; save it to `out` (safetensors) when given.

    Returns the network (eval mode) and a summary: test accuracy, time, steps, seed, data.
    """
    train, test = train_test_split(data_spec, image_size)
    torch.manual_seed(seed)
    network = FashionClassifier(train.num_classes, widths, feature_dim, image_size, train.channels)
    network.class_names = list(train.class_names) or network.class_names
    start = time.perf_counter()
    fit(network, train, steps, batch_size, seed, lr, log_every)
    seconds = time.perf_counter() - start
    summary: dict[str, object] = {
        "data": data_spec,
        "seed": seed,
        "steps": steps,
        "batch_size": batch_size,
        "lr": lr,
        "train_images": len(train),
        "test_images": len(test),
        "test_accuracy": round(accuracy(network, test), 5),
        "train_seconds": round(seconds, 1),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "command": command or default_command(data_spec, out, steps, seed, batch_size, lr),
    }
    if out is not None:
        save_classifier(network, out, summary)
    return network, summary


def default_command(
    data_spec: str, out: str | Path | None, steps: int, seed: int, batch_size: int, lr: float
) -> str:
    """The command line that reproduces a `train_classifier` call."""
    parts = [
        "python",
        "-m",
        "gankit.metrics.classifier",
        "--data",
        data_spec,
        "--steps",
        steps,
        "--seed",
        seed,
        "--batch-size",
        batch_size,
        "--lr",
        lr,
    ]
    if out is not None:
        parts += ["--out", out]
    return shlex.join(str(part) for part in parts)


def save_classifier(
    network: FashionClassifier, out: str | Path, summary: dict[str, object]
) -> None:
    """Write the weights and, as metadata, the config, class names and training summary."""
    metadata = {key: str(value) for key, value in summary.items()}
    metadata["config"] = json.dumps(network.config())
    metadata["class_names"] = json.dumps(network.class_names)
    metadata["num_classes"] = str(network.num_classes)
    metadata["format"] = "gankit.classifier/1"
    state = {k: v.detach().contiguous() for k, v in network.state_dict().items()}
    Path(out).expanduser().parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(Path(out).expanduser()), metadata=metadata)


def main(argv: list[str] | None = None) -> int:
    """Command line: train a classifier and print its summary as JSON."""
    parser = argparse.ArgumentParser(
        prog="python -m gankit.metrics.classifier", description="Train gankit's feature classifier."
    )
    parser.add_argument("--data", default="fashion-mnist", help="labelled data spec")
    parser.add_argument("--out", required=True, help="output .safetensors file")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH)
    parser.add_argument("--lr", type=float, default=3e-3)
    args = parser.parse_args(argv)
    command = shlex.join(["python", "-m", "gankit.metrics.classifier", *(argv or sys.argv[1:])])
    try:
        _, summary = train_classifier(
            args.data, args.out, args.steps, args.seed, args.batch_size, args.lr, command=command
        )
    except GankitError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
