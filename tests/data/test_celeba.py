"""CelebA attributes, RaFD folders, the joint dataset with the mask vector, fashion-attrs."""

import random

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.data import load_data
from gankit.data.celeba import held_out_count, joint, load_celeba, load_rafd
from gankit.data.tasks import FASHION_ATTRS, garment_attributes, make_task
from gankit.errors import GankitError

NAMES = ["5_o_Clock_Shadow", "Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young"]


def write_celeba(root, count=30, size=(24, 20), folder="img_align_celeba", names=NAMES):
    """A CelebA-layout folder with the published file's quirks: a trailing space on line 2 and
    runs of spaces between right-aligned values. Image i's Male value is 1 for odd i."""
    rng = np.random.default_rng(0)
    (root / folder).mkdir(parents=True)
    lines = [str(count), " ".join(names) + " "]
    values = {}
    for index in range(count):
        name = f"{index + 1:06d}.jpg"
        array = rng.integers(0, 256, (size[0], size[1], 3), dtype=np.uint8)
        Image.fromarray(array).save(root / folder / name)
        row = [-1, 1 if index % 3 == 0 else -1, 1 if index % 3 == 1 else -1, -1]
        row += [1 if index % 2 else -1, 1]
        values[name] = row
        lines.append(name + " " + " ".join(f"{v:>2}" for v in row))
    (root / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    return values


def test_reads_the_published_layout_and_the_reference_split(tmp_path):
    values = write_celeba(tmp_path)
    train = load_celeba(str(tmp_path), "train", ["Male", "Black_Hair"])
    test = load_celeba(str(tmp_path), "test", ["Male", "Black_Hair"])
    assert (len(train), len(test)) == (27, 3)
    assert train.names == ["Male", "Black_Hair"] and train.images.shape[1:] == (3, 20, 20)
    # The reference code: random.seed(1234); random.shuffle(lines); the first lines are test.
    lines = sorted(values)
    random.seed(1234)
    random.shuffle(lines)
    expected = [[float(values[n][4] == 1), float(values[n][1] == 1)] for n in lines[:3]]
    assert test.attrs.tolist() == expected
    assert train.attrs.sum(0).tolist() == [
        sum(values[n][4] == 1 for n in lines[3:]),
        sum(values[n][1] == 1 for n in lines[3:]),
    ]


def test_default_attributes_are_the_papers_with_hair_colours_exclusive(tmp_path):
    names = ["Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair", "Male", "Young"]
    write_celeba(tmp_path, count=10, folder="images", names=names)
    data = load_data(f"celeba:{tmp_path}")
    assert data.names == ["Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young"]
    assert data.exclusive == [["Black_Hair", "Blond_Hair", "Brown_Hair"]]
    assert data.blocks == [("celeba", 5, False)] and data.num_classes == 5


def test_centre_crop_178_then_resize(tmp_path):
    write_celeba(tmp_path, count=4, size=(218, 178))
    assert load_celeba(str(tmp_path), "train", ["Male"]).image_size == 128  # the default
    data = load_data(f"celeba:{tmp_path}", image_size=32, options={"attrs": ["Male"]})
    assert data.images.shape == (3, 3, 32, 32)


def test_split_rule_never_empties_train():
    assert [held_out_count(n) for n in (1, 2, 19, 20, 100, 19990, 202599)] == [
        0,
        1,
        1,
        2,
        10,
        1999,
        1999,
    ]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda lines: lines, "no attribute 'Bald' .*its attributes: 5_o_Clock_Shadow, Black"),
        (lambda lines: lines[:4] + [lines[4] + " 1"] + lines[5:], "line 5: 7 values, expected 6"),
        (
            lambda lines: lines[:3] + [lines[3].replace("-1", "0", 1)] + lines[4:],
            "line 4: value '0'",
        ),
        (lambda lines: ["31"] + lines[1:], "line 1: says 31 images, the file lists 30"),
    ],
)
def test_bad_attribute_files_name_the_file_and_line(tmp_path, edit, message):
    write_celeba(tmp_path)
    path = tmp_path / "list_attr_celeba.txt"
    path.write_text("\n".join(edit(path.read_text().splitlines())) + "\n")
    attrs = ["Bald"] if "Bald" in message else ["Male"]
    with pytest.raises(GankitError, match=message) as error:
        load_celeba(str(tmp_path), "train", attrs)
    assert "list_attr_celeba.txt" in str(error.value) and "\n" not in str(error.value)


def test_missing_image_and_empty_split(tmp_path):
    write_celeba(tmp_path, count=3)
    (tmp_path / "img_align_celeba" / "000002.jpg").unlink()
    with pytest.raises(GankitError, match=r"line 4: image 000002.jpg is missing"):
        load_celeba(str(tmp_path), "train", ["Male"])
    single = tmp_path / "one"
    write_celeba(single, count=1)
    with pytest.raises(GankitError, match="the test split is empty"):
        load_data(f"celeba:{single}:test", options={"attrs": ["Male"]})
    with pytest.raises(GankitError, match="no list_attr_celeba.txt"):
        load_data(f"celeba:{tmp_path / 'img_align_celeba'}")


def rafd_folder(root, expressions=("angry", "happy", "sad"), per=4):
    for index, name in enumerate(expressions):
        (root / name).mkdir(parents=True)
        for i in range(per):
            Image.fromarray(np.full((20, 20, 3), 40 * index + i, np.uint8)).save(
                root / name / f"{i}.png"
            )
    return root


def test_rafd_folder_is_one_categorical_label(tmp_path):
    data = load_rafd(str(rafd_folder(tmp_path)), "train", 16)
    assert data.names == ["angry", "happy", "sad"] and data.blocks == [("rafd", 3, True)]
    assert data.attrs.sum(1).tolist() == [1.0] * 12 and data.attrs[:, 1].sum() == 4
    assert load_data(f"attributes:{tmp_path}", image_size=16).names == data.names


def test_joint_dataset_has_the_mask_vector(tmp_path):
    write_celeba(tmp_path / "celeba", count=20)
    rafd_folder(tmp_path / "rafd")
    data = load_data(
        f"celeba+rafd:{tmp_path / 'celeba'},{tmp_path / 'rafd'}",
        image_size=16,
        options={"attrs": ["Black_Hair", "Male"]},
    )
    assert data.names == ["Black_Hair", "Male", "angry", "happy", "sad"] + [
        "mask:celeba",
        "mask:rafd",
    ]
    celeba_rows, rafd_rows = data.attrs[:18], data.attrs[18:]
    assert (celeba_rows[:, 2:5] == 0).all() and (celeba_rows[:, 5:] == torch.tensor([1.0, 0])).all()
    assert (rafd_rows[:, :2] == 0).all() and (rafd_rows[:, 5:] == torch.tensor([0.0, 1])).all()
    assert data.blocks == [("celeba", 2, False), ("rafd", 3, True)]
    first = load_celeba(str(tmp_path / "celeba"), "train", ["Male"])
    assert joint(first, load_rafd(str(tmp_path / "rafd"), "train", 20)).image_size == 20


def test_garment_attributes_are_checkable():
    garments = torch.zeros(400, 1, 28, 28, dtype=torch.uint8)
    garments[:, :, 10:18, 12:16] = 200
    images, attrs = garment_attributes(garments, seed=3)
    assert images.shape == (400, 3, 32, 32) and attrs.shape == (400, len(FASHION_ATTRS))
    assert attrs[:, :3].sum(1).max() == 1  # exclusive tints, some garments white
    assert 0.15 < (attrs[:, :3].sum(1) == 0).float().mean() < 0.35
    red = images[attrs[:, 0]]
    assert (red[:, 0].amax((1, 2)) > 2 * red[:, 1].amax((1, 2))).all()
    bold = (images.amax(1) > 0).flatten(1).sum(1).float()
    inner = bold - 124 * attrs[:, 4].float()  # the frame's 124 border pixels
    assert (inner[attrs[:, 3]] > inner[~attrs[:, 3]].max()).all()  # dilated: more pixels lit
    framed = images[:, :, 0, :].amax((1, 2)) > 0
    assert torch.equal(framed, attrs[:, 4])


def test_fashion_attrs_task_goes_through_the_celeba_loader(tmp_path, tiny_mnist):
    root = make_task("fashion-attrs", tmp_path / "task", train=40, test=10, source=tiny_mnist)
    lines = (root / "list_attr_celeba.txt").read_text().splitlines()
    assert lines[0] == "50" and lines[1] == " ".join(FASHION_ATTRS) + " "
    train = load_data(f"celeba:{root}")
    assert train.names == FASHION_ATTRS and train.exclusive == [["Red", "Green", "Blue"]]
    assert train.images.shape == (45, 3, 32, 32) and len(load_data(f"celeba:{root}:test")) == 5
