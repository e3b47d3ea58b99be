"""CycleGAN-layout unaligned sets: two domains of any sizes, errors, and the class-to-class task."""

import numpy as np
import pytest
import torch
from conftest import write_idx
from PIL import Image

from gankit.data import load_data
from gankit.data.tasks import make_task, task_info
from gankit.data.unpaired import UnpairedDataset, load_unpaired
from gankit.errors import GankitError


def write_domain(folder, n, size, value, mode="L"):
    """n flat images of one intensity `value` (width size, height size + 4: not square)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new(mode, (size, size + 4), value if mode == "L" else (value,) * 3).save(
            folder / f"{i}.png"
        )


def test_domains_may_differ_in_size_count_and_colour(tmp_path):
    write_domain(tmp_path / "trainA", 5, 40, 0)
    write_domain(tmp_path / "trainB", 3, 20, 200, mode="RGB")
    data = load_data(f"unpaired:{tmp_path}", image_size=16)
    assert isinstance(data, UnpairedDataset) and data.kind == "unpaired"
    assert data.a.shape == (5, 3, 16, 16) and data.b.shape == (3, 3, 16, 16)  # RGB: B has colour
    assert len(data) == 5  # an epoch is a pass over the larger set
    natural = load_unpaired(tmp_path)
    assert natural.image_size == 32  # the largest power of two in A's first image (40 x 44)


def test_batches_index_a_and_draw_b_at_random(tmp_path):
    a = tmp_path / "trainA"
    a.mkdir()
    for i in range(4):
        Image.new("L", (8, 8), 10 * i).save(a / f"{i}.png")
    write_domain(tmp_path / "trainB", 6, 8, 255)
    data = load_unpaired(tmp_path, size=8)
    data.augment = False
    batch = data.batch(torch.tensor([3, 1, 5]))  # 5 wraps around to A's image 1
    levels = ((batch["a"][:, 0, 0, 0] + 1) * 127.5).round().tolist()
    assert levels == [30.0, 10.0, 10.0] and batch["b"].shape == (3, 1, 8, 8)
    assert torch.allclose(batch["b"], torch.ones(3, 1, 8, 8))


def test_training_batches_are_augmented_held_out_ones_are_not(tmp_path):
    for name in ("trainA", "trainB", "testA", "testB"):
        folder = tmp_path / name
        folder.mkdir()
        for i in range(4):
            Image.fromarray(np.random.default_rng(i).integers(0, 256, (16, 16), np.uint8)).save(
                folder / f"{i}.png"
            )
    train, test = load_unpaired(tmp_path, size=16), load_unpaired(tmp_path, "test", size=16)
    assert train.augment and not test.augment
    torch.manual_seed(0)
    assert not torch.equal(train.batch(torch.arange(4))["a"], train.fixed_batch(4)["a"])
    assert torch.equal(test.batch(torch.arange(4))["a"], test.fixed_batch(4)["a"])


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ({"trainA": 2}, "trainB: not a folder"),
        ({"trainA": 2, "trainB": 0}, "trainB: no images found"),
        ({"trainA": 0, "trainB": 2}, "trainA: no images found"),
    ],
)
def test_missing_or_empty_domains_name_the_folder(tmp_path, layout, message):
    for name, count in layout.items():
        write_domain(tmp_path / name, count, 8, 0)
    with pytest.raises(GankitError, match=message):
        load_data(f"unpaired:{tmp_path}")


def test_an_unreadable_image_names_the_file(tmp_path):
    write_domain(tmp_path / "trainA", 2, 8, 0)
    write_domain(tmp_path / "trainB", 2, 8, 0)
    (tmp_path / "trainB" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(GankitError, match=r"trainB/broken\.jpg: unreadable image"):
        load_data(f"unpaired:{tmp_path}")


def test_unknown_split_and_missing_path(tmp_path):
    with pytest.raises(GankitError, match="unpaired: needs a path"):
        load_data("unpaired")
    with pytest.raises(GankitError, match="unknown split 'val'"):
        load_unpaired(tmp_path, "val")


def test_class_to_class_task_writes_two_disjoint_classes(tmp_path):
    root = tmp_path / "fashion"
    root.mkdir()
    labels = np.repeat(np.arange(10), 4).astype(np.uint8)
    images = (labels[:, None, None] * 20 + np.zeros((40, 28, 28))).astype(np.uint8)  # 20 x label
    for split in ("train", "t10k"):
        write_idx(root / f"{split}-images-idx3-ubyte", images)
        write_idx(root / f"{split}-labels-idx1-ubyte", labels)
    task = make_task("sneakers2sandals", tmp_path / "s2s", train=3, test=2, source=f"mnist:{root}")
    info = task_info(task)
    assert (info["A_label"], info["B_label"], info["kind"]) == (7, 5, "unpaired")
    data = load_data(f"unpaired:{task}")
    assert data.a.shape == (3, 1, 32, 32) and data.b.shape == (3, 1, 32, 32)
    assert data.a[:, :, 16, 16].unique().tolist() == [140]  # class 7 only
    assert data.b[:, :, 16, 16].unique().tolist() == [100]  # class 5 only
    assert len(load_unpaired(task, "test").b) == 2
