"""The HTML run page: self-contained, escaped, and tolerant of a run that has just started."""

import json
import re

import pytest
import torch

from gankit.errors import GankitError
from gankit.report import save_grid, write_report

CONFIG = """model = "dcgan"
[data]
spec = "fashion-mnist"
note = "<b>&amp; not markup</b>"
"""


def make_run(run_dir, sample_steps=(500, 1000, 1500), with_metrics=True):
    (run_dir / "samples").mkdir(parents=True)
    (run_dir / "config.toml").write_text(CONFIG)
    for step in sample_steps:
        images = torch.full((4, 1, 8, 8), step / 1500 * 2 - 1)
        save_grid(images, run_dir / "samples" / f"step-{step:06d}.png")
    if with_metrics:
        lines = [
            {"step": s, "time": s / 10, "img_per_s": 900.0, "loss_d": 0.7, "loss_g": 1.2}
            for s in range(100, 1600, 100)
        ]
        lines += [{"step": 1000, "fid": 42.5, "kid": 0.031}, {"step": 1500, "fid": 37.25}]
        text = "\n".join(json.dumps(line) for line in lines) + "\n"
        (run_dir / "metrics.jsonl").write_text(text)
    return run_dir


def test_report_is_self_contained(tmp_path):
    run = make_run(tmp_path / "my-run")
    path = write_report(run)
    assert path == run / "report.html"
    page = path.read_text()
    # 1 latest grid + 3 thumbnails + the curves
    assert page.count('src="data:image/png;base64,') == 5
    assert (run / "curves.png").is_file()
    assert not re.search(r'(src|href)="(?!data:)', page)  # nothing loaded from elsewhere
    assert "samples/" not in page and "<link" not in page and "<script" not in page
    assert "my-run" in page and "dcgan" in page


def test_report_contents(tmp_path):
    page = write_report(make_run(tmp_path / "run")).read_text()
    assert "&lt;b&gt;&amp;amp; not markup&lt;/b&gt;" in page  # config escaped in the <pre>
    assert "<b>&amp; not markup</b>" not in page
    assert "37.25 at step 1,500" in page  # best FID
    assert "1,500" in page  # last step
    assert "step 500" in page and "step 1,500" in page  # timeline captions
    assert "<th>fid</th>" in page and "<td>42.5</td>" in page  # evaluation table


def test_timeline_is_subsampled(tmp_path):
    run = make_run(tmp_path / "run", sample_steps=range(100, 3100, 100), with_metrics=False)
    page = write_report(run).read_text()
    # 12 thumbnails + the latest grid; the first and the last grid are both among the thumbnails
    assert page.count("data:image/png;base64,") == 13
    assert "step 100<" in page and "step 3,000<" in page


def test_report_of_an_empty_run(tmp_path):
    page = write_report(tmp_path).read_text()
    assert "No sample grids yet" in page and "No metrics logged yet" in page
    assert "data:image" not in page
    assert not (tmp_path / "curves.png").exists()


def test_missing_run_dir(tmp_path):
    with pytest.raises(GankitError, match="does not exist"):
        write_report(tmp_path / "nope")
