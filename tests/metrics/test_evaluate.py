"""`evaluate`: sources, reference caching, conditional accuracy, errors, the table."""

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.data import load_data
from gankit.errors import GankitError
from gankit.metrics.evaluate import (
    embed,
    evaluate,
    features_of,
    format_table,
    load_npz,
    reference_path,
)
from gankit.metrics.features import load_feature_network

REF = "fashion-mnist:test"


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def test_set():
    return load_data("fashion-mnist", "test")


def write_npz(path, images_nchw, labels=None):
    arrays = {"arr_0": images_nchw.permute(0, 2, 3, 1).numpy()}
    if labels is not None:
        arrays["arr_1"] = labels.numpy()
    np.savez(path, **arrays)
    return path


class FakeGenerator:
    """A 'conditional generator' that returns real test images of the requested classes."""

    num_classes = 10

    def __init__(self, data):
        self.data = data

    def sample(self, n, labels=None, seed=None):
        generator = torch.Generator().manual_seed(seed)
        picks = []
        for label in labels.tolist():
            candidates = (self.data.labels == label).nonzero().flatten()
            picks.append(candidates[torch.randint(len(candidates), (1,), generator=generator)])
        return self.data.batch(torch.cat(picks))["image"]


def test_real_images_score_well_and_cache_the_reference(tmp_path, test_set):
    npz = write_npz(tmp_path / "samples.npz", test_set.images[-600:], test_set.labels[-600:])
    results = evaluate(npz, n=600, ref=REF, batch_size=256)
    assert set(results) >= {"fid", "kid", "kid_std", "is", "is_std", "precision", "recall"}
    assert results["class_accuracy"] > 0.9 and results["n"] == 600
    assert results["precision"] > 0.6 and results["recall"] > 0.6
    assert 5 < results["is"] <= 10
    assert reference_path(REF, "fashion", 600).is_file()
    again = evaluate(npz, metrics=["fid", "pr"], n=600, ref=REF)  # from the cache
    assert all(again[key] == results[key] for key in ("fid", "precision", "recall"))


def test_noise_scores_worse_than_real_images(tmp_path, test_set):
    real = evaluate(test_set.images[-600:], metrics=["fid", "is"], n=600, ref=REF)
    noise = torch.randint(0, 256, (600, 1, 28, 28), dtype=torch.uint8)
    fake = evaluate(noise, metrics=["fid", "is"], n=600, ref=REF)
    assert fake["fid"] > 10 * real["fid"] and fake["is"] < real["is"] / 2
    assert "class_accuracy" not in fake


def test_conditional_generator_gets_class_accuracy(test_set):
    results = evaluate(FakeGenerator(test_set), metrics=["is"], n=200, ref=REF, batch_size=64)
    assert results["class_accuracy"] > 0.85 and results["n"] == 200


def test_image_folder_labels_are_matched_by_class_name(tmp_path, test_set):
    for label, name in ((1, "Trouser"), (8, "Bag")):
        folder = tmp_path / "images" / name
        folder.mkdir(parents=True)
        for i, index in enumerate((test_set.labels == label).nonzero().flatten()[:10].tolist()):
            Image.fromarray(test_set.images[index, 0].numpy(), "L").save(folder / f"{i}.png")
    results = evaluate(tmp_path / "images", metrics=["is"], n=100, ref=REF)
    assert results["n"] == 20 and results["class_accuracy"] >= 0.9


def test_too_few_samples_for_fid(tmp_path, test_set):
    with pytest.raises(GankitError, match="got 100 samples of 256-d features, need at least 257"):
        evaluate(test_set.images[:100], metrics=["fid"], n=100, ref=REF)
    (tmp_path / "ref").mkdir()
    for i in range(20):
        Image.fromarray(test_set.images[i, 0].numpy(), "L").save(tmp_path / "ref" / f"{i}.png")
    with pytest.raises(GankitError, match="FID's reference set needs more samples"):
        evaluate(test_set.images[:300], metrics=["fid"], n=300, ref=f"folder:{tmp_path / 'ref'}")


def test_npz_with_bad_dtype_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "floats.npz"
    np.savez(path, np.zeros((4, 28, 28, 1), dtype=np.float32))
    with pytest.raises(GankitError, match=r"floats\.npz: arr_0 must be uint8"):
        evaluate(path, metrics=["is"], n=4)


def test_npz_with_bad_labels_or_layout_is_an_error(tmp_path):
    images = np.zeros((4, 28, 28, 1), dtype=np.uint8)
    np.savez(tmp_path / "labels.npz", images, np.zeros(3, dtype=np.int64))
    with pytest.raises(GankitError, match="arr_1 must be integer labels"):
        load_npz(tmp_path / "labels.npz", 10)
    np.savez(tmp_path / "nchw.npz", np.zeros((4, 1, 28, 28), dtype=np.uint8))
    with pytest.raises(GankitError, match="N x H x W x C"):
        load_npz(tmp_path / "nchw.npz", 10)
    (tmp_path / "broken.npz").write_bytes(b"nope")
    with pytest.raises(GankitError, match="broken.npz"):
        load_npz(tmp_path / "broken.npz", 10)


def test_npz_is_truncated_to_n(tmp_path):
    write_npz(tmp_path / "s.npz", torch.zeros(8, 3, 16, 16, dtype=torch.uint8))
    samples = load_npz(tmp_path / "s.npz", 5)
    (images,) = samples.chunks
    assert images.shape == (5, 3, 16, 16) and samples.labels is None


def test_unknown_source_and_metric(tmp_path):
    with pytest.raises(GankitError, match="not a run directory"):
        evaluate(tmp_path / "nothing.txt", metrics=["is"])
    with pytest.raises(GankitError, match="unknown metric 'lpips'"):
        evaluate(torch.zeros(20, 1, 28, 28), metrics=["fid", "lpips"])


def test_features_of_accepts_uint8_float_and_chunks(test_set):
    net = load_feature_network("fashion")
    images = test_set.images[:50]
    from_uint8 = features_of(images, net, batch_size=16)
    from_float = features_of(images.float() / 127.5 - 1, net)
    from_chunks, logits = embed([images[:20], images[20:]], net)
    assert from_uint8.shape == (50, 256) and logits.shape == (50, 10)
    torch.testing.assert_close(from_uint8, from_float)
    torch.testing.assert_close(from_uint8, from_chunks)


def test_format_table():
    table = format_table({"fid": 12.3456, "kid": 0.01, "kid_std": 0.002, "n": 10, "ref": REF})
    lines = table.splitlines()
    assert lines[0].split() == ["metric", "value"]
    assert "12.3456" in table and "0.0100 ± 0.0020" in table and "kid_std" not in table
    assert lines[-1].split() == ["ref", REF]


def test_density_coverage_metric(test_set):
    results = evaluate(test_set.images[-400:], metrics=["dc"], n=400, ref=REF)
    assert set(results) >= {"density", "coverage"} and results["coverage"] > 0.5
