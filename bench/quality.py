"""Quality at a fixed wall-clock budget: gankit's defaults against the plain reference loop.

Each preset trains for `budget` seconds with gankit's defaults (`gankit train <preset>
--minutes budget/60`) and with the plain loop (bench/reference.py: the paper's recipe, fp32 eager);
both are scored on n samples against the Fashion-MNIST test set with gankit's own feature network
(FID, KID, precision/recall; for cgan also the accuracy of the requested class). The floor is a
held-out slice of the real training set scored the same way.
"""

from __future__ import annotations

import time

import torch

import gankit
from bench.common import RESULTS, filled, reference_config, write_result
from bench.reference import ReferenceLoop
from gankit.config import apply_overrides
from gankit.data import load_data
from gankit.metrics.evaluate import evaluate
from gankit.train.checkpoint import load_checkpoint

METRICS = ("fid", "kid", "pr")


def score(source: object, n: int) -> dict:
    results = evaluate(source, metrics=METRICS, n=n, ref="fashion-mnist:test")
    keep = ("fid", "kid", "kid_std", "precision", "recall", "class_accuracy")
    return {key: round(float(results[key]), 4) for key in keep if key in results}


def run_gankit(preset: str, budget: float, n: int, overrides: list[str] = ()) -> dict:
    config = gankit.preset(preset)
    apply_overrides(config, list(overrides))  # e.g. train.lr=4e-4, to compare variants
    if budget > 0:  # a wall-clock budget; budget 0 trains the config's train.steps instead
        config.train.max_seconds, config.train.steps = budget, 10**9
    started = time.perf_counter()
    config.out = str(RESULTS / "runs" / f"{preset}-{time.strftime('%Y%m%d-%H%M%S')}")
    run_dir = gankit.train(config)
    _, state = load_checkpoint(run_dir / "checkpoints" / "last.safetensors")
    steps, seconds = state["step"], round(time.perf_counter() - started, 1)
    return {
        "run": str(run_dir),
        "steps": steps,
        "seconds": seconds,
        **score(gankit.load(run_dir), n),
    }


def run_reference(preset: str, budget: float, n: int) -> dict:
    torch.manual_seed(0)
    config, dataset = filled(reference_config(preset))
    loop = ReferenceLoop(config, dataset)
    steps = loop.train_for(budget)
    return {"steps": steps, **score(loop, n)}


def floor(n: int) -> dict:
    """A held-out slice of real training images against the test set: the best any model can do."""
    train = load_data("fashion-mnist")
    return score(train.images[-n:], n)


def main(
    presets: list[str], budget: float, n: int, only: str = "both", overrides: list[str] = ()
) -> None:
    rows = {"floor": floor(n)}
    print(f"floor (real training slice): {rows['floor']}", flush=True)
    for preset in presets:
        if only in ("gankit", "both"):
            rows[f"gankit:{preset}"] = run_gankit(preset, budget, n, overrides)
            print(f"gankit {preset}: {rows[f'gankit:{preset}']}", flush=True)
        if only in ("reference", "both"):
            rows[f"reference:{preset}"] = run_reference(preset, budget, n)
            print(f"reference {preset}: {rows[f'reference:{preset}']}", flush=True)
    payload = {"budget_s": budget, "n": n, "overrides": list(overrides), "rows": rows}
    path = write_result("quality", payload)
    print(f"wrote {path}")
