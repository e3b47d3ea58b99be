"""Progress bar, metrics.jsonl and TensorBoard events for a run."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from tqdm import tqdm

from gankit.config import RunConfig


class Logger:
    """Averages the step losses over `log_every` steps and writes them everywhere.

    In a distributed run every process records its losses and `average` (an all-reduce mean)
    makes them the global batch's; the `main` process alone shows the bar and writes files.
    """

    def __init__(
        self,
        run_dir: Path,
        config: RunConfig,
        total_steps: int,
        main: bool = True,
        average: Callable[[Tensor], Tensor] | None = None,
    ) -> None:
        self.run_dir, self.config, self.total = run_dir, config, total_steps
        self.main, self.average = main, average
        self.images_per_step = config.train.batch_size * max(1, config.train.d_steps)
        self.sums: dict[str, tuple[Tensor | float, int]] = {}
        self.count = 0
        self.bar: tqdm | None = None
        self.writer = None
        self.last_time, self.last_step = 0.0, 0
        self.by_time, self.shown_time = False, 0

    def start(self, step: int, elapsed: float = 0.0) -> None:
        if not self.main:
            return
        # With a wall-clock budget the bar counts seconds, so that its ETA is the budget's end (a
        # step count of "until the time runs out" has no meaningful total); else it counts steps.
        budget = self.config.train.max_seconds
        self.by_time = budget > 0
        self.bar = tqdm(
            total=round(budget) if self.by_time else self.total,
            initial=round(min(elapsed, budget)) if self.by_time else step,
            desc=self.config.name,
            unit="s" if self.by_time else "step",
            dynamic_ncols=True,
            mininterval=1.0,
            smoothing=0.1,
            bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} s [{elapsed}<{remaining}{postfix}]"
            if self.by_time
            else None,
        )
        self.shown_time = round(min(elapsed, budget)) if self.by_time else 0
        self.last_time, self.last_step = time.perf_counter(), step
        if self.config.train.tensorboard and self.writer is None:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(self.run_dir))
            except ImportError:  # tensorboard is optional
                self.writer = None

    def record(self, step: int, losses: dict[str, Tensor], elapsed: float) -> None:
        """Add one step's losses; every `log_every` steps, write their means."""
        for key, value in losses.items():  # counted per key: a lazy phase logs every N steps
            total, count = self.sums.get(key, (0.0, 0))
            self.sums[key] = (total + value.float(), count + 1)
        self.count += 1
        if self.bar is not None and self.by_time:
            now = round(min(elapsed, self.config.train.max_seconds))
            self.bar.update(now - self.shown_time)
            self.shown_time = now
        elif self.bar is not None:
            self.bar.update(1)
        if step % self.config.train.log_every == 0 or step == self.total:
            self.flush(step, elapsed)

    def flush(self, step: int, elapsed: float) -> None:
        if not self.count:
            return
        now = time.perf_counter()
        rate = (step - self.last_step) * self.images_per_step / max(now - self.last_time, 1e-9)
        record: dict[str, Any] = {
            "step": step,
            "time": round(elapsed, 2),
            "img_per_s": round(rate, 1),
        }
        record |= self._means()
        self.sums, self.count = {}, 0
        self.last_time, self.last_step = now, step
        if self.bar is not None:
            shown = {k: f"{v:.3g}" for k, v in record.items() if k.startswith("loss")}
            steps = {"step": step} if self.by_time else {}
            self.bar.set_postfix(**steps, img_s=f"{rate:.0f}", **shown, refresh=False)
        self.write(record)

    def _means(self) -> dict[str, float]:
        """Each loss's mean since the last flush (over every process's batch, distributed)."""
        means = [float(total) / count for total, count in self.sums.values()]
        if self.average is not None and means:  # one all-reduce for all keys
            means = self.average(torch.tensor(means, dtype=torch.float64)).tolist()
        return {key: round(float(mean), 5) for key, mean in zip(self.sums, means, strict=True)}

    def write(self, record: dict[str, Any]) -> None:
        """Append one JSON line to metrics.jsonl and the scalars to TensorBoard."""
        if not self.main:
            return
        with open(self.run_dir / "metrics.jsonl", "a") as file:
            file.write(json.dumps(record) + "\n")
        if self.writer is not None:
            for key, value in record.items():
                if key not in ("step", "time") and isinstance(value, (int, float)):
                    self.writer.add_scalar(key, value, record["step"])

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self.writer is not None:
            self.writer.flush()
