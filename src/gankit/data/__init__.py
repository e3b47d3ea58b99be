"""Datasets: every loader returns an in-memory `ImageDataset`; specs resolve via `load_data`."""

# Importing the loader modules registers their data kinds (mnist, folder, pairs, unpaired, ...).
from gankit.data import celeba as _celeba  # noqa: F401
from gankit.data import folders, idx, paired, unpaired  # noqa: F401
from gankit.data import quickdraw as _quickdraw  # noqa: F401
from gankit.data import superres as _superres  # noqa: F401
from gankit.data import superres_tasks as _superres_tasks  # noqa: F401  (SR demo tasks)
from gankit.data.base import DATASETS, ImageDataset, load_data, parse_spec, register_data
from gankit.data.loader import Batcher

__all__ = ["DATASETS", "Batcher", "ImageDataset", "load_data", "parse_spec", "register_data"]
