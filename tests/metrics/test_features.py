"""Feature networks: the shipped classifier, its training, and the FID InceptionV3 protocol."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from gankit.data import load_data
from gankit.errors import GankitError
from gankit.metrics.classifier import accuracy, augment, lr_at, train_classifier
from gankit.metrics.features import (
    FASHION_WEIGHTS,
    FashionClassifier,
    load_checked,
    load_classifier,
    load_feature_network,
    preprocess,
    read_metadata,
)
from gankit.metrics.inception import WEIGHTS_NAME, InceptionV3, load_inception


@pytest.fixture(scope="module")
def inception() -> InceptionV3:
    torch.manual_seed(0)
    return InceptionV3().eval()


def test_classifier_shapes_and_named_activations():
    net = FashionClassifier().eval()
    images = torch.rand(4, 1, 28, 28) * 2 - 1
    out = net.activations(images)
    assert list(out) == ["stage1", "stage2", "stage3", "features", "logits"]
    assert out["stage1"].shape == (4, 32, 28, 28) and out["stage3"].shape == (4, 128, 7, 7)
    features, logits = net.features_and_logits(images)
    assert features.shape == (4, 256) and logits.shape == (4, 10)
    torch.testing.assert_close(net(images), logits)
    torch.testing.assert_close(net.features(images), features)


def test_preprocess_converts_rgb_and_size():
    grey = torch.rand(2, 1, 56, 56) * 2 - 1
    rgb = grey.expand(-1, 3, -1, -1)
    out = preprocess(rgb)
    assert out.shape == (2, 1, 28, 28)
    torch.testing.assert_close(out, preprocess(grey))  # equal channels: luma is the grey value
    assert preprocess(torch.zeros(1, 3, 40, 30)).shape == (1, 1, 28, 28)  # centre-cropped
    same = torch.rand(1, 1, 28, 28)
    assert torch.equal(preprocess(same), same)
    with pytest.raises(GankitError, match="channels"):
        preprocess(torch.zeros(1, 4, 28, 28))


def test_shipped_classifier_loads_and_is_accurate():
    net = load_feature_network("fashion")
    assert net.num_classes == 10 and net.class_names[1] == "Trouser"
    assert not any(p.requires_grad for p in net.parameters())
    test = load_data("fashion-mnist", "test")
    order = torch.randperm(len(test), generator=torch.Generator().manual_seed(0))[:2000]
    subset = type(test)(test.images[order], test.labels[order], test.class_names)
    assert accuracy(net, subset) >= 0.92


def test_shipped_weights_record_how_they_were_made():
    metadata = read_metadata(FASHION_WEIGHTS)
    assert FASHION_WEIGHTS.stat().st_size < 2_000_000
    assert metadata["command"].startswith("python -m gankit.metrics.classifier")
    assert metadata["data"] == "fashion-mnist" and metadata["seed"] == "0"
    assert float(metadata["test_accuracy"]) >= 0.92
    assert json.loads(metadata["class_names"])[0] == "T-shirt/top"
    assert int(metadata["num_classes"]) == 10 and int(metadata["steps"]) > 0


def test_augment_keeps_shape_and_is_seeded():
    images = torch.rand(8, 1, 28, 28) * 2 - 1
    first = augment(images, torch.Generator().manual_seed(0))
    second = augment(images, torch.Generator().manual_seed(0))
    assert first.shape == images.shape and torch.equal(first, second)
    assert not torch.equal(first, images)


def test_augment_with_no_shift_only_flips():
    images = torch.rand(16, 1, 5, 5)
    out = augment(images, torch.Generator().manual_seed(1), shift=0)
    for original, result in zip(images, out, strict=True):
        assert torch.equal(result, original) or torch.equal(result, original.flip(-1))


def test_learning_rate_warms_up_and_decays():
    rates = [lr_at(step, 100, 1.0) for step in range(100)]
    assert rates[0] < rates[4] == pytest.approx(1.0) and rates[-1] < 0.01


def write_folder(root, classes=("bright", "dark"), count=20):
    rng = np.random.default_rng(0)
    for index, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(count):
            level = 200 if index == 0 else 40
            pixels = np.clip(rng.normal(level, 20, (20, 20)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels, "L").save(root / name / f"{i}.png")


def test_train_classifier_on_a_folder_saves_a_loadable_network(tmp_path):
    write_folder(tmp_path / "data")
    out = tmp_path / "net.safetensors"
    net, summary = train_classifier(
        f"folder:{tmp_path / 'data'}", out, steps=12, batch_size=8, log_every=0
    )
    assert summary["test_images"] == 4 and summary["train_images"] == 36  # a held-out tenth
    assert summary["test_accuracy"] >= 0.75
    loaded = load_feature_network(str(out))
    assert loaded.class_names == ["bright", "dark"] and loaded.num_classes == 2
    images = torch.rand(3, 1, 64, 64) * 2 - 1
    torch.testing.assert_close(loaded(images), net.eval()(images))
    assert "--steps 12" in read_metadata(out)["command"]


def test_train_classifier_needs_labels(tmp_path):
    (tmp_path / "flat").mkdir()
    Image.new("L", (8, 8)).save(tmp_path / "flat" / "a.png")
    with pytest.raises(GankitError, match="labelled"):
        train_classifier(f"folder:{tmp_path / 'flat'}", steps=1)


def test_load_classifier_errors(tmp_path):
    with pytest.raises(GankitError, match="not found"):
        load_classifier(tmp_path / "missing.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a file")
    with pytest.raises(GankitError, match="safetensors"):
        load_classifier(tmp_path / "junk.safetensors")


def test_unknown_feature_network_lists_known_ones():
    with pytest.raises(GankitError, match="fashion, inception"):
        load_feature_network("vgg")


def test_inception_shapes_and_key_names(inception):
    keys = inception.state_dict().keys()
    for key in (
        "Conv2d_1a_3x3.conv.weight",
        "Conv2d_4a_3x3.bn.running_var",
        "Mixed_5b.branch_pool.conv.weight",
        "Mixed_6e.branch7x7dbl_5.bn.bias",
        "Mixed_7c.branch3x3dbl_3b.conv.weight",
        "fc.weight",
        "fc.bias",
    ):
        assert key in keys
    assert not any(key.startswith("AuxLogits") for key in keys)
    assert inception.state_dict()["fc.weight"].shape == (1008, 2048)
    # torchvision's inception_v3 has 27,161,264 parameters; without the auxiliary classifier
    # (3,326,696) and with 1008 instead of 1000 classes (+16,392) the FID network has 23,850,960.
    assert sum(p.numel() for p in inception.parameters()) == 23_850_960
    with torch.no_grad():
        features, logits = inception.features_and_logits(torch.rand(2, 1, 28, 28) * 2 - 1)
    assert features.shape == (2, 2048) and logits.shape == (2, 1008)
    assert (features >= 0).all()  # pooled after a ReLU


def test_inception_resize_and_normalisation_protocol():
    images = torch.rand(2, 1, 32, 32) * 2 - 1
    out = InceptionV3.preprocess(images)
    assert out.shape == (2, 3, 299, 299)
    expected = F.interpolate(
        images.expand(-1, 3, -1, -1), size=(299, 299), mode="bilinear", align_corners=False
    )
    torch.testing.assert_close(out, expected)
    # pytorch-fid feeds [0, 1] images, resizes, then maps to [-1, 1] with 2x - 1: the same thing.
    unit = (images + 1) / 2
    fid_style = (
        2
        * F.interpolate(
            unit.expand(-1, 3, -1, -1), size=(299, 299), mode="bilinear", align_corners=False
        )
        - 1
    )
    torch.testing.assert_close(out, fid_style, atol=1e-6, rtol=0)
    assert out.min() >= -1 and out.max() <= 1


def test_inception_loads_a_state_dict_file_from_the_hub_cache(tmp_path, monkeypatch, inception):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(GankitError, match=WEIGHTS_NAME):
        load_inception()
    target = tmp_path / "hub" / "checkpoints" / WEIGHTS_NAME
    target.parent.mkdir(parents=True)
    state = {k: v for k, v in inception.state_dict().items() if "num_batches" not in k}
    torch.save(state, target)
    loaded = load_inception()
    torch.testing.assert_close(loaded.fc.weight, inception.fc.weight)
    assert not loaded.training


def test_inception_bad_files_name_the_file_and_key(tmp_path, inception):
    path = tmp_path / "weights.pth"
    torch.save({"conv.weight": torch.zeros(1)}, path)
    with pytest.raises(GankitError, match=r"weights\.pth: missing weight 'Conv2d_1a_3x3\.conv"):
        load_inception(path)
    state = dict(inception.state_dict())
    state["fc.weight"] = torch.zeros(1000, 2048)
    with pytest.raises(GankitError, match=r"'fc\.weight' has shape \(1000, 2048\)"):
        load_checked(InceptionV3(), state, path)
    state["fc.weight"] = inception.fc.weight
    state["AuxLogits.fc.weight"] = torch.zeros(1)
    with pytest.raises(GankitError, match="unexpected weight 'AuxLogits"):
        load_checked(InceptionV3(), state, path)
    path.write_bytes(b"garbage")
    with pytest.raises(GankitError, match="cannot read"):
        load_inception(path)
