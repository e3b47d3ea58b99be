"""Fast style transfer (Johnson et al. 2016): the transform net, training, stylize, bad input."""

import numpy as np
import pytest
import torch
from PIL import Image

import gankit
from gankit.cli import main
from gankit.errors import GankitError
from gankit.models.style_transfer import StyleTransfer, StyleTransferConfig, stylize_files
from gankit.nn.transform import TransformNet


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """(content folder of 12 grey 20 x 24 images, a 32 x 32 striped style image)."""
    root = tmp_path_factory.mktemp("style")
    rng = np.random.default_rng(0)
    (root / "content").mkdir()
    for i in range(12):
        image = rng.integers(0, 256, (20, 24), dtype=np.uint8)
        Image.fromarray(image).save(root / "content" / f"{i}.png")
    stripes = (np.indices((32, 32)).sum(0) % 8 < 4).astype(np.uint8) * 255
    Image.fromarray(stripes).save(root / "stripes.png")
    return root / "content", root / "stripes.png"


def tiny_config(content, style, out, steps=3) -> gankit.RunConfig:
    config = gankit.preset("style-transfer")
    config.model.style, config.model.image_size = str(style), 16
    config.model.width, config.model.blocks = 4, 1
    train = config.train
    train.steps, train.batch_size, train.log_every, train.tensorboard = steps, 4, 1, False
    config.data.spec, config.out = f"folder:{content}", str(out)
    return config


def test_transform_net_keeps_the_size_and_range():
    network = TransformNet(channels=3, width=4, blocks=2)
    output = network(torch.rand(2, 3, 12, 20) * 2 - 1)
    assert output.shape == (2, 3, 12, 20) and output.abs().max() <= 1
    assert sum(isinstance(m, torch.nn.InstanceNorm2d) for m in network.modules()) == 9  # 5+2x2
    assert network.stride == 4


def test_style_loss_falls_in_a_few_steps_and_checkpoints_stay_small(images, tmp_path):
    content, style = images
    run_dir = gankit.train(tiny_config(content, style, tmp_path / "run", steps=20))
    lines = [eval(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert len(lines) == 20 and {"content", "style", "tv"} <= set(lines[0])
    first = np.mean([line["style"] for line in lines[:3]])
    assert np.mean([line["style"] for line in lines[-3:]]) < 0.8 * first
    model = gankit.load(run_dir)
    assert all(key.startswith("generator.") for key in model.state_dict())  # no feature net
    assert model.config.style == str(style.resolve())  # absolute: a resume finds it anywhere


def test_loss_terms_are_the_papers_and_zero_content_for_identity(images):
    content, style = images
    config = StyleTransferConfig(style=str(style), image_size=16, channels=1, width=4, blocks=1)
    model = StyleTransfer(config)
    model.fit_data(None, 0)
    batch = {"image": torch.rand(2, 1, 16, 16) * 2 - 1}
    losses = model.generator_loss(batch, 0)
    expected = losses["content"] + 2.0 * losses["style"] + 1e-4 * losses["tv"]
    assert losses["loss"].item() == pytest.approx(expected.item(), rel=1e-5)
    model.generator = torch.nn.Identity()  # an output equal to its input: no content loss
    assert model.generator_loss(batch, 0)["content"].item() == 0


def test_stylize_writes_outputs_of_the_input_sizes(images, tmp_path):
    content, style = images
    run_dir = gankit.train(tiny_config(content, style, tmp_path / "run"))
    inputs = tmp_path / "inputs"
    (inputs / "sub").mkdir(parents=True)
    Image.fromarray(np.full((13, 30), 90, np.uint8)).save(inputs / "a.png")
    Image.fromarray(np.zeros((7, 5, 3), np.uint8)).save(inputs / "sub" / "b.jpg")  # RGB: grey
    written = gankit.stylize(run_dir, inputs, tmp_path / "out")  # the Python API door
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in written) == [
        "a.png",
        "sub/b.jpg",
    ]
    with Image.open(tmp_path / "out" / "a.png") as image:
        assert image.size == (30, 13) and image.mode == "L"
    with Image.open(tmp_path / "out" / "sub" / "b.jpg") as image:
        assert image.size == (5, 7)
    assert main(["stylize", str(run_dir), "--input", str(inputs / "a.png"), "--out",
                 str(tmp_path / "cli")]) == 0  # fmt: skip
    assert (tmp_path / "cli" / "a.png").is_file()


def test_bad_input_is_one_line_and_writes_nothing(images, tmp_path, capsys):
    content, style = images
    out = tmp_path / "never"
    code = main(["train", "style-transfer", "--data", f"folder:{content}", "--out", str(out),
                 "--steps", "1", "--style", str(tmp_path / "missing.png")])  # fmt: skip
    assert code == 2 and not out.exists()
    assert "missing.png: style image not found" in capsys.readouterr().err
    code = main(["train", "style-transfer", "--data", f"folder:{content}", "--out", str(out)])
    assert code == 2 and "needs a style image: --style" in capsys.readouterr().err
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(GankitError, match="bad.png: unreadable image"):
        gankit.train(tiny_config(content, tmp_path / "bad.png", out))
    config = tiny_config(content, style, out)
    config.model.features = "alexnet"
    with pytest.raises(GankitError, match="model.features must be one of"):
        gankit.train(config)
    config.model.features = "vgg16"
    config.model.feature_weights = str(tmp_path / "vgg16.pth")
    with pytest.raises(GankitError, match="vgg16 weights not found at"):
        gankit.train(config)
    assert not out.exists()


def test_stylize_refuses_a_run_of_another_model(images, tmp_path, tiny_mnist):
    config = gankit.preset("dcgan")
    config.model.width, config.model.z_dim, config.model.image_size = 4, 4, 16
    config.train.steps, config.train.tensorboard, config.data.spec = 1, False, tiny_mnist
    config.out = str(tmp_path / "dcgan")
    run_dir = gankit.train(config)
    with pytest.raises(GankitError, match="a dcgan run, not style-transfer"):
        stylize_files(run_dir, images[1], tmp_path / "out")
    assert not (tmp_path / "out").exists()
