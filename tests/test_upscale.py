"""`gankit upscale`: tiles equal the whole image, colour modes, bad input (exit code 2)."""

import numpy as np
import pytest
import torch
from PIL import Image

import gankit
from gankit.cli import main
from gankit.errors import GankitError
from gankit.upscale import upscale_files, upscale_tensor


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny srresnet run on grey images and one on RGB images (x2, 2 steps each)."""
    root = tmp_path_factory.mktemp("upscale")
    rng = np.random.default_rng(0)
    made = {}
    for mode, shape in (("L", (16, 16)), ("RGB", (16, 16, 3))):
        data = root / f"data-{mode}" / "DIV2K_train_HR"
        data.mkdir(parents=True)
        for i in range(8):
            Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(data / f"{i}.png")
        config = gankit.preset("srresnet")
        config.model.image_size, config.model.scale = 8, 2
        config.model.width, config.model.blocks = 8, 2
        config.train.steps, config.train.batch_size, config.train.tensorboard = 2, 4, False
        config.data.spec, config.out = f"superres:{data.parent}", str(root / f"run-{mode}")
        made[mode] = gankit.train(config)
    return made


def test_tiles_give_the_whole_image(runs):
    model = gankit.load(runs["RGB"])
    image = torch.rand(1, 3, 37, 29) * 2 - 1
    whole = model.translate(image)
    tiled = upscale_tensor(model, image, tile=8, overlap=24)
    assert tiled.shape == (1, 3, 74, 58)
    assert torch.allclose(tiled, whole, atol=1e-5)
    rough = upscale_tensor(model, image, tile=8, overlap=0)  # no context: seams differ
    assert not torch.allclose(rough, whole, atol=1e-5)


def test_upscale_files_keeps_names_modes_and_sizes(runs, tmp_path):
    inputs = tmp_path / "in"
    (inputs / "sub").mkdir(parents=True)
    Image.new("RGB", (10, 7), (200, 30, 10)).save(inputs / "colour.png")
    Image.new("L", (9, 12), 100).save(inputs / "sub" / "grey.jpg")
    for mode, run in runs.items():
        out = tmp_path / f"out-{mode}"
        written = upscale_files(run, inputs, out, tile=4, overlap=8)
        assert sorted(p.relative_to(out).as_posix() for p in written) == [
            "colour.png",
            "sub/grey.jpg",
        ]
        colour, grey = Image.open(out / "colour.png"), Image.open(out / "sub" / "grey.jpg")
        assert colour.size == (20, 14) and colour.mode == "RGB"
        assert grey.size == (18, 24) and grey.mode == "L"


def test_bad_input_is_refused_with_nothing_written(runs, tmp_path, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.new("RGB", (8, 8)).save(inputs / "a.png")
    (inputs / "b.png").write_bytes(b"not an image")
    out = tmp_path / "out"
    assert main(["upscale", str(runs["L"]), "--input", str(inputs), "--out", str(out)]) == 2
    assert "b.png: unreadable image" in capsys.readouterr().err and not out.exists()
    assert not list(tmp_path.glob(".out.*"))  # the staging folder is gone too
    code = main(["upscale", str(runs["L"]), "--input", str(inputs / "a.png"), "--out",
                 str(out), "--scale", "4"])  # fmt: skip
    assert code == 2 and "trained for x2 only" in capsys.readouterr().err
    with pytest.raises(GankitError, match="not a gankit run"):
        upscale_files(tmp_path, inputs / "a.png", out)
