"""superres: data: DIV2K layout, on-the-fly bicubic LR, aligned crops, bad input; the SR tasks."""

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.data import load_data
from gankit.data.superres import bicubic_down, load_superres, mod_crop
from gankit.errors import GankitError


def write_div2k(root, sizes, scale=4, lr=True, mode="RGB"):
    """DIV2K_train_HR/000k.png of the given (width, height) sizes, with LR partners if `lr`."""
    rng = np.random.default_rng(0)
    hr_dir = root / "DIV2K_train_HR"
    lr_dir = root / "DIV2K_train_LR_bicubic" / f"X{scale}"
    hr_dir.mkdir(parents=True)
    if lr:
        lr_dir.mkdir(parents=True)
    for index, (width, height) in enumerate(sizes, start=1):
        shape = (height, width, 3) if mode == "RGB" else (height, width)
        image = Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8))
        image.save(hr_dir / f"{index:04d}.png")
        if lr:
            small = image.resize((width // scale, height // scale), Image.Resampling.BICUBIC)
            small.save(lr_dir / f"{index:04d}x{scale}.png")
    return root


def test_div2k_pairs_and_aligned_crops(tmp_path):
    write_div2k(tmp_path, [(40, 32), (48, 36)])
    data = load_data(f"superres:{tmp_path}", image_size=16)
    data.use_scale(4)
    assert data.kind == "superres" and len(data) == 2 and data.channels == 3
    assert data.hr[1].shape == (3, 36, 48) and data.lr[1].shape == (3, 9, 12)
    torch.manual_seed(0)
    batch = data.batch(torch.tensor([0, 1, 1, 0]))
    assert batch["low_res"].shape == (4, 3, 4, 4) and batch["high_res"].shape == (4, 3, 16, 16)
    low, high = data.crop_pair(1, 2, 5)
    assert torch.equal(high, data.hr[1][:, 8:24, 20:36]) and torch.equal(
        low, data.lr[1][:, 2:6, 5:9]
    )
    assert batch["low_res"].abs().max() <= 1 and batch["high_res"].abs().max() <= 1


def test_lr_is_made_by_bicubic_without_an_lr_folder(tmp_path):
    write_div2k(tmp_path, [(30, 34)], lr=False, mode="L")
    data = load_superres(tmp_path)
    assert data.crop == 24  # the smallest side, rounded down to a multiple of 8 (< the paper's 96)
    data.use_scale(2)
    assert data.channels == 1 and data.hr[0].shape == (1, 34, 30)
    assert torch.equal(data.lr[0], bicubic_down(data.hr[0], 2))
    data = load_superres(tmp_path)
    data.use_scale(4)  # HR mod-cropped to 32 x 28
    assert data.hr[0].shape == (1, 32, 28) and data.lr[0].shape == (1, 8, 7)


def test_augmented_crops_stay_aligned():
    # An HR image whose 4x4 blocks are constant: its bicubic LR is the block value exactly,
    # so every aligned crop (with any flip or rotation) satisfies LR == HR[::4, ::4].
    from gankit.data.superres import SuperResData

    blocks = torch.randint(0, 256, (3, 10, 12), dtype=torch.uint8)
    hr = blocks.repeat_interleave(4, 1).repeat_interleave(4, 2)
    data = SuperResData([hr], [], 16, True, "test")
    data.lr, data.scale, data.hr = [blocks], 4, [hr]
    torch.manual_seed(1)
    for _ in range(20):
        batch = data.batch(torch.tensor([0]))
        assert torch.equal(batch["high_res"][:, :, ::4, ::4], batch["low_res"])


def test_missing_partner_wrong_size_and_small_image_are_refused(tmp_path):
    root = write_div2k(tmp_path / "a", [(32, 32), (32, 32)])
    (root / "DIV2K_train_LR_bicubic" / "X4" / "0002x4.png").unlink()
    with pytest.raises(GankitError, match=r"0002\.png: no LR partner 0002x4"):
        load_superres(root).use_scale(4)
    root = write_div2k(tmp_path / "b", [(32, 32)])
    Image.new("RGB", (8, 8)).save(root / "DIV2K_train_LR_bicubic" / "X4" / "0009x4.png")
    with pytest.raises(GankitError, match=r"0009x4\.png: an LR image with no HR partner"):
        load_superres(root).use_scale(4)
    root = write_div2k(tmp_path / "c", [(32, 32)])
    Image.new("RGB", (7, 8)).save(root / "DIV2K_train_LR_bicubic" / "X4" / "0001x4.png")
    with pytest.raises(GankitError, match=r"0001x4\.png: 7x8 is not the HR image's 32x32 / 4"):
        load_superres(root).use_scale(4)
    root = write_div2k(tmp_path / "d", [(32, 32), (40, 24)], lr=False)
    with pytest.raises(GankitError, match=r"0002\.png: 40x24 is smaller than the 32-pixel crop"):
        load_data(f"superres:{root}", image_size=32).use_scale(4)
    with pytest.raises(GankitError, match="not a multiple of 8"):
        load_data(f"superres:{root}", image_size=20).use_scale(8)


def test_any_image_folder_and_the_test_split(tmp_path):
    for split in ("train", "test"):
        (tmp_path / split).mkdir()
        for i in range(3):
            Image.new("L", (16, 20), 40 * i).save(tmp_path / split / f"{i}.jpg")
    data = load_data(f"superres:{tmp_path}:test", channels=3)
    data.use_scale(2)
    assert len(data) == 3 and not data.augment and data.lr[0].shape == (3, 10, 8)
    assert load_data(f"superres:{tmp_path}").augment


def test_mod_crop():
    assert mod_crop(torch.zeros(1, 30, 29), 4).shape == (1, 28, 28)


def test_fashion_sr_task_is_written_in_the_div2k_layout(tiny_mnist, tmp_path):
    from gankit.data.tasks import make_task

    root = make_task("fashion-sr", tmp_path / "task", train=5, test=3, source=tiny_mnist)
    assert len(list((root / "DIV2K_train_HR").iterdir())) == 5
    assert Image.open(root / "DIV2K_valid_LR_bicubic" / "X4" / "00003x4.png").size == (7, 7)
    data = load_data(f"superres:{root}", image_size=28)
    data.use_scale(4)
    assert data.hr[0].shape == (1, 28, 28) and data.crop == 28


def test_natural_sr_patches_come_from_held_out_photographs():
    pytest.importorskip("skimage")
    from gankit.data.superres_tasks import natural_patches

    patches = natural_patches(("coffee",), 4)
    assert len(patches) == 4 and patches[0].shape == (3, 128, 128)
    assert all(p.float().std() >= 4 for p in patches)


def test_natural_sr_trains_on_grey_and_colour_photographs_apart_from_the_test_ones():
    from gankit.data.superres_tasks import NATURAL, photograph

    assert not set(NATURAL["train"]) & set(NATURAL["test"])
    assert {"camera", "stereo_motorcycle"} <= set(NATURAL["train"])  # grey and varied colour
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    as_rgb = photograph(grey)
    assert as_rgb.shape == (3, 4, 3) and (as_rgb == grey[..., None]).all()
    rgba = np.zeros((2, 2, 4), np.uint8)
    assert photograph(rgba).shape == (2, 2, 3)
    left, right = np.ones((2, 2, 3), np.uint8), np.zeros((2, 2, 3), np.uint8)
    assert (photograph((left, right, None)) == 1).all()  # a stereo pair: the left view
