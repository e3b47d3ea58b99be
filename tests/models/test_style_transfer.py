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


def test_tiled_stylization_is_close_to_the_whole_image_not_equal():
    """Instance norm sees each tile's own statistics: tiles are close to the whole image's
    output (with enough overlap), not equal to it; one tile is the whole image exactly."""
    torch.manual_seed(0)
    model = StyleTransfer(StyleTransferConfig(channels=3, width=8, blocks=2)).eval()
    coarse = torch.rand(1, 3, 48, 56) * 2 - 1
    image = torch.nn.functional.interpolate(coarse, size=(96, 110), mode="bilinear")
    whole = model.stylize(image, tile=1000)
    assert whole.shape == image.shape
    assert torch.equal(model.stylize(image, tile=110), whole)
    overlapped = model.stylize(image, tile=64, overlap=32)
    seamed = model.stylize(image, tile=64, overlap=0)
    assert overlapped.shape == seamed.shape == image.shape
    error = (overlapped - whole).abs().mean()
    assert error < 0.2 * whole.std()  # measured: 0.03 against a spread of 0.29
    assert error < 0.5 * (seamed - whole).abs().mean()
    assert not torch.allclose(overlapped, whole, atol=1e-3)  # not exact: instance norm


def test_stylize_tiles_large_images(images, tmp_path, capsys):
    content, style = images
    run_dir = gankit.train(tiny_config(content, style, tmp_path / "run"))
    Image.fromarray(np.full((41, 70), 90, np.uint8)).save(tmp_path / "big.png")
    args = ["stylize", run_dir, "--input", tmp_path / "big.png", "--out", tmp_path / "out"]
    assert main([str(a) for a in [*args, "--tile", "16", "--overlap", "8"]]) == 0
    with Image.open(tmp_path / "out" / "big.png") as image:
        assert image.size == (70, 41) and image.mode == "L"
    assert main([str(a) for a in [*args, "--tile", "0"]]) == 2
    assert "tile must be positive" in capsys.readouterr().err


def test_eval_every_is_turned_off_with_one_line(images, tmp_path, capsys):
    """Style transfer has no held-out score: evaluation during training is skipped, saying so."""
    from gankit import config as config_io

    content, style = images
    config = tiny_config(content, style, tmp_path / "run", steps=2)
    config.train.eval_every = 1
    run_dir = gankit.train(config)
    lines = [line for line in capsys.readouterr().err.splitlines() if "eval_every" in line]
    assert lines == [
        "gankit: train.eval_every ignored: style-transfer runs have no held-out score (look at "
        "the run's samples/ grids, or `gankit stylize` images)"
    ]
    assert config_io.load(run_dir / "config.toml").train.eval_every == 0
    assert (run_dir / "checkpoints" / "last.safetensors").is_file()
