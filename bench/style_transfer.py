"""Fast style transfer offline: python -m bench.style_transfer [--minutes 10]

Makes a wave-stripe style image, trains `style-transfer` on Fashion-MNIST with gankit's shipped
Fashion-MNIST feature network for a wall-clock budget (through the one trainer, like
`gankit train style-transfer`), stylizes 8 held-out garments and writes a figure
(style | content | output) and a JSON of the run's numbers under bench/results/.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import gankit
from gankit.data import load_data
from gankit.data.transforms import to_uint8
from gankit.translation import translate_tensor

RESULTS = Path(__file__).parent / "results"


def wave_stripes(size: int = 56, period: float = 8.0) -> np.ndarray:
    """Diagonal stripes bent by a sine wave: a texture a grey 3-stage network can represent."""
    y, x = np.mgrid[0:size, 0:size].astype(float)
    phase = 2 * np.pi * (x + y + 3 * np.sin(2 * np.pi * y / (size / 2))) / period
    return ((0.5 + 0.5 * np.sin(phase)) * 255).round().astype(np.uint8)


def figure(style: np.ndarray, content: torch.Tensor, output: torch.Tensor, scale: int = 4):
    """Rows: [style | 8 contents], [blank | their outputs]; uint8 grey, nearest-scaled."""
    side = content.shape[-1]
    style_tile = np.asarray(Image.fromarray(style).resize((side, side), Image.Resampling.BICUBIC))
    rows = []
    for first, images in ((style_tile, content), (np.zeros_like(style_tile), output)):
        tiles = [first] + [to_uint8(image)[0].numpy() for image in images]
        rows.append(np.concatenate([np.pad(t, 1, constant_values=128) for t in tiles], 1))
    picture = np.concatenate(rows, 0)
    return picture.repeat(scale, 0).repeat(scale, 1)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.style_transfer")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--work", type=Path, default=Path("/tmp/gankit-style-transfer"))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    style_path = args.work / "style-waves.png"
    Image.fromarray(wave_stripes()).save(style_path)
    config = gankit.preset("style-transfer")
    config.model.style, config.data.spec = str(style_path), "fashion-mnist"
    config.train.batch_size, config.train.steps = 16, 10**9
    config.train.max_seconds, config.train.tensorboard = args.minutes * 60, False
    config.train.log_every = 10
    config.out = str(args.work / f"run-{time.strftime('%H%M%S')}")
    gankit.config.apply_overrides(config, args.set)
    started = time.perf_counter()
    run_dir = gankit.train(config)
    seconds = time.perf_counter() - started
    model = gankit.load(run_dir)
    content = load_data("fashion-mnist:test", image_size=28, channels=1).batch(torch.arange(8))
    output = translate_tensor(model, content["image"])
    stamp = time.strftime("%Y%m%d-%H%M%S")
    image_path = RESULTS / f"{stamp}-style-transfer-fashion.png"
    Image.fromarray(figure(wave_stripes(), content["image"], output)).save(image_path)
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    first, last = json.loads(lines[0]), json.loads(lines[-1])
    payload = {
        "run": str(run_dir),
        "seconds": round(seconds, 1),
        "first": first,
        "last": last,
        "threads": torch.get_num_threads(),
        "figure": image_path.name,
        "model": vars(model.run_config.model),
        "overrides": args.set,
    }
    out = RESULTS / f"{stamp}-vm-style-transfer.json"
    out.write_text(json.dumps(payload, indent=1, default=str))
    print(json.dumps(payload, default=str))


if __name__ == "__main__":
    main()
