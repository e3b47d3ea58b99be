"""Metrics reading and curve plotting."""

import json

import pytest
from PIL import Image

from gankit.errors import GankitError
from gankit.report import plot_curves, read_metrics
from gankit.report.curves import curve_keys, smooth


def write_lines(path, lines):
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_read_metrics_skips_blank_lines(tmp_path):
    path = write_lines(
        tmp_path / "m.jsonl", ['{"step": 1, "loss_d": 0.5}', "", "  ", '{"step": 2}']
    )
    assert read_metrics(path) == [{"step": 1, "loss_d": 0.5}, {"step": 2}]


def test_corrupt_line_names_file_and_line(tmp_path):
    path = write_lines(tmp_path / "m.jsonl", ['{"step": 1}', "", '{"step": 2,', '{"step": 3}'])
    with pytest.raises(GankitError, match=r"m\.jsonl: line 3 "):
        read_metrics(path)


def test_line_that_is_not_an_object_is_an_error(tmp_path):
    path = write_lines(tmp_path / "m.jsonl", ['{"step": 1}', "[1, 2]"])
    with pytest.raises(GankitError, match="line 2"):
        read_metrics(path)


def test_unfinished_last_line_is_skipped(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"step": 1}\n{"step": 2, "loss')  # the trainer is still writing it
    assert read_metrics(path) == [{"step": 1}]


def test_missing_file_is_a_gankit_error(tmp_path):
    with pytest.raises(GankitError, match="missing.jsonl"):
        read_metrics(tmp_path / "missing.jsonl")


def test_curve_keys_split():
    records = [
        {"step": 1, "time": 0.1, "epoch": 0, "loss_d": 1.0, "img_per_s": 9.0, "lr": 1e-3},
        {"step": 2, "fid": 30.0, "kid": 0.1, "flag": True, "note": "x", "loss_g": 2.0},
    ]
    assert curve_keys(records) == (["loss_d", "loss_g"], ["img_per_s"], ["fid", "kid", "lr"])


def test_smooth_is_bias_corrected():
    assert smooth([4.0, 4.0, 4.0], 0.9) == pytest.approx([4.0, 4.0, 4.0])
    assert smooth([0.0, 10.0], 0.0) == [0.0, 10.0]


def test_plot_curves_writes_a_png(tmp_path):
    records = [
        {"step": s, "time": s / 10, "loss_d": 1 / (s + 1), "loss_g": 2.0, "img_per_s": 800.0}
        for s in range(0, 3000, 100)
    ]
    records += [{"step": 1000, "fid": 80.0, "kid": 0.05}, {"step": 2000, "fid": float("nan")}]
    path = write_lines(tmp_path / "m.jsonl", [json.dumps(r) for r in records])
    out = plot_curves(read_metrics(path), tmp_path / "curves.png")
    assert out == tmp_path / "curves.png"
    with Image.open(out) as picture:
        picture.verify()
        assert picture.format == "PNG"
    with Image.open(out) as picture:  # four panels in two columns: wider than tall
        assert picture.width > picture.height > 0


def test_plot_curves_without_records_writes_nothing(tmp_path):
    assert plot_curves([], tmp_path / "curves.png") is None
    assert plot_curves([{"step": 1, "time": 2.0}], tmp_path / "curves.png") is None
    assert not (tmp_path / "curves.png").exists()
