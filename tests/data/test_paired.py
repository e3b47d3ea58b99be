"""pix2pix-layout pairs: splitting, conversions, jitter, errors, and the edges2fashion task."""

import json

import numpy as np
import pytest
import torch
from conftest import write_idx
from PIL import Image

from gankit.data import load_data
from gankit.data.paired import PairedDataset, jitter, load_pairs, natural_size
from gankit.data.tasks import edge_maps, make_task, task_info
from gankit.errors import GankitError


def pair_image(a: np.ndarray, b: np.ndarray, middle: int = 0) -> Image.Image:
    """A | B side by side (grey or RGB), with `middle` extra columns between them."""
    gap = np.full((a.shape[0], middle, *a.shape[2:]), 77, dtype=np.uint8)
    return Image.fromarray(np.concatenate([a, gap, b], axis=1))


def write_pairs(root, split="train", n=4, size=8, seed=0):
    """n grey pairs whose B is the inverse of A; returns the (A, B) arrays."""
    rng = np.random.default_rng(seed)
    folder = root / split
    folder.mkdir(parents=True, exist_ok=True)
    arrays = []
    for i in range(n):
        a = rng.integers(0, 256, (size, size), dtype=np.uint8)
        pair_image(a, 255 - a).save(folder / f"{i}.png")
        arrays.append((a, 255 - a))
    return arrays


def test_halves_are_a_then_b_and_an_odd_middle_column_is_dropped(tmp_path):
    a = np.arange(64, dtype=np.uint8).reshape(8, 8)
    (tmp_path / "train").mkdir()
    pair_image(a, 255 - a, middle=1).save(tmp_path / "train" / "odd.png")  # 17 px wide
    data = load_pairs(tmp_path, "train", size=8)
    assert data.a.shape == (1, 1, 8, 8) and data.channels == 1
    assert torch.equal(data.a[0, 0], torch.from_numpy(a))
    assert torch.equal(data.b[0, 0], torch.from_numpy(255 - a))


def test_natural_size_and_resizing_through_load_data(tmp_path):
    write_pairs(tmp_path, n=3, size=40)
    assert natural_size(Image.new("L", (80, 40)), halves=2) == 32  # largest power of two <= 40
    data = load_data(f"pairs:{tmp_path}")
    assert data.image_size == 32 and data.kind == "pairs" and len(data) == 3
    small = load_data(f"pairs:{tmp_path}", image_size=16, channels=3)
    assert small.a.shape == (3, 3, 16, 16) and small.b.shape == (3, 3, 16, 16)


def test_files_are_found_case_insensitively_in_subfolders_and_sorted_naturally(tmp_path):
    folder = tmp_path / "train"
    (folder / "sub").mkdir(parents=True)
    names = ["img10.PNG", "img2.JpG", "sub/img1.png", "img3.bmp", "notes.txt"]
    for value, name in enumerate(names):
        if name.endswith(".txt"):
            (folder / name).write_text("not an image")
            continue
        a = np.full((8, 8, 3), 10 * value, np.uint8)
        pair_image(a, a).save(folder / name, quality=100)
    data = load_pairs(tmp_path, size=8)
    assert data.files == ["img2.JpG", "img3.bmp", "img10.PNG", "sub/img1.png"]
    assert data.channels == 3  # colour files are read as RGB


def test_conversions_rgba_palette_16_bit_and_exif(tmp_path):
    folder = tmp_path / "train"
    folder.mkdir()
    rgba = np.zeros((4, 8, 4), np.uint8)  # fully transparent: composited on white
    Image.fromarray(rgba, "RGBA").save(folder / "1-rgba.png")
    Image.fromarray(np.full((4, 8), 3, np.uint8)).convert("P").save(folder / "2-palette.png")
    wide = np.full((4, 8), 65535, np.uint16)
    Image.fromarray(wide).save(folder / "3-sixteen.png")  # mode I;16, white
    shown = np.concatenate([np.zeros((8, 8)), np.full((8, 8), 255)], axis=1).astype(np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation 6: stored turned left, shown turned 90 degrees clockwise
    stored = Image.fromarray(np.ascontiguousarray(np.rot90(shown)))  # 8 wide, 16 tall
    stored.save(folder / "4-exif.jpg", exif=exif, quality=100)
    data = load_pairs(tmp_path, size=4, channels=1)
    assert data.a[0].min() == 255 and data.a[1].max() == data.a[1].min()  # white; flat palette
    assert data.a[2].min() == 255  # 16-bit full scale -> 255
    assert data.a[3].float().mean() < 30 and data.b[3].float().mean() > 225  # upright: A | B


def test_held_out_split_falls_back_to_val_and_is_not_augmented(tmp_path):
    write_pairs(tmp_path, "val", n=5)
    data = load_data(f"pairs:{tmp_path}:test")
    assert not data.augment and len(data) == 5
    index = torch.arange(5)
    assert torch.equal(data.batch(index)["a"], data.fixed_batch(5)["a"])


def test_jitter_is_the_same_crop_and_flip_for_a_and_b():
    torch.manual_seed(0)
    a = torch.rand(16, 1, 32, 32) * 2 - 1
    b = torch.cat([a, -a], dim=1)  # B's first channel is A: the jitter must keep them equal
    jittered_a, jittered_b = jitter([a, b])
    assert jittered_a.shape == (16, 1, 32, 32) and jittered_b.shape == (16, 2, 32, 32)
    assert torch.equal(jittered_a, jittered_b[:, :1])
    assert jittered_a.abs().max() <= 1 and not torch.equal(jittered_a, a)


def test_training_batches_are_jittered_pairs(tmp_path):
    write_pairs(tmp_path, n=8, size=16)
    data = load_pairs(tmp_path, size=16)
    assert data.augment
    batch = data.batch(torch.arange(8))
    assert set(batch) == {"a", "b"} and batch["a"].shape == (8, 1, 16, 16)
    # B is 255 - A before jitter; the same resampling keeps B close to -A after it.
    assert (batch["a"] + batch["b"]).abs().max() < 0.02


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda f: Image.new("L", (8, 16)).save(f / "tall.png"), "tall.png: a 8x16 image cannot"),
        (lambda f: (f / "cut.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20), "cut.png"),
        (lambda f: (f / "readme.txt").write_text("hi"), "no images found"),
    ],
)
def test_bad_pairs_name_the_file(tmp_path, make, message):
    folder = tmp_path / "train"
    folder.mkdir()
    make(folder)
    with pytest.raises(GankitError, match=message):
        load_data(f"pairs:{tmp_path}")


def test_a_truncated_image_is_an_error_naming_it(tmp_path):
    write_pairs(tmp_path, n=2, size=32)
    path = tmp_path / "train" / "1.png"
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(GankitError, match=r"1\.png: unreadable image"):
        load_pairs(tmp_path)


def test_missing_split_and_missing_path(tmp_path):
    with pytest.raises(GankitError, match="no test/ or val/ folder"):
        load_data(f"pairs:{tmp_path}:test")
    with pytest.raises(GankitError, match="pairs: needs a path"):
        load_data("pairs")


def test_shapes_must_agree():
    with pytest.raises(ValueError):
        PairedDataset(torch.zeros(2, 1, 8, 8, dtype=torch.uint8), torch.zeros(2, 1, 4, 4))


def test_edge_maps_of_a_square_are_its_outline():
    image = torch.zeros(1, 1, 12, 12, dtype=torch.uint8)
    image[..., 3:9, 3:9] = 255
    edges = edge_maps(image)[0, 0] > 0
    assert edges[3, 5] and edges[2, 5] and not edges[5, 5] and not edges[0, 0]
    assert set(edge_maps(image).unique().tolist()) == {0, 255}


@pytest.fixture
def tiny_fashion(tmp_path):
    """A 10-class Fashion-MNIST-format dataset (3 images per class per split)."""
    root = tmp_path / "fashion"
    root.mkdir()
    rng = np.random.default_rng(0)
    for split in ("train", "t10k"):
        labels = np.repeat(np.arange(10), 3).astype(np.uint8)
        images = rng.integers(0, 256, (30, 28, 28)).astype(np.uint8)
        write_idx(root / f"{split}-images-idx3-ubyte", images)
        write_idx(root / f"{split}-labels-idx1-ubyte", labels)
    return f"fashion-mnist:{root}"


def test_edges2fashion_is_written_in_the_pairs_layout(tiny_fashion, tmp_path):
    root = make_task("edges2fashion", tmp_path / "e2f", train=5, test=2, source=tiny_fashion)
    assert task_info(root)["task"] == "edges2fashion"
    data = load_data(f"pairs:{root}")
    assert data.a.shape == (5, 1, 32, 32)  # 28 px padded to 32
    assert data.b[:, :, :2].max() == 0  # black padding
    assert torch.equal(data.a, edge_maps(data.b))  # A is B's edge map, pixel for pixel
    assert len(load_data(f"pairs:{root}:test")) == 2
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


def test_make_task_refuses_a_non_empty_folder_and_unknown_tasks(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(GankitError, match="not an empty folder"):
        make_task("edges2fashion", tmp_path / "full")
    with pytest.raises(GankitError, match="unknown demo task 'nope'"):
        make_task("nope", tmp_path / "new")
    assert json.loads("{}") == {} and not (tmp_path / "new").exists()
