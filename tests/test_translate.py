"""`gankit translate`, `gankit eval` of image-to-image runs, `gankit data make`, and bad input."""

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

import gankit
from gankit.cli import main
from gankit.data.paired import load_pairs
from gankit.errors import GankitError
from gankit.metrics import translation
from gankit.models.cyclegan import CycleGAN
from gankit.models.pix2pix import Pix2Pix
from gankit.translation import pad_to_multiple, translate_files


def write_pairs(root, n=24, size=16):
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        (root / split).mkdir(parents=True)
        for i in range(n):
            a = rng.integers(0, 256, (size, size), dtype=np.uint8)
            Image.fromarray(np.concatenate([a, 255 - a], 1)).save(root / split / f"{i}.png")
    return f"pairs:{root}"


def write_unpaired(root, n=16, size=16):
    rng = np.random.default_rng(1)
    for name in ("trainA", "trainB", "testA", "testB"):
        (root / name).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (size, size), np.uint8)).save(
                root / name / f"{i}.png"
            )
    return f"unpaired:{root}"


def tiny(name, family, data, out):
    config = gankit.preset(name)
    for key, value in dataclasses.asdict(family.tiny_config()).items():
        if key != "channels":
            setattr(config.model, key, value)
    config.train.steps, config.train.batch_size, config.train.tensorboard = 2, 8, False
    config.data.spec, config.out = data, str(out)
    return config


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("translate")
    pairs = write_pairs(root / "pairs")
    unpaired = write_unpaired(root / "unpaired")
    return {
        "pix2pix": gankit.train(tiny("pix2pix", Pix2Pix, pairs, root / "p2p")),
        "cyclegan": gankit.train(tiny("cyclegan", CycleGAN, unpaired, root / "cycle")),
        "root": root,
    }


def test_padding_to_the_stride_crops_back_exactly():
    images = torch.arange(2 * 5 * 7.0).view(1, 2, 5, 7)
    padded, (top, left, height, width) = pad_to_multiple(images, 4)
    assert padded.shape == (1, 2, 8, 8) and (top, left, height, width) == (1, 0, 5, 7)
    assert torch.equal(padded[..., top : top + height, left : left + width], images)
    assert torch.equal(padded[..., 0, :7], images[..., 1, :])  # reflection, not zeros
    tiny, _ = pad_to_multiple(torch.ones(1, 1, 2, 3), 16)  # smaller than the padding: replicate
    assert tiny.shape == (1, 1, 16, 16) and torch.equal(tiny, torch.ones(1, 1, 16, 16))


def test_translate_writes_each_input_at_its_size_under_its_name(runs, tmp_path):
    inputs = tmp_path / "in"
    (inputs / "sub").mkdir(parents=True)
    Image.new("L", (37, 21), 40).save(inputs / "odd.png")
    Image.new("RGB", (16, 16), (200, 10, 10)).save(inputs / "sub" / "colour.JPG")
    written = translate_files(runs["pix2pix"], inputs, tmp_path / "out")
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in written) == [
        "odd.png",
        "sub/colour.JPG",
    ]
    assert Image.open(tmp_path / "out" / "odd.png").size == (37, 21)
    with Image.open(tmp_path / "out" / "sub" / "colour.JPG") as image:
        assert image.format == "JPEG" and image.size == (16, 16) and image.mode == "L"
    single = translate_files(runs["pix2pix"], inputs / "odd.png", tmp_path / "one")
    assert [p.name for p in single] == ["odd.png"]


def test_cyclegan_translates_either_way(runs, tmp_path):
    image = tmp_path / "x.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (20, 24), np.uint8)).save(image)
    there = translate_files(runs["cyclegan"], image, tmp_path / "ab", direction="AtoB")[0]
    back = translate_files(runs["cyclegan"], image, tmp_path / "ba", direction="BtoA")[0]
    assert not np.array_equal(np.asarray(Image.open(there)), np.asarray(Image.open(back)))


def test_pix2pix_translates_its_own_direction_only(runs, tmp_path):
    with pytest.raises(GankitError, match="translates AtoB only"):
        translate_files(runs["pix2pix"], runs["root"] / "pairs" / "test", tmp_path / "o", "BtoA")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda d: (d / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20),
            "b.png: unreadable",
        ),
        (lambda d: (d / "notes.txt").unlink() or (d / "a.png").unlink(), "no images found"),
    ],
)
def test_bad_input_is_exit_2_naming_the_file_and_writes_nothing(
    runs, tmp_path, capsys, make, message
):
    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.new("L", (16, 16)).save(inputs / "a.png")
    (inputs / "notes.txt").write_text("not an image")
    make(inputs)
    out = tmp_path / "out"
    code = main(["translate", str(runs["pix2pix"]), "--input", str(inputs), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
    assert not out.exists() and not list(tmp_path.glob(".out*"))  # no output, no staging left


def test_translate_refuses_a_noise_model_run(tiny_mnist, tmp_path, capsys):
    config = gankit.preset("dcgan")
    config.model.z_dim, config.model.width, config.model.image_size = 8, 4, 16
    config.train.steps, config.train.batch_size, config.train.tensorboard = 1, 16, False
    config.data.spec, config.out = tiny_mnist, str(tmp_path / "dcgan")
    run = gankit.train(config)
    code = main(["translate", str(run), "--input", str(tmp_path), "--out", str(tmp_path / "o")])
    assert code == 2 and "generates images from noise" in capsys.readouterr().err


def test_training_on_the_wrong_kind_of_data_is_refused(tiny_mnist, runs, capsys, tmp_path):
    code = main(["train", "pix2pix", "--data", tiny_mnist, "--out", str(tmp_path / "p")])
    assert code == 2 and "pix2pix trains on aligned pairs" in capsys.readouterr().err
    pairs = f"pairs:{runs['root'] / 'pairs'}"
    with pytest.raises(GankitError, match="cyclegan trains on two unaligned sets"):
        gankit.train(tiny("cyclegan", CycleGAN, pairs, tmp_path / "c"))
    assert not list(tmp_path.iterdir())


def test_eval_of_a_pix2pix_run_reports_its_scores_and_the_identity_baseline(runs, tmp_path):
    results = gankit.evaluate(runs["pix2pix"])
    data = load_pairs(runs["root"] / "pairs", "test", size=16)
    identity = ((data.a.double() - data.b.double()).abs() / 255).mean().item()
    assert results["identity_l1"] == pytest.approx(identity)
    assert 0 < results["l1"] < 1 and results["n"] == 24 and "fid skipped" in results["note"]
    assert {"psnr", "ssim", "identity_psnr", "identity_ssim"} <= set(results)
    grid = tmp_path / "grid.png"
    assert main(["eval", str(runs["pix2pix"]), "--grid", str(grid)]) == 0
    # 16 examples, 4 per row; a cell is 3 images of 16 px and 2 separators; 4 px gaps; 2x scale
    assert Image.open(grid).size == (2 * (4 * (3 * 16 + 2 + 4) + 4), 2 * (4 * (16 + 4) + 4))


def test_eval_of_a_cyclegan_run_scores_both_directions(runs):
    results = gankit.evaluate(runs["cyclegan"])
    for direction in ("a_to_b", "b_to_a"):
        assert 0 < results[f"{direction}_cycle_l1"] < 1
    assert results["n_a"] == results["n_b"] == 16


def test_identity_model_scores_like_its_baseline(runs):
    model = gankit.load(runs["pix2pix"])
    model.translate = lambda images, direction=None, generator=None: images.clone()
    data = translation.held_out(model, model.run_config.data.spec)
    net = translation.load_feature_network("fashion")
    results = translation.evaluate_pairs(model, data, 24, net, None)
    for key in ("l1", "psnr", "ssim"):
        assert results[key] == pytest.approx(results[f"identity_{key}"])


def test_target_share_uses_the_task_file_classes():
    info = {"A": "Sneaker", "B": "Sandal", "A_label": 7, "B_label": 5}
    names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker"]
    assert translation.class_index(info, "B", names) == 5
    assert translation.class_index({"B": "?", "B_label": 3}, "B", names) == 3
    assert translation.class_index({}, "B", names) is None


def test_data_make_refuses_a_non_empty_root(tmp_path, capsys):
    (tmp_path / "x").write_text("x")
    assert main(["data", "make", "edges2fashion", str(tmp_path)]) == 2
    assert "not an empty folder" in capsys.readouterr().err
