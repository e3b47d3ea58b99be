"""`gankit data make fashion-attrs`, `gankit train stargan`, `gankit translate --attrs/--grid`,
`gankit eval` on a StarGAN run, and bad input: one line, exit code 2, nothing written."""

import json

import pytest
from PIL import Image

from gankit.cli import main
from gankit.metrics import attributes

TINY = [
    "--set",
    "model.width=4",
    "--set",
    "model.d_width=4",
    "--set",
    "model.blocks=1",
    "--set",
    "model.image_size=16",
    "--set",
    "train.tensorboard=false",
    "--batch-size",
    "8",
]


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_mnist):
    root = tmp_path_factory.mktemp("stargan-cli")
    task = root / "task"
    assert main(["data", "make", "fashion-attrs", str(task), "--train", "40", "--test", "10",
                 "--source", tiny_mnist]) == 0  # fmt: skip
    out = root / "run"
    argv = ["train", "stargan", "--data", f"celeba:{task}", "--steps", "2", "--out", str(out)]
    assert main(argv + ["--attrs", "Red,Green,Bold"] + TINY) == 0
    return out, task


def test_translate_sets_and_clears_named_attributes(run, tmp_path, capsys):
    out, task = run
    images = task / "images"
    argv = [
        "translate",
        str(out),
        "--input",
        str(images / "000002.png"),
        "--out",
        str(tmp_path / "o"),
    ]
    assert main(argv + ["--attrs", "+Red,-Bold"]) == 0
    assert Image.open(tmp_path / "o" / "000002.png").size == (16, 16)  # the model's size
    argv = ["translate", str(out), "--input", str(images), "--out", str(tmp_path / "all")]
    assert main(argv + ["--attrs", "Green", "--attr-file", str(task / "list_attr_celeba.txt")]) == 0
    assert len(list((tmp_path / "all").iterdir())) == 50
    assert "wrote 50 images" in capsys.readouterr().out


def test_grid_has_the_input_and_one_column_per_attribute(run, tmp_path, capsys):
    out, task = run
    argv = ["translate", str(out), "--input", str(task / "images" / "000001.png")]
    assert main(argv + ["--grid", str(tmp_path / "grid.png")]) == 0
    assert "columns: input, +Red, +Green, ~Bold" in capsys.readouterr().out
    width, height = Image.open(tmp_path / "grid.png").size
    assert height == 2 * (16 + 8) and width == 2 * (4 * 16 + 3 + 8)  # 2x, 4 px of white around


def test_eval_reports_attribute_accuracy(run, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(attributes, "CLASSIFIER_STEPS", 2)
    out, _ = run
    assert main(["eval", str(out), "--n", "5", "--json", str(tmp_path / "e.json")]) == 0
    results = json.loads((tmp_path / "e.json").read_text())
    assert {"accuracy_Red", "accuracy_Green", "accuracy_Bold", "accuracy", "kept"} <= set(results)
    assert "identity_accuracy" in capsys.readouterr().out


def expect_error(argv, capsys, *parts):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("gankit: error: ")
    for part in parts:
        assert part in err


def test_bad_input_is_one_line_and_writes_nothing(run, tmp_path, capsys):
    out, task = run
    image = str(task / "images" / "000001.png")
    target = tmp_path / "never"
    argv = ["translate", str(out), "--input", image, "--out", str(target)]
    expect_error(argv + ["--attrs", "+Framed"], capsys, "not trained on 'Framed'", "Red, Green")
    expect_error(argv + ["--attrs", "+Red", "--attr-file", str(tmp_path)], capsys, "not found")
    assert not target.exists()
    train = ["train", "stargan", "--data", f"celeba:{task}", "--steps", "1"]
    bald = train + ["--attrs", "Bald", "--out", str(target)] + TINY
    listed = "its attributes: Red, Green, Blue, Bold, Framed"
    expect_error(bald, capsys, "no attribute 'Bald'", "list_attr_celeba.txt", listed)
    lines = (task / "list_attr_celeba.txt").read_text().splitlines()
    broken = tmp_path / "broken"
    (broken / "images").mkdir(parents=True)
    (broken / "list_attr_celeba.txt").write_text("\n".join(lines[:3] + [lines[3] + " 1"]) + "\n")
    bad_row = ["train", "stargan", "--data", f"celeba:{broken}", "--out", str(target)] + TINY
    expect_error(bad_row, capsys, "list_attr_celeba.txt, line 4: 6 values, expected 5")
    assert not (target / "config.toml").exists()
