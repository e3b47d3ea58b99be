"""Perceptual losses (feature, Gram/style, TV) and the feature networks of gankit.nn.perceptual."""

import pytest
import torch
from safetensors.torch import save_file

from gankit.errors import GankitError
from gankit.losses import feature_loss, gram_distance, gram_matrix, style_loss, total_variation
from gankit.nn.perceptual import (
    CONTENT_LAYER,
    STYLE_LAYERS,
    VGGFeatures,
    feature_network,
    vgg_layer_names,
    vgg_shapes,
)


def test_gram_matrix_of_a_known_tensor():
    # C=2, H=1, W=2: F = [[1, 2], [3, 4]]; F F^T = [[5, 11], [11, 25]], / (C H W = 4)
    features = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 1, 2)
    expected = torch.tensor([[5.0, 11.0], [11.0, 25.0]]) / 4
    assert torch.allclose(gram_matrix(features)[0], expected)


def test_gram_scales_with_the_square_of_the_features():
    features = torch.randn(3, 4, 5, 6)
    assert torch.allclose(gram_matrix(2.5 * features), 2.5**2 * gram_matrix(features), atol=1e-5)
    # style loss is the squared distance of Grams: a^4
    a, b = {"x": features}, {"x": torch.randn(3, 4, 5, 6)}
    scaled = style_loss({"x": 2 * a["x"]}, {"x": 2 * b["x"]}, {"x": 1.0})
    assert scaled.item() == pytest.approx(16 * style_loss(a, b, {"x": 1.0}).item(), rel=1e-4)


def test_losses_are_zero_for_identical_inputs_and_positive_otherwise():
    a = {"l1": torch.randn(2, 3, 8, 8), "l2": torch.randn(2, 5, 4, 4)}
    weights = {"l1": 1.0, "l2": 0.5}
    assert feature_loss(a, a, weights).item() == 0
    assert style_loss(a, a, weights).item() == 0
    b = {name: value + 0.1 * torch.randn_like(value) for name, value in a.items()}
    assert feature_loss(a, b, weights).item() > 0 and style_loss(a, b, weights).item() > 0


def test_feature_loss_is_the_weighted_mean_squared_distance():
    a = {"x": torch.zeros(1, 2, 2, 2), "y": torch.zeros(1, 1, 2, 2)}
    b = {"x": torch.full((1, 2, 2, 2), 2.0), "y": torch.ones(1, 1, 2, 2)}
    assert feature_loss(a, b, {"x": 1.0, "y": 3.0}).item() == pytest.approx(4.0 + 3.0)
    assert feature_loss(a, b, {"y": 1.0}).item() == pytest.approx(1.0)  # only the named layers
    with pytest.raises(ValueError, match="'z'"):
        feature_loss(a, b, {"z": 1.0})


def test_style_loss_matches_the_frobenius_distance_and_broadcasts_one_style():
    a = {"x": torch.randn(4, 3, 5, 5)}
    style = {"x": torch.randn(1, 3, 7, 7)}  # one style image of another size: Grams are C x C
    expected = (gram_matrix(a["x"]) - gram_matrix(style["x"])).square().sum((1, 2)).mean()
    assert style_loss(a, style, {"x": 2.0}).item() == pytest.approx(2 * expected.item(), rel=1e-5)
    grams = {"x": gram_matrix(style["x"])}
    given = gram_distance({"x": gram_matrix(a["x"])}, grams, {"x": 2.0})
    assert given.item() == pytest.approx(2 * expected.item(), rel=1e-5)


def test_total_variation_of_known_images():
    assert total_variation(torch.ones(1, 1, 4, 4)).item() == 0
    stripes = torch.tensor([[0.0, 1.0, 0.0, 1.0]]).repeat(4, 1).view(1, 1, 4, 4)  # vertical
    assert total_variation(stripes).item() == pytest.approx(1.0)  # horizontal steps of 1, squared
    assert total_variation(stripes.transpose(-1, -2)).item() == pytest.approx(1.0)
    assert total_variation(2 * stripes).item() == pytest.approx(4.0)


def test_vgg_layer_names_follow_the_papers():
    names = vgg_layer_names("vgg19")
    assert names.index("relu5_4") == 35  # SRGAN's VGG54: torchvision's features[:36]
    assert names.index("relu2_2") == vgg_layer_names("vgg16").index("relu2_2") == 8
    assert vgg_layer_names("vgg16").index("relu4_3") == 22  # Johnson et al.'s deepest style layer
    assert len(vgg_layer_names("vgg16")) == 31 and len(names) == 37  # torchvision's lengths
    assert len(vgg_shapes("vgg16")) == 26 and len(vgg_shapes("vgg19")) == 32  # 13 / 16 convs


@pytest.mark.parametrize("name", ["vgg16", "vgg19"])
def test_vgg_on_random_weights_gives_the_named_shapes(name):
    layers = ["relu1_2", CONTENT_LAYER[name], *STYLE_LAYERS[name], "pool3"]
    network = VGGFeatures(name, list(dict.fromkeys(layers)))
    out = network(torch.rand(2, 1, 32, 32) * 2 - 1)  # grey in: repeated to RGB inside
    assert set(out) == set(layers)
    assert out["relu1_2"].shape == (2, 64, 32, 32) and out["pool3"].shape == (2, 256, 4, 4)
    assert out[STYLE_LAYERS[name][-1]].shape == (2, 512, 4, 4)
    assert (out["relu1_2"] >= 0).all()
    # only as deep as needed: relu2_2 is features[8], so features[:9]
    assert len(VGGFeatures(name, ["relu2_2"]).features) == 9
    with pytest.raises(GankitError, match="no layer 'relu9_9'"):
        VGGFeatures(name, ["relu9_9"])


def torchvision_state(name: str) -> dict[str, torch.Tensor]:
    """A state_dict with torchvision's keys and shapes (random values, small classifier)."""
    state = {key: torch.randn(shape) * 0.01 for key, shape in vgg_shapes(name).items()}
    state["classifier.0.weight"] = torch.zeros(2, 2)  # torchvision's dense layers: ignored
    return state


def test_a_torchvision_format_file_loads_and_is_frozen(tmp_path):
    state = torchvision_state("vgg16")
    torch.save(state, tmp_path / "vgg16.pth")
    network = feature_network("vgg16", ["relu1_1", "relu2_2"], tmp_path / "vgg16.pth")
    images = torch.rand(1, 3, 8, 8) * 2 - 1
    # relu1_1 by hand: ImageNet-normalised input, the file's first convolution, ReLU
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    x = ((images + 1) / 2 - mean) / std
    first = torch.relu(
        torch.nn.functional.conv2d(x, state["features.0.weight"], state["features.0.bias"], 1, 1)
    )
    assert torch.allclose(network(images)["relu1_1"], first, atol=1e-5)
    assert list(network.parameters()) == [] and network.state_dict() == {}  # no owner state
    assert not network.train().training  # always eval
    save_file(state, str(tmp_path / "vgg16.safetensors"))
    same = feature_network("vgg16", ["relu1_1"], tmp_path / "vgg16.safetensors")
    assert torch.allclose(same(images)["relu1_1"], first, atol=1e-5)


def test_a_vgg_file_with_a_wrong_key_or_shape_names_it(tmp_path):
    state = torchvision_state("vgg19")
    state["features.5.weight"] = torch.zeros(128, 64, 5, 5)
    torch.save(state, tmp_path / "shape.pth")
    with pytest.raises(GankitError, match=r"shape\.pth: weight 'features\.5\.weight' has shape"):
        feature_network("vgg19", ["relu5_4"], tmp_path / "shape.pth")
    state = torchvision_state("vgg19")
    state["features.0.wieght"] = state.pop("features.0.weight")
    torch.save(state, tmp_path / "key.pth")
    with pytest.raises(GankitError, match=r"key\.pth: missing weight 'features\.0\.weight'"):
        feature_network("vgg19", ["relu1_1"], tmp_path / "key.pth")
    state = torchvision_state("vgg16")  # a VGG16 file given as VGG19
    torch.save(state, tmp_path / "vgg16.pth")
    with pytest.raises(GankitError, match="vgg16.pth: .*'features"):
        feature_network("vgg19", ["relu1_1"], tmp_path / "vgg16.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a state dict")
    with pytest.raises(GankitError, match="junk.pth: cannot read as a state_dict"):
        feature_network("vgg16", ["relu1_1"], tmp_path / "junk.pth")


def test_missing_vgg_weights_say_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(GankitError, match=r"hub/checkpoints/vgg19-dcbb9e9d\.pth"):
        feature_network("vgg19", ["relu5_4"])
    with pytest.raises(GankitError, match="unknown feature network 'alexnet'"):
        feature_network("alexnet", ["relu1_1"])


def test_the_fashion_network_runs_at_any_size_and_keeps_no_state():
    network = feature_network("fashion", list(STYLE_LAYERS["fashion"]))
    out = network(torch.rand(2, 3, 37, 50) * 2 - 1)  # RGB in: grey inside; no resizing
    assert out["stage1"].shape == (2, 32, 37, 50)
    assert out["stage2"].shape == (2, 64, 19, 25) and out["stage3"].shape == (2, 128, 10, 13)
    owner = torch.nn.Module()
    owner.features = network
    assert owner.state_dict() == {} and list(owner.parameters()) == []
    owner.train()
    assert not network.training
    images = torch.rand(1, 1, 28, 28) * 2 - 1
    assert feature_loss(network(images), network(images), {"stage2": 1.0}).item() == 0
    with pytest.raises(GankitError, match="no layer 'relu2_2'"):
        feature_network("fashion", ["relu2_2"])
