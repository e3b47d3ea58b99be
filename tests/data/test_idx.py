import gzip

import numpy as np
import pytest
import torch
from conftest import write_idx

from gankit.data import Batcher, load_data
from gankit.data.idx import read_idx
from gankit.errors import GankitError


def test_gzip_detected_from_magic_not_name(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    plain = write_idx(tmp_path / "a.gz", array)  # named .gz but not compressed
    packed = tmp_path / "b-idx3-ubyte"
    packed.write_bytes(gzip.compress(plain.read_bytes()))  # compressed, no .gz
    assert np.array_equal(read_idx(plain), array)
    assert np.array_equal(read_idx(packed), array)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"\x00\x00\x99\x01\x00\x00\x00\x01\x05", "bad magic"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00\x02\x01", "size mismatch"),
        (b"\x1f\x8bgarbage", "corrupt gzip"),
        (b"", "bad magic"),
    ],
)
def test_bad_files_name_the_file(tmp_path, payload, message):
    path = tmp_path / "bad-idx"
    path.write_bytes(payload)
    with pytest.raises(GankitError, match=message) as error:
        read_idx(path)
    assert str(path) in str(error.value)


def test_load_real_layout_and_resize(tiny_mnist):
    train = load_data(tiny_mnist)
    assert train.images.shape == (256, 1, 28, 28) and train.images.dtype == torch.uint8
    assert train.num_classes == 10  # MNIST has ten classes even if few appear
    test = load_data(tiny_mnist + ":test", image_size=32, channels=3)
    assert test.images.shape == (64, 3, 32, 32)
    batch = test.batch(torch.tensor([0, 1]))
    assert batch["image"].min() >= -1 and batch["image"].max() <= 1


def test_missing_location_is_a_clear_error(tmp_path):
    with pytest.raises(GankitError, match="no train-images-idx3-ubyte"):
        load_data(f"mnist:{tmp_path}")
    with pytest.raises(GankitError, match="unknown data kind 'nope'; known:"):
        load_data("nope:/x")


def test_batcher_epochs_cover_data_once_and_resume_exactly(tiny_mnist):
    dataset = load_data(tiny_mnist)
    dataset.labels = torch.arange(len(dataset))  # tag each image with its index
    batcher = Batcher(dataset, 64, seed=3)
    seen = torch.cat([batcher.next()["label"] for _ in range(4)])
    assert sorted(seen.tolist()) == list(range(256))  # one epoch: each image exactly once
    state = batcher.state_dict()
    expected = [batcher.next()["label"] for _ in range(3)]
    resumed = Batcher(dataset, 64, seed=3)
    resumed.load_state_dict(state)
    assert all(torch.equal(a, resumed.next()["label"]) for a in expected)
    first_shard = Batcher(dataset, 32, seed=3, shard=0, num_shards=2)
    second_shard = Batcher(dataset, 32, seed=3, shard=1, num_shards=2)
    a = torch.cat([first_shard.next()["label"] for _ in range(4)])
    b = torch.cat([second_shard.next()["label"] for _ in range(4)])
    assert not set(a.tolist()) & set(b.tolist())
