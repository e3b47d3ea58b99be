"""Multi-process training under torchrun: one process per device, the same loop in each.

``torchrun --nproc_per_node N -m gankit train ...`` starts N copies of the command; torchrun's
environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT) joins them into one process group
(`from_environment`): NCCL on CUDA with one GPU per local rank, gloo on CPU. With one process
(WORLD_SIZE unset or 1) there is no process group and every method below is a no-op.

What the loop (gankit.train.trainer) gets from a `Distributed`:

- `average_gradients`, after each phase's backward: the phase's gradients averaged over the
  processes in one flat bucket, one all-reduce (as NVlabs' stylegan2-ada/stylegan3 loops do),
  rather than DistributedDataParallel. A gankit phase calls its networks several times (D on
  reals, on fakes and, for a gradient penalty, on interpolates with create_graph=True), the
  generator phase runs through a frozen D, and lazy regularisers are extra phases on the same
  optimizer; DDP would need the loop to swap the model's networks for wrappers (``module.``
  keys) and to know which parameters each phase leaves without gradients. Measured with 2
  processes (gloo, a DCGAN-size critic with a gradient penalty, this 2-core CPU): DDP's default
  mode gives the same gradients as the flat bucket, ``static_graph=True`` silently different
  (wrong) ones, and DDP's overlap of communication with backward bought nothing (80 ms per step
  against the flat bucket's 77). After backward every phase is simply right, models never see
  ranks, and state_dict keys do not change.
- `batch_draws`, around each phase's forward: a random tensor drawn for this process's rows of
  the batch is drawn for the whole global batch from the run's stream, identical on every
  process, and each process keeps its rows (gankit.train.draws). So N processes see exactly the
  images and noise of one process at the same global batch, and train the same weights up to
  float rounding (tests/train/test_distributed.py).
- `seed_step`: every other draw (dropout masks, data augmentation) comes from torch's global
  generator, seeded per process and per step from the run's seed: different on each process,
  and reproducible after a resume with any number of processes.
- `agree`: the time budget and Ctrl-C are agreed on every step, so that all processes stop at the
  same step (one that stopped alone would leave the others waiting).
- `gather` (FID during training: every process embeds its share of the samples), `is_main`
  (process 0 alone writes checkpoints, samples, metrics and the report), `broadcast`.

Batch norm: ``train.sync_batchnorm`` converts it to torch's SyncBatchNorm (CUDA only); on CPU, and
by default, each process normalises with the statistics of its own part of the batch.
"""

from __future__ import annotations

import contextlib
import copy
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn

from gankit.config import TrainConfig
from gankit.errors import GankitError
from gankit.train.draws import RunStream, SlicedDraws

SEED_STRIDE = 1_000_000_007  # evaluation seeds of process r: seed + r * SEED_STRIDE


@dataclass
class Shard:
    """One process's part of an evaluation: its share of the n samples, its seed, and `gather`
    (an all-gather along dim 0) for the features of every process's samples."""

    rank: int
    world_size: int
    gather: Callable[[Tensor], Tensor]

    def local(self, n: int, seed: int) -> tuple[int, int]:
        """(samples, seed) of this process: n split as evenly as it goes, seeds never shared."""
        share = n // self.world_size + (self.rank < n % self.world_size)
        return share, seed + SEED_STRIDE * self.rank


def rank_seed(seed: int, rank: int, step: int) -> int:
    """A seed for process `rank` at `step` of the run seeded `seed` (well mixed, < 2**63)."""
    words = np.random.SeedSequence([seed % 2**63, rank, step]).generate_state(2, np.uint32)
    return int(words[0]) << 31 | int(words[1]) >> 1


@dataclass
class Distributed:
    """This process's place in a run; with the defaults, the one process of a normal run."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    local_world_size: int = 1
    device: torch.device | None = None  # the device of this process (distributed runs)
    owns_group: bool = False  # the process group was made here (and is destroyed here)
    stream: RunStream | None = field(default=None, repr=False)

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Whether this process writes the run's files (process 0)."""
        return self.rank == 0

    def _comm_device(self) -> torch.device:
        """Where collective tensors live: the GPU for NCCL, the CPU for gloo."""
        nccl = self.device is not None and self.device.type == "cuda"
        return self.device if nccl else torch.device("cpu")

    def local_batch(self, batch_size: int) -> int:
        """This process's part of the global batch (refusing one that does not split evenly)."""
        if batch_size % self.world_size:
            raise GankitError(
                f"train.batch_size {batch_size} is the global batch: it must be divisible by the "
                f"{self.world_size} processes (WORLD_SIZE)"
            )
        return batch_size // self.world_size

    def threads(self, threads: int) -> int:
        """CPU threads for this process: `threads`, else the node's cores shared evenly."""
        return threads or max(1, (os.cpu_count() or 1) // self.local_world_size)

    def start_stream(self, device: torch.device) -> RunStream:
        """The run's random stream, taken from the global generators now (see `RunStream`)."""
        self.stream = RunStream(device, private=self.active)
        return self.stream

    def seed_step(self, seed: int, step: int) -> None:
        """Seed the global generators for this process and step (distributed runs only)."""
        if self.active:
            torch.manual_seed(rank_seed(seed, self.rank, step))

    def batch_draws(self, batch: dict[str, Tensor]) -> contextlib.AbstractContextManager:
        """The context of a phase's forward on `batch` (see `SlicedDraws`)."""
        if not self.active or not batch or self.stream is None:
            return contextlib.nullcontext()
        rows = len(next(iter(batch.values())))
        return SlicedDraws(self.stream, rows, self.rank, self.world_size)

    def average_gradients(self, parameters: list[nn.Parameter]) -> None:
        """Average the gradients of `parameters` over the processes: one flat all-reduce.

        Every process runs the same phase on the same networks, so the same parameters have
        gradients everywhere (the bucket has the same layout on every process).
        """
        if not self.active:
            return
        grads = [p.grad for p in parameters if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([grad.reshape(-1) for grad in grads])
        dist.all_reduce(flat)
        flat.div_(self.world_size)
        for grad, part in zip(grads, flat.split([grad.numel() for grad in grads]), strict=True):
            grad.copy_(part.view(grad.shape))

    def average(self, values: Tensor) -> Tensor:
        """The mean of `values` over the processes (the same shape on every process)."""
        if not self.active:
            return values
        reduced = values.detach().to(self._comm_device()).clone()
        dist.all_reduce(reduced)
        return (reduced / self.world_size).to(values.device)

    def agree(self, elapsed: float, stop: bool) -> tuple[float, bool]:
        """(the longest elapsed time, whether any process stops): the same on every process."""
        if not self.active:
            return elapsed, stop
        both = torch.tensor([elapsed, float(stop)], dtype=torch.float64)
        both = both.to(self._comm_device())
        dist.all_reduce(both, op=dist.ReduceOp.MAX)
        return float(both[0]), bool(both[1] > 0)

    def gather(self, tensor: Tensor) -> Tensor:
        """Every process's `tensor` concatenated along dim 0 in rank order (sizes may differ)."""
        if not self.active:
            return tensor
        local = tensor.detach().to(self._comm_device())
        sizes = [
            torch.zeros(1, dtype=torch.long, device=local.device) for _ in range(self.world_size)
        ]
        dist.all_gather(sizes, torch.tensor([len(local)], device=local.device))
        longest = int(max(size.item() for size in sizes))
        padded = local.new_zeros((longest, *local.shape[1:]))
        padded[: len(local)] = local
        parts = [torch.empty_like(padded) for _ in range(self.world_size)]
        dist.all_gather(parts, padded)
        whole = torch.cat(
            [part[: int(size.item())] for part, size in zip(parts, sizes, strict=True)]
        )
        return whole.to(tensor.device)

    def shard(self) -> Shard | None:
        """This process's part of an evaluation (None with one process)."""
        return Shard(self.rank, self.world_size, self.gather) if self.active else None

    def broadcast(self, value: Any) -> Any:
        """Process 0's `value` (any picklable object), on every process."""
        if not self.active:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def from_main(self, make: Callable[[], Any]) -> Any:
        """`make()` run on process 0 alone, its result (or its GankitError) on every process."""
        result: tuple[Any, str | None] = (None, None)
        if self.is_main:
            try:
                result = (make(), None)
            except GankitError as error:
                result = (None, str(error))
        value, error = self.broadcast(result)
        if error is not None:
            raise GankitError(error)
        return value

    def close(self, clean: bool = True) -> None:
        """Leave the process group (if this module made it); after a `clean` run, together (a
        process that left while process 0 still wrote the run's files was seen to abort)."""
        if self.owns_group and dist.is_initialized():
            if clean:
                dist.barrier()
            dist.destroy_process_group()
        self.owns_group = False


def process_device(name: str, local_rank: int) -> torch.device:
    """The device of the process at `local_rank`: cuda:<local_rank> for auto/cuda, or the CPU."""
    cuda = torch.cuda.is_available()
    if name == "cpu" or (name == "auto" and not cuda):
        return torch.device("cpu")
    if name not in ("auto", "cuda"):
        raise GankitError(
            f"train.device: {name!r} in a torchrun run; use auto, cuda (each process takes "
            "cuda:LOCAL_RANK) or cpu"
        )
    if not cuda:
        raise GankitError("train.device: cuda asked for but CUDA is not available")
    if local_rank >= torch.cuda.device_count():
        raise GankitError(
            f"LOCAL_RANK {local_rank}: this node has {torch.cuda.device_count()} GPUs; "
            "start at most that many processes per node (--nproc_per_node)"
        )
    return torch.device("cuda", local_rank)


def environment_int(name: str, default: int | None = None) -> int:
    """An integer torchrun variable, checked."""
    text = os.environ.get(name)
    if text is None and default is not None:
        return default
    try:
        return int(text or "")
    except ValueError:
        raise GankitError(f"{name}={text!r}: expected an integer (set by torchrun)") from None


def from_environment(train: TrainConfig) -> Distributed:
    """This process's `Distributed`, joining the process group torchrun's environment describes.

    WORLD_SIZE unset or 1: a normal run (no process group). A group made elsewhere (a script that
    called init_process_group itself) is joined and left to its maker.
    """
    world = environment_int("WORLD_SIZE", 1)
    if world <= 1:
        return Distributed()
    if not train.dist_timeout > 0:
        raise GankitError(f"train.dist_timeout must be positive, got {train.dist_timeout}")
    local_rank = environment_int("LOCAL_RANK", 0)
    device = process_device(train.device, local_rank)
    if train.sync_batchnorm and device.type != "cuda":
        raise GankitError(
            "train.sync_batchnorm needs CUDA (torch's SyncBatchNorm); on CPU each process "
            "normalises with its own part of the batch"
        )
    owns = not dist.is_initialized()
    if owns:
        # Imported after the group exists (by the first optimizer), torch._dynamo keeps a
        # reference to it: destroy_process_group then leaves gloo's threads running, and the
        # process was seen to abort at exit ("terminate called without an active exception").
        import torch._dynamo  # noqa: F401

        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(
            "nccl" if device.type == "cuda" else "gloo",
            timeout=timedelta(seconds=train.dist_timeout),
            device_id=device if device.type == "cuda" else None,
        )
    return Distributed(
        rank=dist.get_rank(),
        local_rank=local_rank,
        world_size=dist.get_world_size(),
        local_world_size=environment_int("LOCAL_WORLD_SIZE", world),
        device=device,
        owns_group=owns,
    )


def sync_batchnorm(model: nn.Module) -> nn.Module:
    """The model with every batch norm of its networks made a SyncBatchNorm (same weights)."""
    for name in ("generator", "discriminator"):
        network = getattr(model, name, None)
        if network is not None:
            setattr(model, name, nn.SyncBatchNorm.convert_sync_batchnorm(network))
    return model


class _LocalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm over this process's batch, for inputs of any rank (a SyncBatchNorm's twin)."""

    def _check_input_dim(self, input: Tensor) -> None:  # noqa: A002 (torch's name)
        pass


def without_sync_batchnorm(network: nn.Module) -> nn.Module:
    """A copy of `network` whose SyncBatchNorms are plain batch norms (same weights and
    statistics), for sampling on process 0 alone; `network` itself if it has none."""
    if not any(isinstance(m, nn.SyncBatchNorm) for m in network.modules()):
        return network
    local = copy.deepcopy(network)
    for parent in list(local.modules()):
        for name, child in parent.named_children():
            if isinstance(child, nn.SyncBatchNorm):
                plain = _LocalBatchNorm(
                    child.num_features, child.eps, child.momentum, child.affine,
                    child.track_running_stats,
                )  # fmt: skip
                plain.load_state_dict(child.state_dict())
                plain.train(child.training)
                setattr(parent, name, plain)
    return local


@contextlib.contextmanager
def session(train: TrainConfig) -> Iterator[Distributed]:
    """`from_environment` for the length of a run, leaving the group at its end."""
    process = from_environment(train)
    try:
        yield process
    except BaseException:
        process.close(clean=False)  # the others are stopped by torchrun or by the broken link
        raise
    process.close()
