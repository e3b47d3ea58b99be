"""Training and sampling images/s: gankit's step against the plain reference loop.

Same networks, same batch, same data in memory; gankit runs its preset's defaults (precision,
memory format, one generator forward per step), the reference runs fp32 eager (bench/reference.py).
Also the model FLOPs per step (torch.utils.flop_counter) as a fraction of this machine's measured
matmul peak.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.common import filled, gankit_config, reference_config, write_result
from bench.reference import ReferenceLoop
from gankit.api import build_trainer
from gankit.train.precision import flush_denormals

PRESETS = ("dcgan", "lsgan", "cgan", "wgan", "wgan-gp", "gan")


def images_per_second(step, images_per_step: int, warmup: int, seconds: float) -> float:
    for _ in range(warmup):
        step()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        count += 1
    return count * images_per_step / (time.perf_counter() - start)


def interleaved_rates(
    steps: dict[str, Callable[[], object]], images_per_step: int, seconds: float, chunk: float = 0.5
) -> dict[str, float]:
    """Images/s of each step function, timed in alternating slices of about `chunk` seconds
    until each has run `seconds`: on a shared VM the machine's speed drifts by tens of percent
    within a minute, and alternating makes the drift hit every loop alike."""
    spent = dict.fromkeys(steps, 0.0)
    done = dict.fromkeys(steps, 0)
    for step in steps.values():
        for _ in range(3):  # warm-up: allocator, oneDNN primitive caches
            step()
    while min(spent.values()) < seconds:
        for name, step in steps.items():
            start = time.perf_counter()
            while time.perf_counter() - start < chunk:
                step()
                done[name] += 1
            spent[name] += time.perf_counter() - start
    return {name: done[name] * images_per_step / spent[name] for name in steps}


def matmul_peak(dtype: torch.dtype) -> float:
    """Measured FLOP/s of a large matmul on this machine (the practical peak)."""
    a, b = torch.randn(2048, 2048, dtype=dtype), torch.randn(2048, 2048, dtype=dtype)
    for _ in range(2):
        a @ b
    start, reps = time.perf_counter(), 5
    for _ in range(reps):
        a @ b
    return 2 * 2048**3 * reps / (time.perf_counter() - start)


def step_flops(step) -> int | None:
    """FLOPs of one step; None where the counter cannot follow (double backward of penalties)."""
    try:
        with FlopCounterMode(display=False) as counter:
            step()
    except RuntimeError:
        return None
    return counter.get_total_flops()


def measure(preset: str, batch_size: int, seconds: float, repeats: int = 1) -> dict:
    """One preset's row; with `repeats` > 1 the interleaved measurement runs that many times on
    the same two loops and the row gives the median speed-up and every measurement: this shared
    VM's speed drifts, and it slows gankit's bf16 kernels more than the plain loop's fp32 ones
    (single 30 s measurements of the same code ranged over 1.8-2.1x)."""
    config = gankit_config(preset, batch_size)
    if getattr(config.model, "clusters", 0):  # the plain loop's exact networks: unconditioned
        config.model.clusters = 0
    config, _ = filled(config)
    trainer = build_trainer(config, Path("/nonexistent-bench-run"))
    per_step = batch_size * config.train.d_steps
    ref_config, dataset = filled(reference_config(preset, batch_size, same_nets=True))
    reference = ReferenceLoop(ref_config, dataset)

    def gankit_step() -> None:
        with flush_denormals():  # as Trainer.run does on CPU (a plain loop does not)
            trainer.train_step()

    runs = [
        interleaved_rates({"gankit": gankit_step, "reference": reference.step}, per_step, seconds)
        for _ in range(repeats)
    ]
    middle = sorted(runs, key=lambda rates: rates["gankit"] / rates["reference"])[len(runs) // 2]
    gankit_rate, ref_rate = middle["gankit"], middle["reference"]
    model = trainer.model
    sample_rate = images_per_second(
        lambda: model.sample(500, generator=trainer.sampling_network), 500, 1, seconds / 3
    )
    flops = step_flops(reference.step)
    return {
        "preset": preset,
        "d_steps": config.train.d_steps,
        "batch_size": batch_size,
        "gankit_img_s": round(gankit_rate, 1),
        "reference_img_s": round(ref_rate, 1),
        "speedup": round(gankit_rate / ref_rate, 2),
        "speedups": [round(rates["gankit"] / rates["reference"], 2) for rates in runs],
        "sample_img_s": round(sample_rate, 1),
        "gflop_per_step": None if flops is None else round(flops / 1e9, 2),
        "precision": str(trainer.precision.dtype),
    }


def main(presets: list[str], batch_size: int, seconds: float, repeats: int = 1) -> None:
    torch.manual_seed(0)
    rows = [measure(name, batch_size, seconds, repeats) for name in presets]
    peak = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}
    for row in rows:  # model FLOP/s achieved = (reference) FLOP per step x gankit steps per s
        if row["gflop_per_step"] is not None:
            steps_per_s = row["gankit_img_s"] / (row["batch_size"] * row["d_steps"])
            achieved = row["gflop_per_step"] * 1e9 * steps_per_s
            row["gankit_fraction_of_fp32_peak"] = round(achieved / peak["fp32"], 3)
    print(
        f"{'preset':<9} {'gankit img/s':>13} {'plain img/s':>12} {'speed-up':>9} "
        f"{'sample img/s':>13} {'GFLOP/step':>11}"
    )
    for row in rows:
        print(
            f"{row['preset']:<9} {row['gankit_img_s']:>13} {row['reference_img_s']:>12} "
            f"{row['speedup']:>8}x {row['sample_img_s']:>13} {row['gflop_per_step'] or '-':>11}"
        )
    print(f"matmul peak: fp32 {peak['fp32'] / 1e9:.0f} GFLOP/s, bf16 {peak['bf16'] / 1e9:.0f}")
    if repeats > 1:
        for row in rows:
            print(f"{row['preset']:<9} speed-up of each measurement: {row['speedups']}")
    payload = {"rows": rows, "peak_flops": peak, "seconds": seconds, "repeats": repeats}
    path = write_result("speed", payload)
    print(f"wrote {path}")
