"""Batches from an in-memory dataset: shuffled by tensor indexing, resumable exactly."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from gankit.data.base import ImageDataset


class Batcher:
    """Endless shuffled batches of an `ImageDataset` (last partial batch dropped).

    The order is a pure function of (seed, epoch, position), so `state_dict` is two integers and a
    resumed run sees exactly the batches an uninterrupted one would. In a distributed run
    (`shard`/`num_shards`), `batch_size` is each process's part of the global batch: every process
    draws the same permutation each epoch (same seed), takes the same global batch from it and
    keeps its own disjoint slice (rank order), so N processes see exactly the batches of one
    process at the global batch size, and the state (in global batches) resumes with any N.
    """

    def __init__(
        self,
        dataset: ImageDataset,
        batch_size: int,
        seed: int = 0,
        shard: int = 0,
        num_shards: int = 1,
    ) -> None:
        if batch_size * num_shards > len(dataset):
            total = batch_size * num_shards
            raise ValueError(f"batch size {total} exceeds the {len(dataset)} images")
        self.dataset, self.batch_size, self.seed = dataset, batch_size, seed
        self.shard, self.num_shards = shard, num_shards
        self.epoch, self.position = 0, 0
        self._order: Tensor | None = None

    @property
    def batches_per_epoch(self) -> int:
        return len(self.dataset) // (self.batch_size * self.num_shards)

    def _epoch_order(self) -> Tensor:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return torch.randperm(len(self.dataset), generator=generator)

    def next(self) -> dict[str, Tensor]:
        """The next batch: {"image": float (B, C, H, W) in [-1, 1], "label": int64 (B,)}."""
        if self.position >= self.batches_per_epoch:
            self.epoch, self.position, self._order = self.epoch + 1, 0, None
        if self._order is None:
            self._order = self._epoch_order()
        start = (self.position * self.num_shards + self.shard) * self.batch_size
        self.position += 1
        return self.dataset.batch(self._order[start : start + self.batch_size])

    def __iter__(self) -> Iterator[dict[str, Tensor]]:
        while True:
            yield self.next()

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.position, self._order = int(state["epoch"]), int(state["position"]), None
