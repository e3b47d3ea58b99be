"""Datasets: every loader returns an in-memory `ImageDataset`; specs resolve via `load_data`."""

from gankit.data import folders, idx  # noqa: F401  (registers the loaders)
from gankit.data.base import DATASETS, ImageDataset, load_data, parse_spec, register_data
from gankit.data.loader import Batcher

__all__ = ["DATASETS", "Batcher", "ImageDataset", "load_data", "parse_spec", "register_data"]
