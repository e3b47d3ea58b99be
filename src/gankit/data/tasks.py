"""Offline image-to-image demo tasks that gankit builds from Fashion-MNIST (Xiao et al. 2017).

    gankit data make edges2fashion /tmp/edges2fashion      # pairs: edge map | garment
    gankit data make sneakers2sandals /tmp/sneakers2sandals  # unpaired: class 7 <-> class 5
    gankit data make fashion-attrs /tmp/fashion-attrs        # CelebA layout: attributes (StarGAN)

They are written in the published layouts (gankit.data.paired, gankit.data.unpaired), so that
training on them exercises the same loaders as a downloaded dataset. Every image is the 28 x 28
garment padded with 2 black pixels to 32 x 32 (the background is black already: nothing is
resampled, and 32 = 2^5 suits the U-Net). The edge map of edges2fashion is the garment's Sobel
gradient magnitude (intensities in [0, 1], kernel [1 2 1] x [-1 0 1] / 4) above 0.2: white edges
on black. The unpaired tasks take two classes from disjoint images (every training image of each
class for trainA/trainB, every test image for testA/testB). A ``gankit-task.json`` beside the
folders names the task and, for class-to-class tasks, the classes of A and B (what `gankit eval`
checks translations against with gankit's Fashion-MNIST classifier).

fashion-attrs is written in CelebA's layout (gankit.data.celeba: ``images/`` and
``list_attr_celeba.txt``, with the published file's trailing space and runs of spaces) from the
Fashion-MNIST training images: 32 x 32 RGB garments with five attributes a classifier can check,
drawn independently per image: a colour tint Red, Green or Blue (exclusive, like CelebA's hair
colours; a quarter of the garments stay white), Bold (strokes dilated by a 3 x 3 maximum) and
Framed (a one-pixel frame around the image). Every garment keeps its Fashion-MNIST class, which
`gankit eval` checks translations keep.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from gankit.data.base import load_data
from gankit.errors import GankitError
from gankit.registry import Registry

TASK_FILE = "gankit-task.json"
PAD = 2  # 28 -> 32 pixels
EDGE_THRESHOLD = 0.2


@dataclass
class Task:
    """A demo task: how to write it under a root folder, and what it is."""

    name: str
    kind: str  # "pairs" | "unpaired": the data spec that reads it
    summary: str
    write: Callable[[Path, str, int, int], dict]  # (root, source spec, train n, test n) -> info


TASKS: Registry[Task] = Registry("demo task")


def padded(images: Tensor) -> Tensor:
    """uint8 (N, 1, 28, 28) -> (N, 1, 32, 32) with black borders."""
    return F.pad(images, (PAD, PAD, PAD, PAD), value=0)


def edge_maps(images: Tensor, threshold: float = EDGE_THRESHOLD) -> Tensor:
    """White-on-black edge maps (uint8, same shape) of grey uint8 images (N, 1, H, W): Sobel
    gradient magnitude of the [0, 1] intensities above `threshold`."""
    x = images.float() / 255
    kernel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 4
    kernel = kernel.view(1, 1, 3, 3)
    grad_x = F.conv2d(x, kernel, padding=1)
    grad_y = F.conv2d(x, kernel.transpose(2, 3), padding=1)
    magnitude = (grad_x.square() + grad_y.square()).sqrt()
    return ((magnitude > threshold) * 255).to(torch.uint8)


def save_png(array: Tensor, path: Path) -> None:
    """Write a uint8 (1, H, W) tensor as a grey PNG."""
    Image.fromarray(array[0].numpy()).save(path, format="PNG")


def write_edges2fashion(root: Path, source: str, train: int, test: int) -> dict:
    """<root>/train/ and <root>/test/: 64 x 32 PNGs, the edge map (A) left of the garment (B)."""
    for split, count in (("train", train), ("test", test)):
        images = padded(load_data(source, split).images[:count])
        pairs = torch.cat([edge_maps(images), images], dim=3)  # (N, 1, 32, 64): A | B
        folder = root / split
        folder.mkdir(parents=True)
        for index, pair in enumerate(pairs):
            save_png(pair, folder / f"{index:05d}.png")
    return {"A": "edge map", "B": "garment"}


def class_writer(label_a: int, label_b: int) -> Callable[[Path, str, int, int], dict]:
    """A writer of the unpaired task class `label_a` <-> class `label_b`."""

    def write(root: Path, source: str, train: int, test: int) -> dict:
        names: list[str] = []
        for split, count in (("train", train), ("test", test)):
            data = load_data(source, split)
            names = data.class_names
            for side, label in (("A", label_a), ("B", label_b)):
                folder = root / f"{split}{side}"
                folder.mkdir(parents=True)
                for index, image in enumerate(padded(data.images[data.labels == label][:count])):
                    save_png(image, folder / f"{index:05d}.png")
        return {"A": names[label_a], "B": names[label_b], "A_label": label_a, "B_label": label_b}

    return write


TASKS.add(
    "edges2fashion",
    Task("edges2fashion", "pairs", "Sobel edge map -> Fashion-MNIST garment", write_edges2fashion),
)
TASKS.add(
    "sneakers2sandals",
    Task("sneakers2sandals", "unpaired", "sneakers <-> sandals (7 <-> 5)", class_writer(7, 5)),
)
TASKS.add(
    "shirts2tshirts",
    Task("shirts2tshirts", "unpaired", "shirts <-> T-shirts/tops (6 <-> 0)", class_writer(6, 0)),
)
FASHION_ATTRS = ["Red", "Green", "Blue", "Bold", "Framed"]
TINTS = [(1.0, 1.0, 1.0), (1.0, 0.2, 0.2), (0.2, 1.0, 0.2), (0.2, 0.2, 1.0)]  # none, R, G, B


def garment_attributes(images: Tensor, seed: int = 0) -> tuple[Tensor, Tensor]:
    """fashion-attrs images: uint8 (N, 3, 32, 32) of grey (N, 1, 28, 28) garments, and their
    FASHION_ATTRS (N, 5) as booleans, drawn from `seed`."""
    generator = torch.Generator().manual_seed(seed)
    count = len(images)
    tint = torch.randint(0, len(TINTS), (count,), generator=generator)  # 0: white
    bold = torch.rand(count, generator=generator) < 0.5
    framed = torch.rand(count, generator=generator) < 0.5
    grey = padded(images).float() / 255  # (N, 1, 32, 32)
    grey = torch.where(bold.view(-1, 1, 1, 1), F.max_pool2d(grey, 3, 1, 1), grey)
    frame = torch.ones_like(grey[:1])
    frame[..., 1:-1, 1:-1] = 0
    grey = torch.where(framed.view(-1, 1, 1, 1), torch.maximum(grey, frame), grey)
    rgb = grey * torch.tensor(TINTS)[tint].view(count, 3, 1, 1)
    attrs = torch.stack([tint == 1, tint == 2, tint == 3, bold, framed], dim=1)
    return (rgb * 255).round().to(torch.uint8), attrs


def write_fashion_attrs(root: Path, source: str, train: int, test: int) -> dict:
    """<root>/images/*.png and <root>/list_attr_celeba.txt, as CelebA is published."""
    images, attrs = garment_attributes(load_data(source, "train").images[: train + test])
    folder = root / "images"
    folder.mkdir(parents=True)
    lines = [str(len(images)), " ".join(FASHION_ATTRS) + " "]  # the published trailing space
    for index, (image, values) in enumerate(zip(images, attrs, strict=True), start=1):
        name = f"{index:06d}.png"
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(folder / name, format="PNG")
        lines.append(name + " " + " ".join(f"{1 if v else -1:>2}" for v in values.tolist()))
    (root / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    return {"attrs": FASHION_ATTRS, "exclusive": [FASHION_ATTRS[:3]]}


TASKS.add(
    "fashion-attrs",
    Task("fashion-attrs", "celeba", "garments with tint, bold, frame", write_fashion_attrs),
)
DEFAULT_COUNTS = {"pairs": (20000, 2000), "unpaired": (6000, 1000)}  # per split (per class)
DEFAULT_COUNTS["celeba"] = (20000, 2000)  # fashion-attrs: one file; celeba: holds 1999 out


def make_task(
    name: str,
    root: str | Path,
    *,
    train: int | None = None,
    test: int | None = None,
    source: str = "fashion-mnist",
) -> Path:
    """Write the demo task `name` under `root` (which must not exist or be empty) and return it.

    `train`/`test` cap the images per split (per class for class-to-class tasks). The task is
    built in a temporary folder beside `root` and renamed into place: never half written.
    """
    task = TASKS.get(name)
    root = Path(root).expanduser()
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise GankitError(f"{root}: exists and is not an empty folder")
    default_train, default_test = DEFAULT_COUNTS[task.kind]
    train, test = train or default_train, test or default_test
    if train < 1 or test < 1:
        raise GankitError(f"--train and --test must be positive, got {train} and {test}")
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=root.parent, prefix=f".{root.name}.", suffix=".tmp"))
    try:
        info = task.write(staging, source, train, test)
        info = {"task": name, "kind": task.kind, "source": source, **info}
        (staging / TASK_FILE).write_text(json.dumps(info, indent=2) + "\n")
        if root.exists():
            root.rmdir()  # empty, checked above
        os.replace(staging, root)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return root


def task_info(root: str | Path) -> dict:
    """The ``gankit-task.json`` of a dataset root ({} when it has none)."""
    path = Path(root).expanduser() / TASK_FILE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise GankitError(f"{path}: not a readable task file ({error})") from None
