import subprocess
import sys

import numpy as np
import pytest
from conftest import run_cli

from gankit.cli import main

TINY = [
    "--set",
    "model.z_dim=8",
    "--set",
    "model.width=4",
    "--set",
    "model.image_size=16",
    "--set",
    "train.tensorboard=false",
    "--batch-size",
    "16",
]


@pytest.fixture(scope="module")
def cgan_run(tiny_mnist, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "cgan"
    assert (
        main(
            [
                "train",
                "cgan",
                "--data",
                tiny_mnist,
                "--steps",
                "2",
                "--out",
                str(out),
                "--seed",
                "1",
                *TINY,
            ]
        )
        == 0
    )
    return out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "nope"], "unknown model 'nope'"),
        (["train", "dcgan", "--set", "train.lr=-1"], "train.lr must be positive"),
        (["train", "dcgan", "--batch-size", "0"], "train.batch_size must be positive"),
        (["train", "dcgan", "--set", "train.bogus=1"], "unknown key 'train.bogus'"),
        (["train", "dcgan", "--set", "model.image_size=30"], "image size 30 cannot be made"),
        (["train", "dcgan", "--set", "model.width=0"], "model.width must be positive"),
        (["train", "wgan-gp", "--set", "model.gp_weight=-1"], "model.gp_weight must be 0 or"),
        (["train", "dcgan", "--data", "mnist:/no/such/dir"], "/no/such/dir: no train-images"),
        (["train", "dcgan", "--data", "squares:/x"], "unknown data kind 'squares'"),
        (["train", "dcgan", "--resume", "/tmp"], "/tmp: not a gankit run"),
        (["sample", "/tmp", "--out", "x.npz"], "/tmp: not a gankit run"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    capsys, tmp_path, monkeypatch, args, message
):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, *args)
    assert code == 2
    assert err.startswith("gankit: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "runs").exists()


def test_existing_run_is_not_overwritten(cgan_run, tiny_mnist, capsys):
    before = (cgan_run / "checkpoints" / "last.safetensors").read_bytes()
    code, _, err = run_cli(capsys, "train", "cgan", "--data", tiny_mnist, "--out", cgan_run, *TINY)
    assert code == 2 and "already holds a run" in err
    assert (cgan_run / "checkpoints" / "last.safetensors").read_bytes() == before


def test_sample_npz_is_seeded_and_labelled(cgan_run, tmp_path, capsys):
    for name in ("a", "b"):
        assert (
            run_cli(
                capsys, "sample", cgan_run, "-n", 12, "--out", tmp_path / f"{name}.npz", "--seed", 0
            )[0]
            == 0
        )
    a, b = np.load(tmp_path / "a.npz"), np.load(tmp_path / "b.npz")
    assert a["arr_0"].shape == (12, 16, 16, 1) and a["arr_0"].dtype == np.uint8
    assert np.array_equal(a["arr_0"], b["arr_0"]) and a["arr_1"].tolist() == [
        i % 10 for i in range(12)
    ]
    code, _, _ = run_cli(
        capsys,
        "sample",
        cgan_run,
        "--labels",
        "0,3,7",
        "--grid",
        tmp_path / "grid.png",
        "--out",
        tmp_path / "c.npz",
    )
    assert code == 0 and (tmp_path / "grid.png").is_file()
    assert np.load(tmp_path / "c.npz")["arr_1"].tolist() == [0] * 8 + [3] * 8 + [7] * 8


def test_resume_extends_a_run(cgan_run, capsys):
    code, out, _ = run_cli(capsys, "train", "cgan", "--resume", cgan_run, "--steps", 3)
    assert code == 0 and str(cgan_run) in out
    assert (cgan_run / "samples" / "step-000003.png").is_file()
    code, _, err = run_cli(capsys, "train", "dcgan", "--resume", cgan_run)
    assert code == 2 and "is a cgan run, not dcgan" in err


def test_models_lists_every_preset_with_its_paper(capsys):
    code, out, _ = run_cli(capsys, "models")
    assert code == 0
    for name in ("gan", "dcgan", "dcgan-paper", "lsgan", "cgan", "wgan", "wgan-gp"):
        assert f"\n{name} " in "\n" + out
    assert "Gulrajani" in out and "differs from the paper" in out


def test_console_entry_point_runs():
    result = subprocess.run(
        [sys.executable, "-m", "gankit", "train", "nope"], capture_output=True, text=True
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_minutes_alone_trains_for_the_budget_not_the_presets_steps(tiny_mnist, tmp_path, capsys):
    out = tmp_path / "budget"
    code, _, err = run_cli(
        capsys, "train", "gan", "--data", tiny_mnist, "--minutes", "0.02", "--out", out, *TINY
    )
    assert code == 0, err
    config = (out / "config.toml").read_text()
    assert "steps = 1000000000" in config and "max_seconds = 1.2" in config
    grids = sorted((out / "samples").glob("step-*.png"))
    assert grids and int(grids[-1].stem.split("-")[1]) > 0  # it trained, and the clock stopped it
