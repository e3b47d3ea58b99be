import numpy as np
import pytest
from PIL import Image

from gankit.data import load_data
from gankit.data.folders import open_image
from gankit.errors import GankitError


def test_class_folders_become_labels_and_modes_are_converted(tmp_path):
    (tmp_path / "cats").mkdir()
    (tmp_path / "dogs" / "deep").mkdir(parents=True)
    Image.new("RGB", (40, 20), (255, 0, 0)).save(tmp_path / "cats" / "a.PNG")
    Image.new("RGBA", (20, 20), (0, 0, 255, 0)).save(tmp_path / "cats" / "b.png")
    Image.new("P", (30, 30), 3).save(tmp_path / "dogs" / "c.gif")
    Image.new("L", (30, 30), 128).save(tmp_path / "dogs" / "deep" / "d.JPEG")
    (tmp_path / "dogs" / "notes.txt").write_text("not an image")
    data = load_data(f"folder:{tmp_path}", image_size=16)
    assert data.images.shape == (4, 3, 16, 16)
    assert data.class_names == ["cats", "dogs"] and data.labels.tolist() == [0, 0, 1, 1]
    assert data.images[0, :, 8, 8].tolist() == [255, 0, 0]
    assert data.images[1, :, 8, 8].tolist() == [255, 255, 255]  # transparent -> white


def test_sixteen_bit_and_exif_orientation(tmp_path):
    deep = np.full((8, 8), 65535, dtype=np.uint16)
    Image.fromarray(deep).save(tmp_path / "deep.png")
    assert np.asarray(open_image(tmp_path / "deep.png", "L")).max() == 255
    image = Image.new("RGB", (20, 10), (0, 255, 0))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    image.save(tmp_path / "rotated.jpg", exif=exif)
    assert open_image(tmp_path / "rotated.jpg").size == (10, 20)


def test_errors_name_the_file(tmp_path):
    with pytest.raises(GankitError, match="no images found"):
        load_data(f"folder:{tmp_path}")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(GankitError, match="broken.png: unreadable image"):
        load_data(f"folder:{tmp_path}")
    with pytest.raises(GankitError, match="not a folder"):
        load_data(f"folder:{tmp_path / 'missing'}")
