"""The StyleGAN commands: train, sample --truncation, interpolate, mix (and their errors)."""

import numpy as np
import pytest
from conftest import run_cli
from PIL import Image

from gankit.cli import main

TINY = [
    "--set",
    "model.z_dim=8",
    "--set",
    "model.w_dim=8",
    "--set",
    "model.width=4",
    "--set",
    "model.max_width=16",
    "--set",
    "model.image_size=16",
    "--set",
    "train.tensorboard=false",
    "--batch-size",
    "8",
    "--steps",
    "2",
]


@pytest.fixture(scope="module")
def style_run(tiny_mnist, tmp_path_factory):
    out = tmp_path_factory.mktemp("stylegan-cli") / "run"
    assert main(["train", "stylegan", "--data", tiny_mnist, "--out", str(out), *TINY]) == 0
    return out


def test_sample_with_truncation(style_run, tmp_path, capsys):
    grids = {}
    for psi in ("1.0", "0.0"):
        code, out, _ = run_cli(
            capsys, "sample", style_run, "-n", 8, "--truncation", psi, "--out", tmp_path / "s.npz"
        )
        assert code == 0 and "wrote 8 samples" in out
        grids[psi] = np.load(tmp_path / "s.npz")["arr_0"]
    assert grids["1.0"].shape == (8, 16, 16, 1)
    # psi = 0: every z maps to w_avg, so only the noise inputs make the images differ.
    assert (
        np.abs(np.diff(grids["0.0"].astype(int), axis=0)).mean()
        < np.abs(np.diff(grids["1.0"].astype(int), axis=0)).mean()
    )


def test_interpolate_writes_a_strip_and_a_gif(style_run, tmp_path, capsys):
    strip = tmp_path / "strip.png"
    code, out, _ = run_cli(
        capsys, "interpolate", style_run, "--seeds", "1,2,3", "--steps", 4, "--out", strip
    )
    assert code == 0 and "wrote 9 frames" in out
    assert Image.open(strip).size == (2 * (9 * 18 + 2), 2 * 20)  # 9 cells of 16 + padding, x2
    gif = Image.open(tmp_path / "strip.gif")
    assert gif.is_animated and gif.n_frames == 9 + 7  # there and back
    code, _, _ = run_cli(
        capsys, "interpolate", style_run, "--seeds", "1,2", "--space", "z",
        "--out", tmp_path / "z.png", "--gif", tmp_path / "z.gif", "--noise", "random",
    )  # fmt: skip
    assert code == 0 and (tmp_path / "z.gif").is_file()


def test_mix_writes_the_figure_3_grid(style_run, tmp_path, capsys):
    grid = tmp_path / "grid.png"
    code, out, _ = run_cli(
        capsys, "mix", style_run, "--rows", "1,2", "--cols", "4,5,6", "--out", grid
    )
    assert code == 0 and "style-mixing grid" in out
    # 16 x 16 images: coarse and fine ranges, so 1 + 2 x 2 rows of 1 + 3 cells.
    assert Image.open(grid).size == (2 * (4 * 18 + 2), 2 * (5 * 18 + 2))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sample", "RUN", "--grid", "g.png", "--truncation", "2"], "truncation psi must be in"),
        (["interpolate", "RUN", "--seeds", "1", "--out", "s.png"], "at least 2 seeds"),
        (["interpolate", "RUN", "--seeds", "a,b", "--out", "s.png"], "expected integers"),
        (["interpolate", "RUN", "--seeds", "1,2", "--space", "q", "--out", "s.png"], "w or z"),
        (["interpolate", "RUN", "--seeds", "1,2", "--steps", "0", "--out", "s.png"], "--steps"),
        (["mix", "RUN", "--rows", "1", "--cols", "2", "--noise", "x", "--out", "m.png"], "--noise"),
        (["train", "stylegan", "--set", "model.image_size=4"], "model.image_size 4"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(style_run, tmp_path, capsys, args, message):
    args = [style_run if a == "RUN" else tmp_path / a if a.endswith(".png") else a for a in args]
    code, _, err = run_cli(capsys, *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.glob("*.png"))  # nothing half-written


def test_style_commands_refuse_other_models(tiny_mnist, tmp_path, capsys):
    run = tmp_path / "dcgan"
    tiny = [a.replace("model.w_dim=8", "model.z_dim=8").replace("max_width=16", "width=4")
            for a in TINY]  # fmt: skip
    assert main(["train", "dcgan", "--data", tiny_mnist, "--out", str(run), *tiny]) == 0
    code, _, err = run_cli(
        capsys, "mix", run, "--rows", "1", "--cols", "2", "--out", tmp_path / "m.png"
    )
    assert code == 2 and "not a style-based model" in err
    code, _, err = run_cli(
        capsys, "sample", run, "--grid", tmp_path / "g.png", "--truncation", "0.5"
    )
    assert code == 2 and "only style-based models" in err
