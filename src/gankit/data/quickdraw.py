"""Quick, Draw! (Jongejan et al. 2016; googlecreativelab/quickdraw-dataset) as labelled images.

``quickdraw:<dir-or-files>`` names a folder of category files (``cat.ndjson``, ``cat.bin``,
``cat.npy``, the official names, also ``full_simplified_cat.ndjson`` and the like) or a
comma-separated list of files and folders; the formats may be mixed (see
gankit.data.quickdraw_formats). Each file holds one category: the `word` of its first drawing
(.ndjson) or its name (.bin, .npy). The classes are the categories (all, or those of the
``categories`` option) sorted by name: label k is the same category in a run, in a feature
classifier and in an evaluation made from the same categories.

The files are streamed: at most ``per_class`` drawings (2000 by default) of each category are
rendered (at the model's size, as the numpy_bitmap files were made: gankit.data.strokes) into
the in-memory dataset, then reading stops. Options (``data.<name>`` in a run's config):
``categories``, ``per_class``, ``recognized`` (any | yes | no), ``countries`` (country codes)
and ``skip_bad`` (skip malformed records, and say how many, instead of stopping).

Held-out split: the record at position i of each file (0-based, counting malformed records, so
that skipping them moves nothing) belongs to the test split when i % 10 == 9, to the train split
otherwise. ``quickdraw:<dir>:test`` therefore never shares a drawing with ``quickdraw:<dir>``,
whatever the format, and is what ``gankit eval --ref`` and ``gankit classifier`` use.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import torch

from gankit.data.base import ImageDataset, register_data
from gankit.data.quickdraw_formats import (
    BITMAP_SIDE,
    BadRecords,
    Drawing,
    category_of,
    read_bin,
    read_ndjson,
)
from gankit.data.quickdraw_npy import open_npy, read_npy
from gankit.data.transforms import resize_images
from gankit.errors import GankitError

DEFAULT_PER_CLASS = 2000
HELD_OUT_EVERY = 10  # position % 10 == 9: the test split
RECOGNIZED = {"any": None, "yes": True, "no": False}
OPTIONS = ("categories", "per_class", "recognized", "countries", "skip_bad", "image_size")
READERS = {".ndjson": read_ndjson, ".bin": read_bin, ".npy": read_npy}


def read_drawings(path: str | Path, bad: BadRecords | None = None) -> Iterator[Drawing]:
    """The drawings of one file of any format (chosen by its extension), streamed."""
    suffix = Path(path).suffix.lower()
    if suffix not in READERS:
        raise GankitError(f"{path}: not a Quick, Draw! file (.ndjson, .bin or .npy)")
    if not Path(path).is_file():
        raise GankitError(f"{path}: no such file")
    return READERS[suffix](path, bad)


def find_files(location: str) -> list[Path]:
    """The Quick, Draw! files of a folder (not recursive) or of a comma-separated list."""
    files: list[Path] = []
    for part in (p.strip() for p in location.split(",")):
        path = Path(part).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in READERS)
            if not found:
                raise GankitError(f"{path}: no Quick, Draw! files (.ndjson, .bin, .npy) there")
            files += found
        elif path.is_file() and path.suffix.lower() in READERS:
            files.append(path)
        elif path.is_file():
            raise GankitError(f"{path}: not a Quick, Draw! file (.ndjson, .bin or .npy)")
        elif part:
            raise GankitError(f"{path}: no such file or folder")
    if not files:
        raise GankitError("quickdraw: needs files or a folder (quickdraw:/path/to/files)")
    return files


def file_category(path: Path) -> str:
    """The category of a file: the word of an ndjson file's first drawing, else its name."""
    if path.suffix.lower() == ".ndjson":
        with contextlib.suppress(OSError, ValueError), open(path, "rb") as file:
            for line in file:
                if line.strip():
                    word = json.loads(line).get("word")
                    if isinstance(word, str) and word:
                        return word
                    break
    return category_of(path)


def by_category(files: Iterable[Path]) -> dict[str, list[Path]]:
    """Files grouped by category, categories sorted by name (files keep their order)."""
    groups: dict[str, list[Path]] = {}
    for path in files:
        groups.setdefault(file_category(path), []).append(path)
    return dict(sorted(groups.items()))


def choose(groups: dict[str, list[Path]], categories: Iterable[str]) -> list[str]:
    """The class names, sorted: all categories, or the requested ones (case-insensitively).

    Sorted whatever the order asked for, so that label k is the same category in a run, in a
    feature classifier and in an evaluation made from the same categories.
    """
    wanted = [c.strip() for c in categories if c.strip()]
    if not wanted:
        return list(groups)
    lower = {name.lower(): name for name in groups}
    missing = [c for c in wanted if c.lower() not in lower]
    if missing:
        known = ", ".join(list(groups)[:20]) + (", ..." if len(groups) > 20 else "")
        raise GankitError(f"quickdraw: no files of category {missing[0]!r} (found: {known})")
    return sorted({lower[c.lower()] for c in wanted})


def in_split(index: int, split: str) -> bool:
    """Whether the record at position `index` of its file belongs to `split`."""
    return (index % HELD_OUT_EVERY == HELD_OUT_EVERY - 1) == (split == "test")


def select(
    drawings: Iterable[Drawing],
    *,
    split: str | None = None,
    recognized: bool | None = None,
    countries: Iterable[str] = (),
    limit: int | None = None,
) -> Iterator[Drawing]:
    """The drawings of `split` (None: all) that pass the metadata filters, at most `limit`."""
    codes = {c.strip().upper() for c in countries if c.strip()}
    count = 0
    for drawing in drawings:
        if limit is not None and count >= limit:
            return
        if split is not None and not in_split(drawing.index, split):
            continue
        if recognized is not None and drawing.recognized is not recognized:
            continue
        if codes and (drawing.countrycode or "").upper() not in codes:
            continue
        count += 1
        yield drawing


def drawings(
    location: str, *, categories: Iterable[str] = (), bad: BadRecords | None = None
) -> Iterator[Drawing]:
    """Every drawing of every file at `location` (of `categories` only, if given), streamed."""
    groups = by_category(find_files(location))
    for name in choose(groups, categories):
        for path in groups[name]:
            yield from read_drawings(path, bad)


def render_category(
    word: str, files: list[Path], need: int, size: int, filters: dict, bad: BadRecords
) -> tuple[np.ndarray, int]:
    """Up to `need` bitmaps (n, size, size) of `word` from its files, streamed; and how many
    drawings of another word were skipped."""
    parts, other = [], 0
    for path in files:
        have = sum(len(p) for p in parts)
        if have >= need:
            break
        if path.suffix.lower() == ".npy":
            parts.append(npy_bitmaps(path, need - have, size, filters, bad))
            continue
        with contextlib.closing(read_drawings(path, bad)) as stream:
            images, skipped = render_stream(select(stream, **filters), word, need - have, size)
        parts.append(images)
        other += skipped
    return np.concatenate(parts) if parts else np.zeros((0, size, size), np.uint8), other


def render_stream(
    stream: Iterable[Drawing], word: str, need: int, size: int, block: int = 1024
) -> tuple[np.ndarray, int]:
    """Render up to `need` drawings of `word` from `stream` (others are counted, not kept)."""
    blocks, count, other = [], 0, 0
    for drawing in stream:
        if drawing.word != word:
            other += 1
            continue
        if count % block == 0:  # grow by blocks: a large `need` is not allocated up front
            blocks.append(np.zeros((min(block, need - count), size, size), dtype=np.uint8))
        blocks[-1][count % block] = drawing.render(size)
        count += 1
        if count == need:
            break
    images = np.concatenate(blocks) if blocks else np.zeros((0, size, size), np.uint8)
    return images[:count], other


def npy_bitmaps(path: Path, need: int, size: int, filters: dict, bad: BadRecords) -> np.ndarray:
    """The first `need` bitmaps of a .npy file in the split, read from the memory map."""
    if filters["recognized"] is not None or set(filters["countries"]):
        raise GankitError(f"{path}: numpy_bitmap files carry no metadata to filter by")
    try:
        array = open_npy(path)
    except GankitError as error:
        bad.report(str(error))
        return np.zeros((0, size, size), np.uint8)
    rows = np.arange(len(array))
    held_out = rows % HELD_OUT_EVERY == HELD_OUT_EVERY - 1  # as `in_split`, for every row at once
    rows = rows[held_out == (filters["split"] == "test")][:need]
    images = array[rows].reshape(-1, BITMAP_SIDE, BITMAP_SIDE)  # copies only these rows
    if size != BITMAP_SIDE and len(images):
        images = resize_images(torch.from_numpy(images).unsqueeze(1), size)[:, 0].numpy()
    return images


@register_data("quickdraw", options=OPTIONS)
def quickdraw(
    location: str | None,
    split: str,
    *,
    categories: Iterable[str] = (),
    per_class: int = 0,
    recognized: str = "any",
    countries: Iterable[str] = (),
    skip_bad: bool = False,
    image_size: int | None = None,
) -> ImageDataset:
    """Quick, Draw! drawings as uint8 (N, 1, S, S) images labelled by category (module doc)."""
    if not location:
        raise GankitError("quickdraw: needs files or a folder (quickdraw:/path/to/files)")
    if split not in ("train", "test"):
        raise GankitError(f"quickdraw: unknown split {split!r}; known: train, test")
    if recognized not in RECOGNIZED:
        raise GankitError(f"data.recognized must be any, yes or no, got {recognized!r}")
    if per_class < 0:
        raise GankitError(f"data.per_class must not be negative, got {per_class}")
    groups = by_category(find_files(location))
    classes = choose(groups, categories)
    filters = {"split": split, "recognized": RECOGNIZED[recognized], "countries": list(countries)}
    bad, size, need = (
        BadRecords(skip_bad),
        image_size or BITMAP_SIDE,
        per_class or DEFAULT_PER_CLASS,
    )
    parts, other = [], 0
    for word in classes:
        images, skipped = render_category(word, groups[word], need, size, filters, bad)
        if len(images) == 0:
            raise GankitError(f"quickdraw:{location}: no {word!r} drawings in the {split} split")
        parts.append(images)
        other += skipped
    report(bad, other)
    labels = torch.cat([torch.full((len(p),), k, dtype=torch.int64) for k, p in enumerate(parts)])
    images = torch.from_numpy(np.concatenate(parts)).unsqueeze(1)
    return ImageDataset(images, labels, classes, source=f"quickdraw:{location}:{split}")


def report(bad: BadRecords, other: int) -> None:
    """Say on stderr what was skipped (the issue's "--skip-bad reports how many")."""
    if bad.count:
        print(f"quickdraw: skipped {bad.count} bad record(s); first: {bad.first}", file=sys.stderr)
    if other:
        message = f"quickdraw: skipped {other} drawing(s) whose word is not their file's category"
        print(message, file=sys.stderr)
