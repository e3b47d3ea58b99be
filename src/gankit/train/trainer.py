"""THE training loop: the only one in gankit.

Each step runs ``d_steps`` discriminator phases (one real batch each) then one generator phase.
A phase asks the model for its losses, and the loop does the rest: which parameters get gradients,
autocast, backward, the optimizer step, the learning-rate schedule, the EMA of the generator,
logging, sample grids, checkpoints, periodic evaluation and the report. Models without a
discriminator simply have no discriminator phase.
"""

from __future__ import annotations

import math
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from gankit.config import RunConfig
from gankit.data import Batcher
from gankit.models import GANModel
from gankit.models.base import Batch, Losses
from gankit.train import distributed, runs
from gankit.train.checkpoint import (
    load_checkpoint,
    optimizer_tensors,
    restore_optimizer,
    save_checkpoint,
    strip_prefix,
    with_prefix,
)
from gankit.train.ema import make_ema
from gankit.train.logger import Logger
from gankit.train.precision import Precision, flush_denormals

# The lr factor from `lr_decay_start` (the fraction of the run) on, by `train.lr_schedule`:
# "linear" decays to 0 at the end (pix2pix, CycleGAN); "step" divides the lr by 10 once (SRGAN:
# 1e-4, then 1e-5 for the second half of the updates, Ledig et al. 2017, Sec. 3.2).
LR_SCHEDULES: dict[str, Callable[[float, float], float]] = {
    "linear": lambda progress, start: min(1.0, max(0.0, (1.0 - progress) / (1.0 - start))),
    "step": lambda progress, start: 0.1 if progress >= start else 1.0,
}


@dataclass
class Phase:
    """One kind of update: the parameters it trains, their optimizer and the loss to minimise."""

    name: str
    parameters: list[nn.Parameter]
    optimizer: torch.optim.Optimizer
    loss: Callable[[Batch, int], Losses]
    after: Callable[[], None]
    frozen: list[nn.Parameter]  # no weight gradients wanted for these during this phase
    scaler: torch.amp.GradScaler | None = None


def make_optimizer(
    parameters: list[nn.Parameter], config: RunConfig, lr: float
) -> torch.optim.Optimizer:
    """Adam (the fused kernel where this torch has one for the parameters' device, else the
    multi-tensor one) or RMSprop (multi-tensor). Fused Adam saves about 1.5 ms of a 110 ms
    DCGAN step on 2 CPU cores (paired alternate-step timing); `align_gradients` keeps it
    correct."""
    train = config.train
    if train.optimizer == "rmsprop":
        return torch.optim.RMSprop(parameters, lr=lr, foreach=True)
    betas = (train.beta1, train.beta2)
    try:
        return torch.optim.Adam(parameters, lr=lr, betas=betas, fused=True)
    except RuntimeError:  # torch < 2.4 has no fused Adam on CPU
        return torch.optim.Adam(parameters, lr=lr, betas=betas, foreach=True)


def same_layout(a: Tensor, b: Tensor) -> bool:
    """Whether two tensors of one shape keep their elements in the same memory order (strides
    of size-1 dimensions do not matter)."""
    return all(n == 1 or x == y for n, x, y in zip(a.shape, a.stride(), b.stride(), strict=True))


def align_gradients(parameters: list[nn.Parameter]) -> None:
    """Give every gradient its parameter's memory layout.

    The fused Adam kernels walk parameter, gradient and moments as flat memory: on CPU a
    channels_last weight with an NCHW gradient is silently updated with the wrong elements
    (torch 2.13, tested in tests/train), on CUDA it is refused. Gradients normally match already;
    this costs a stride comparison per parameter.
    """
    for parameter in parameters:
        grad = parameter.grad
        if grad is not None and not same_layout(parameter, grad):
            parameter.grad = torch.empty_like(parameter).copy_(grad)


class Trainer:
    """Holds a run's model, phases and state; `run()` trains to ``train.steps``."""

    def __init__(
        self,
        config: RunConfig,
        model: GANModel,
        batcher: Batcher,
        run_dir: Path,
        precision: Precision,
        total_steps: int,
        dist: distributed.Distributed | None = None,
    ) -> None:
        self.config, self.model, self.batcher, self.run_dir = config, model, batcher, run_dir
        self.precision, self.total_steps, self.step = precision, total_steps, 0
        self.device = precision.device
        self.dist = dist or distributed.Distributed()  # one process unless torchrun started several
        self.stream = self.dist.start_stream(self.device)  # after the weights' initialisation
        self.phases = self._make_phases()
        self.regularizer = self._make_regularizer()
        ema_decay = config.train.ema
        self.ema = make_ema(model.generator, ema_decay) if ema_decay > 0 else None
        self.logger = Logger(
            run_dir,
            config,
            total_steps,
            main=self.dist.is_main,
            average=self.dist.average if self.dist.active else None,
        )
        self.elapsed, self.best_fid, self._stop = 0.0, math.inf, False
        self.max_seconds = config.train.max_seconds

    def _make_phases(self) -> list[Phase]:
        train, model = self.config.train, self.model
        phases = []
        d_params = list(model.discriminator_parameters())
        if d_params:
            phases.append(
                Phase(
                    "discriminator",
                    d_params,
                    make_optimizer(d_params, self.config, train.lr_d or train.lr),
                    model.discriminator_loss,
                    model.after_discriminator_step,
                    [],
                )
            )
        g_params = list(model.generator_parameters())
        # The generator's loss goes through D, but D's weight gradients would be thrown away:
        # freezing D skips computing them. The D phase freezes nothing, so that a model may keep
        # the generator's graph of its fakes for the generator phase (one G forward per step).
        phases.append(
            Phase(
                "generator",
                g_params,
                make_optimizer(g_params, self.config, train.lr),
                model.generator_loss,
                lambda: None,
                d_params,
            )
        )
        for phase in phases:
            if self.precision.needs_scaler:
                phase.scaler = torch.amp.GradScaler("cuda")
        return phases

    def _make_regularizer(self) -> Phase | None:
        """The lazy discriminator regulariser: the discriminator's optimizer, every N steps."""
        if not self.model.regularizer_interval or len(self.phases) < 2:
            return None
        discriminator = self.phases[0]
        return Phase(
            "regularizer",
            discriminator.parameters,
            discriminator.optimizer,
            self.model.discriminator_regularizer,
            discriminator.after,
            [],
            discriminator.scaler,
        )

    def run_phase(self, phase: Phase, batch: Batch) -> Losses:
        """One update of `phase`: its parameters train, its `frozen` ones get no gradients."""
        for parameter in phase.parameters:
            parameter.requires_grad_(True)
        for parameter in phase.frozen:
            parameter.requires_grad_(False)
        with self.precision.autocast(), self.dist.batch_draws(batch):
            losses = phase.loss(batch, self.step)
        phase.optimizer.zero_grad(set_to_none=True)
        if phase.scaler is not None:
            phase.scaler.scale(losses["loss"]).backward()
            self.dist.average_gradients(phase.parameters)  # still scaled: inf/NaN agree too
            align_gradients(phase.parameters)
            phase.scaler.step(phase.optimizer)
            phase.scaler.update()
        else:
            losses["loss"].backward()
            self.dist.average_gradients(phase.parameters)
            align_gradients(phase.parameters)
            phase.optimizer.step()
        phase.after()
        return losses

    def train_step(self) -> dict[str, Tensor]:
        """d_steps discriminator phases (a fresh real batch each), then one generator phase."""
        self._set_lr()
        self.dist.seed_step(self.config.seed, self.step)
        logged: dict[str, Tensor] = {}
        batch: Batch = {}
        *critic_phases, generator_phase = self.phases
        for phase in critic_phases:
            for _ in range(self.config.train.d_steps):
                batch = self.next_batch()
                logged.update(self.run_phase(phase, batch))
        if self.regularizer and self.step % self.model.regularizer_interval == 0:
            logged.update(self.run_phase(self.regularizer, batch))  # the last critic batch
        if not critic_phases:
            batch = self.next_batch()
        logged.update(self.run_phase(generator_phase, batch))
        if self.ema is not None:
            self.ema.update_parameters(self.model.generator)
        self.step += 1
        return {key: value.detach() for key, value in logged.items() if key != "loss"}

    def next_batch(self) -> Batch:
        batch = self.batcher.next()
        memory = torch.channels_last if self.config.train.channels_last else torch.contiguous_format
        return {
            key: value.to(self.device, non_blocking=True, memory_format=memory)
            if value.dim() == 4
            else value.to(self.device, non_blocking=True)
            for key, value in batch.items()
        }

    def progress(self) -> float:
        """How far the run is, 0..1: by steps, or by the time budget when that comes first."""
        by_steps = self.step / max(1, self.total_steps)
        by_time = self.elapsed / self.max_seconds if self.max_seconds else 0.0
        return min(1.0, max(by_steps, by_time))

    def _set_lr(self) -> None:
        """Constant until `lr_decay_start` of the run, then as `lr_schedule` says (LR_SCHEDULES).
        A function of the progress alone: a resumed run continues the same schedule."""
        start = self.config.train.lr_decay_start
        factor = 1.0
        if start < 1.0:
            factor = LR_SCHEDULES[self.config.train.lr_schedule](self.progress(), start)
        for phase in self.phases:
            for group in phase.optimizer.param_groups:
                group["lr"] = group.setdefault("initial_lr", group["lr"]) * factor

    def run(self, max_seconds: float = 0.0) -> None:
        """Train until total_steps (or the time budget, or Ctrl-C), checkpointing on the way."""
        self.max_seconds = max_seconds
        previous = signal.signal(signal.SIGINT, self._interrupt) if _main_thread() else None
        self.logger.start(self.step, self.elapsed)
        try:
            with flush_denormals(self.device.type == "cpu"):
                self._loop(max_seconds)
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
            self.logger.close()
        self.finish()

    def _loop(self, max_seconds: float) -> None:
        train = self.config.train
        started = time.perf_counter() - self.elapsed
        while self.step < self.total_steps and not self._stop:
            losses = self.train_step()
            self.elapsed = time.perf_counter() - started
            # Every process stops at the same step (time budget, Ctrl-C) with the same lr.
            self.elapsed, self._stop = self.dist.agree(self.elapsed, self._stop)
            self.logger.record(self.step, losses, self.elapsed)
            if self.step % train.sample_every == 0:
                self.save_samples()
            if train.eval_every and self.step % train.eval_every == 0:
                self.evaluate()
            if self.step % train.checkpoint_every == 0:
                self.save()
            if max_seconds and self.elapsed >= max_seconds:
                break

    def _interrupt(self, signum: int, frame: object) -> None:
        if self._stop:  # a second Ctrl-C stops at once (the last checkpoint stays)
            raise KeyboardInterrupt
        self._stop = True
        print("\ngankit: stopping after this step (Ctrl-C again to abort)", flush=True)

    def finish(self) -> None:
        """Last grid, checkpoint and report (process 0)."""
        if not self.dist.is_main:
            return
        self.save_samples()
        self.save()
        runs.write_report(self.run_dir)

    # --- samples, evaluation, checkpoints -------------------------------------------------

    @property
    def sampling_network(self) -> nn.Module:
        """The EMA generator when there is one (else the generator), ready for sampling."""
        network = self.ema.module if self.ema is not None else self.model.generator
        return runs.ready_for_sampling(self.model, distributed.without_sync_batchnorm(network))

    def save_samples(self) -> None:
        if not self.dist.is_main:
            return
        images = runs.fixed_samples(
            self.model, self.sampling_network, self.config.seed, self.batcher.dataset
        )
        runs.save_sample_grid(self.run_dir, self.step, images)

    def evaluate(self) -> None:
        """FID etc.: every process embeds its share of the samples (translation models: process
        0 alone); process 0 logs the results and keeps the best checkpoint."""
        shard = None if self.model.translates else self.dist.shard()
        if not self.dist.is_main and shard is None:
            return
        results = runs.evaluate_generator(self.model, self.sampling_network, self.config, shard)
        if not self.dist.is_main:
            return
        self.logger.write({"step": self.step, "time": round(self.elapsed, 2), **results})
        if results.get("fid", math.inf) < self.best_fid:
            self.best_fid = results["fid"]
            self.save(self.run_dir / "checkpoints" / "best.safetensors")

    def state_tensors(self) -> tuple[dict[str, Tensor], dict]:
        tensors = with_prefix("model", self.model.state_dict())
        if self.ema is not None:
            tensors |= with_prefix("ema", self.ema.state_dict())
        groups = {}
        for phase in self.phases:
            optim_tensors, groups[phase.name] = optimizer_tensors(phase.name, phase.optimizer)
            tensors |= optim_tensors
        tensors |= self.stream.state()  # the run's stream, whatever the number of processes
        state = {
            "step": self.step,
            "elapsed": self.elapsed,
            "data": self.batcher.state_dict(),
            "optimizers": groups,
            "best_fid": None if math.isinf(self.best_fid) else self.best_fid,
            "name": self.config.name,
        }
        return tensors, state

    def save(self, path: Path | None = None) -> None:
        if not self.dist.is_main:
            return
        tensors, state = self.state_tensors()
        save_checkpoint(path or runs.last_checkpoint(self.run_dir), tensors, state)

    def resume(self) -> None:
        """Restore every piece of state from the run's last checkpoint."""
        path = runs.last_checkpoint(self.run_dir)
        tensors, state = load_checkpoint(path)
        runs.load_weights(self.model, strip_prefix("model", tensors), path)
        if self.ema is not None and any(key.startswith("ema.") for key in tensors):
            self.ema.load_state_dict(strip_prefix("ema", tensors))
        for phase in self.phases:
            restore_optimizer(phase.name, phase.optimizer, tensors, state["optimizers"][phase.name])
        self.stream.load(tensors)
        self.batcher.load_state_dict(state["data"])
        self.step, self.elapsed = int(state["step"]), float(state["elapsed"])
        self.best_fid = state.get("best_fid") or math.inf


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
