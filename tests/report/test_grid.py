"""Sample grids: layout, value placement, dtype equivalence and the PNG written."""

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.report import make_grid, save_grid


@pytest.mark.parametrize(
    ("count", "nrow", "padding", "expected"),
    [
        (16, None, 2, (4 * 10 + 2, 4 * 10 + 2)),  # ceil(sqrt(16)) = 4 per row
        (5, None, 2, (2 * 10 + 2, 3 * 10 + 2)),  # 3 per row, 2 rows
        (5, 5, 0, (8, 5 * 8)),
        (6, 4, 1, (2 * 9 + 1, 4 * 9 + 1)),
        (3, 10, 2, (10 + 2, 3 * 10 + 2)),  # nrow larger than N: one row of N
    ],
)
def test_grid_shape(count, nrow, padding, expected):
    images = torch.zeros(count, 3, 8, 8, dtype=torch.uint8)
    grid = make_grid(images, nrow=nrow, padding=padding)
    assert grid.dtype == np.uint8
    assert grid.shape == (*expected, 3)


def test_grey_keeps_one_channel():
    grid = make_grid(torch.zeros(4, 1, 5, 7, dtype=torch.uint8), padding=1)
    assert grid.shape == (2 * 6 + 1, 2 * 8 + 1, 1)


def test_white_image_lands_in_its_cell():
    images = torch.zeros(4, 1, 4, 4, dtype=torch.uint8)
    images[1] = 255  # second cell: row 0, column 1
    grid = make_grid(images, nrow=2, padding=2, pad_value=7)[..., 0]
    cell = grid[2:6, 8:12]  # top = padding, left = padding + (4 + padding)
    assert (cell == 255).all()
    assert (grid == 255).sum() == 16  # nowhere else
    assert (grid[:2] == 7).all() and (grid[:, 6:8] == 7).all()  # border and gutter are padding


def test_missing_cells_are_padding():
    images = torch.full((3, 1, 2, 2), 200, dtype=torch.uint8)
    grid = make_grid(images, nrow=2, padding=1, pad_value=9)[..., 0]
    assert (grid[4:6, 4:6] == 9).all()  # the fourth cell is empty
    assert (grid[4:6, 1:3] == 200).all()


def test_float_and_uint8_give_the_same_grid():
    generator = torch.Generator().manual_seed(0)
    as_uint8 = torch.randint(0, 256, (6, 3, 5, 5), generator=generator, dtype=torch.uint8)
    as_float = as_uint8.float() / 127.5 - 1  # exactly the inverse of to_uint8
    np.testing.assert_array_equal(make_grid(as_float, nrow=3), make_grid(as_uint8, nrow=3))


def test_bad_input_is_refused():
    with pytest.raises(ValueError):
        make_grid(torch.zeros(2, 2, 4, 4))  # two channels
    with pytest.raises(ValueError):
        make_grid(torch.zeros(3, 4, 4))
    with pytest.raises(ValueError):
        make_grid(torch.zeros(2, 1, 4, 4, dtype=torch.int64))


@pytest.mark.parametrize("channels", [1, 3])
def test_save_grid_writes_an_upscaled_png(tmp_path, channels):
    images = torch.rand(5, channels, 6, 6) * 2 - 1
    path = save_grid(images, tmp_path / "nested" / "grid.png", nrow=5, scale=3)
    assert path == tmp_path / "nested" / "grid.png"
    with Image.open(path) as picture:
        assert picture.size == (3 * (5 * 8 + 2), 3 * 8 + 6)  # (width, height)
        assert picture.mode == ("L" if channels == 1 else "RGB")
        pixels = np.asarray(picture)
    expected = make_grid(images, nrow=5).repeat(3, axis=0).repeat(3, axis=1)
    np.testing.assert_array_equal(pixels.reshape(expected.shape), expected)
    assert [p.name for p in path.parent.iterdir()] == ["grid.png"]  # no temporary file left
