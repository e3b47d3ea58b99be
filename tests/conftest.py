"""Shared fixtures: small datasets written by the tests themselves, in the real on-disk formats."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> Path:
    """Write `array` (uint8) as an IDX file (optionally gzipped)."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(size).to_bytes(4, "big") for size in array.shape
    )
    payload = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(payload) if compress else payload)
    return path


def run_cli(capsys: pytest.CaptureFixture, *args: object) -> tuple[int, str, str]:
    """Run the gankit CLI in-process: (exit code, stdout, stderr)."""
    from gankit.cli import main

    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def penalty_gradients(generator: torch.nn.Module, critic: torch.nn.Module, noise) -> list:
    """The parameter gradients of G and D for a WGAN-GP-style loss: the norm penalty on the
    critic's input gradient (a double backward) plus the critic's score of G's samples."""
    fake = generator(noise)
    x = fake.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    loss = (grad.flatten(1).norm(dim=1) - 1).square().mean() + critic(fake).mean()
    loss.backward()
    return [p.grad for p in [*generator.parameters(), *critic.parameters()]]


def pattern_images(n: int, size: int = 28, classes: int = 4, seed: int = 0) -> tuple:
    """Images whose class is a bright bar at a class-specific row, plus mild noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % classes
    images = rng.integers(0, 40, size=(n, size, size)).astype(np.uint8)
    band = size // classes
    for k in range(classes):
        images[labels == k, k * band : (k + 1) * band, 2:-2] = 230
    return images, labels.astype(np.uint8)


def three_shapes(n_each: int = 20) -> object:
    """A dataset of three obvious modes: dark, bright, and dark with a bright left half."""
    from gankit.data import ImageDataset

    dark = torch.full((n_each, 1, 16, 16), 10, dtype=torch.uint8)
    bright = torch.full((2 * n_each, 1, 16, 16), 240, dtype=torch.uint8)
    half = dark.clone()
    half[..., :8] = 240
    return ImageDataset(torch.cat([dark, bright, half]))


@pytest.fixture(scope="session")
def tiny_mnist(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A data spec for a 256-image MNIST-format dataset (train and test), gzipped as the real."""
    root = tmp_path_factory.mktemp("tiny-mnist")
    for split, n in (("train", 256), ("t10k", 64)):
        images, labels = pattern_images(n, seed=len(split))
        write_idx(root / f"{split}-images-idx3-ubyte.gz", images, compress=True)
        write_idx(root / f"{split}-labels-idx1-ubyte.gz", labels, compress=True)
    return f"mnist:{root}"


@pytest.fixture(autouse=True)
def _threads() -> None:
    torch.set_num_threads(2)
