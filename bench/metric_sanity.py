"""Sanity check of the metrics: do they order known image sets correctly?

    python bench/metric_sanity.py [--n 10000] [--feature-net fashion] [--json FILE]

Scores three sets against the Fashion-MNIST test set (the reference):
  floor    a held-out slice of real training images (the best a generator can hope for),
  blurred  a 3x3 box-blurred copy of the test set (right content, wrong detail),
  noise    uniform noise images,
and checks that FID and KID order floor < blurred < noise and recall, density and coverage the other
way round (precision is shown but not checked: see `CHECKED`). Exits with status 1 when one fails.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import torch
import torch.nn.functional as F

from gankit.data import load_data
from gankit.metrics import evaluate, format_table


def box_blur(images: torch.Tensor) -> torch.Tensor:
    """3x3 box blur of uint8 (N, C, H, W), edges replicated, rounded back to uint8."""
    padded = F.pad(images.float(), (1, 1, 1, 1), mode="replicate")
    return F.avg_pool2d(padded, 3, stride=1).round().clamp(0, 255).to(torch.uint8)


def image_sets(n: int, seed: int) -> dict[str, torch.Tensor]:
    """The three uint8 image sets, n images each."""
    train, test = load_data("fashion-mnist", "train"), load_data("fashion-mnist", "test")
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randint(0, 256, (n, *test.images.shape[1:]), generator=generator)
    return {
        "floor": train.images[-n:],  # the last n training images, a fixed held-out slice
        "blurred": box_blur(test.images[:n]),
        "noise": noise.to(torch.uint8),
    }


# Distances must rise from floor to noise; fidelity and diversity scores must fall. Precision is
# printed but not checked: one real outlier's k-NN ball can hold a whole collapsed fake set
# (Naeem et al. 2020, Sec. 3.1); density is its outlier-robust replacement.
RISING = ("fid", "kid")
CHECKED = ("fid", "kid", "recall", "density", "coverage")


def orderings(results: dict[str, dict]) -> dict[str, bool]:
    """For each metric, whether it orders floor, blurred, noise the right way round."""
    verdicts = {}
    for key in ("fid", "kid", "precision", "recall", "density", "coverage"):
        first, middle, last = (results[name][key] for name in ("floor", "blurred", "noise"))
        verdicts[key] = first < middle < last if key in RISING else first > middle > last
    return verdicts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--feature-net", default="fashion")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="write the numbers and machine info here")
    args = parser.parse_args()
    results, seconds = {}, {}
    for name, images in image_sets(args.n, args.seed).items():
        start = time.perf_counter()
        results[name] = evaluate(
            images,
            metrics=("fid", "kid", "is", "pr", "dc"),
            n=args.n,
            ref="fashion-mnist:test",
            feature_net=args.feature_net,
            seed=args.seed,
        )
        seconds[name] = round(time.perf_counter() - start, 1)
        print(f"== {name} ({seconds[name]} s)\n{format_table(results[name])}\n", flush=True)
    verdicts = orderings(results)
    for key, ordered in verdicts.items():
        note = "" if key in CHECKED else " (not checked: outlier-sensitive)"
        print(f"{key:10s} orders floor / blurred / noise: {'yes' if ordered else 'NO'}{note}")
    failures = [key for key in CHECKED if not verdicts[key]]
    if args.json:
        record = {
            "results": results,
            "orderings": verdicts,
            "seconds": seconds,
            "command": " ".join(sys.argv),
            "machine": {
                "host": platform.node(),
                "cpu": platform.processor(),
                "threads": torch.get_num_threads(),
                "torch": torch.__version__,
            },
        }
        with open(args.json, "w") as handle:
            json.dump(record, handle, indent=2)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
