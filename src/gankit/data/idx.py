"""MNIST and Fashion-MNIST from IDX files (LeCun et al. 1998; Xiao et al. 2017).

The files are looked for at an explicit path, then ``$GANKIT_DATA/<name>``, then the Debian package
location (``/usr/share/datasets/<name>``), then the download cache (``~/.cache/gankit/<name>``),
and, as a last resort, downloaded from the official source with their MD5 checked. Gzip is
detected from the magic bytes, not the file name.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import urllib.request
from pathlib import Path

import numpy as np
import torch

from gankit.data.base import ImageDataset, register_data
from gankit.errors import GankitError

IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

SOURCES = {
    "fashion-mnist": {
        "url": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "md5": {
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83fd310",
        },
        "classes": [
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ],
    },
    "mnist": {
        "url": "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "md5": {
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
        "classes": [str(digit) for digit in range(10)],
    },
}


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (gzipped or not) into an array of its declared type and shape."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise GankitError(f"{path}: cannot read ({error.strerror or error})") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as error:
            raise GankitError(f"{path}: corrupt gzip data ({error})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_DTYPES:
        raise GankitError(f"{path}: not an IDX file (bad magic number {raw[:4].hex() or 'empty'})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise GankitError(f"{path}: truncated IDX header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(IDX_DTYPES[raw[2]])
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise GankitError(
            f"{path}: IDX size mismatch (header: {shape}, {expected} bytes; file: {len(raw)})"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


def _find_file(directory: Path, stem: str) -> Path | None:
    for name in (
        stem,
        stem + ".gz",
        stem.replace("-idx", ".idx"),
        stem.replace("-idx", ".idx") + ".gz",
    ):
        if (directory / name).is_file():
            return directory / name
    return None


def candidate_dirs(name: str, location: str | None) -> list[Path]:
    """Where the IDX files of `name` are looked for, in order."""
    if location:
        return [Path(location).expanduser()]
    dirs = []
    if os.environ.get("GANKIT_DATA"):
        dirs.append(Path(os.environ["GANKIT_DATA"]) / name)
    dirs += [Path("/usr/share/datasets") / name, cache_dir() / name]
    return dirs


def cache_dir() -> Path:
    """gankit's download cache (``$XDG_CACHE_HOME/gankit`` or ``~/.cache/gankit``)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "gankit"


def download(name: str, target: Path) -> None:
    """Download the four IDX files of `name` into `target`, checking each file's MD5."""
    source = SOURCES[name]
    target.mkdir(parents=True, exist_ok=True)
    for filename, md5 in source["md5"].items():
        destination = target / filename
        if destination.is_file():
            continue
        try:
            with urllib.request.urlopen(source["url"] + filename, timeout=60) as response:
                payload = response.read()
        except OSError as error:
            raise GankitError(
                f"{name}: files not found locally and download of {filename} failed ({error}); "
                f"pass a path ({name}:/path/to/dir) or set GANKIT_DATA"
            ) from None
        if hashlib.md5(payload).hexdigest() != md5:
            raise GankitError(f"{name}: downloaded {filename} fails its MD5 check")
        temporary = destination.with_suffix(".part")
        temporary.write_bytes(payload)
        os.replace(temporary, destination)


def load_idx_dataset(name: str, location: str | None, split: str) -> ImageDataset:
    """The `split` ("train" or "test") of MNIST-format data `name`, from the first place found."""
    if split not in FILES:
        raise GankitError(f"{name}: unknown split {split!r}; known: train, test")
    image_stem, label_stem = FILES[split]
    dirs = candidate_dirs(name, location)
    found = next((d for d in dirs if _find_file(d, image_stem) and _find_file(d, label_stem)), None)
    if found is None and location:
        raise GankitError(f"{location}: no {image_stem}[.gz] and {label_stem}[.gz] there")
    if found is None:
        found = dirs[-1]
        download(name, found)
    image_path, label_path = _find_file(found, image_stem), _find_file(found, label_stem)
    images, labels = read_idx(image_path), read_idx(label_path)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise GankitError(
            f"{image_path}: expected N x H x W images and N labels, got {images.shape} and "
            f"{labels.shape}"
        )
    return ImageDataset(
        torch.from_numpy(images.astype(np.uint8)).unsqueeze(1),
        torch.from_numpy(labels.astype(np.int64)),
        list(SOURCES.get(name, {}).get("classes", [])),
        source=str(image_path),
    )


@register_data("fashion-mnist")
def fashion_mnist(location: str | None, split: str) -> ImageDataset:
    """Fashion-MNIST (Xiao et al. 2017): 60k/10k 28x28 grey garments, 10 classes."""
    return load_idx_dataset("fashion-mnist", location, split)


@register_data("mnist")
def mnist(location: str | None, split: str) -> ImageDataset:
    """MNIST (LeCun et al. 1998): 60k/10k 28x28 grey digits."""
    return load_idx_dataset("mnist", location, split)
