"""The run page: one self-contained `report.html` (images inlined) made from a run directory."""

from __future__ import annotations

import base64
import html
import io
import re
import statistics
from pathlib import Path
from typing import Any

from PIL import Image

from gankit.errors import GankitError
from gankit.report.curves import (
    EVAL_METRICS,
    THROUGHPUT_KEY,
    curve_keys,
    is_number,
    plot_curves,
    read_metrics,
)
from gankit.report.grid import write_bytes_atomic

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the model name is then shown as unknown
    tomllib = None

MAX_THUMBNAILS = 12
THUMBNAIL_WIDTH = 256  # px; larger grids are downscaled so the page stays a few MB at most
LATEST_MIN_WIDTH = 512  # px; small grids (28x28 samples) are upscaled by a whole factor to this

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; color: #222; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; }
h1 { margin-bottom: 0.1em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
.subtitle, .note, figcaption { color: #666; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
td, th { border: 1px solid #ddd; padding: 0.25em 0.7em; text-align: right; }
th { background: #f4f4f4; } .summary th { text-align: left; }
img { max-width: 100%; height: auto; } img.pixel { image-rendering: pixelated; }
.timeline { display: flex; flex-wrap: wrap; gap: 0.8em; align-items: flex-end; }
figure { margin: 0; text-align: center; } figcaption { font-size: 0.85em; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; font-size: 13px; }
"""


def write_report(run_dir: str | Path) -> Path:
    """Write `run_dir/report.html` (and `run_dir/curves.png`) from what the run has written so far.

    The page holds the run name, model, a summary table, the latest sample grid, the grids over
    time, the curves, the evaluation table and the config, each with a note when its files are
    missing (a run that has just started still gets a page). Every image is inlined as a base64
    data URI, so the one file can be mailed or moved. Returns the path of the page.
    """
    run_dir = Path(run_dir).resolve()
    if not run_dir.is_dir():
        raise GankitError(f"run directory {run_dir} does not exist")
    config_text = _read_config(run_dir / "config.toml")
    metrics_path = run_dir / "metrics.jsonl"
    records = read_metrics(metrics_path) if metrics_path.is_file() else []
    samples = _sample_files(run_dir / "samples")
    curves = plot_curves(records, run_dir / "curves.png")
    model = _model_name(config_text)
    body = [
        f"<h1>{html.escape(run_dir.name)}</h1>",
        f'<p class="subtitle">model: {html.escape(model)}</p>',
        _summary_section(records, len(samples)),
        _latest_section(samples),
        _timeline_section(samples),
        _curves_section(curves),
        _eval_section(records),
        _config_section(config_text),
    ]
    page = _page(f"{run_dir.name} - gankit report", "\n".join(body))
    return write_bytes_atomic(run_dir / "report.html", page.encode("utf-8"))


def _read_config(path: Path) -> str | None:
    """The config text, or None when the run has none (yet)."""
    return path.read_text(encoding="utf-8") if path.is_file() else None


def _model_name(config_text: str | None) -> str:
    """The model named in the config (`model = "dcgan"` or `[model] name = "dcgan"`)."""
    if config_text is None or tomllib is None:
        return "unknown"
    try:
        config = tomllib.loads(config_text)
    except tomllib.TOMLDecodeError:
        return "unknown (config.toml does not parse)"
    model = config.get("model")
    if isinstance(model, dict):
        model = model.get("name", model.get("family"))
    return model if isinstance(model, str) else "unknown"


def _sample_files(samples_dir: Path) -> list[tuple[int | None, Path]]:
    """(step, path) of the sample grids, oldest first; the step is read from `step-000500.png`."""
    if not samples_dir.is_dir():
        return []
    found = []
    for path in samples_dir.glob("*.png"):
        match = re.search(r"(\d+)$", path.stem)
        found.append((int(match.group(1)) if match else None, path))
    # Grids without a step number sort first, by name; the rest by step.
    return sorted(found, key=lambda item: (item[0] is not None, item[0] or 0, item[1].name))


def _summary_section(records: list[dict[str, Any]], sample_count: int) -> str:
    """The summary table: last step, wall time, last losses, throughput, best metrics."""
    rows = [("sample grids", str(sample_count))]
    steps = [record["step"] for record in records if is_number(record.get("step"))]
    if steps:
        rows.append(("last step", f"{max(steps):,}"))
    times = [record["time"] for record in records if is_number(record.get("time"))]
    if times:
        rows.append(("wall time", _duration(max(times))))
    losses, throughput, _ = curve_keys(records)
    for key in losses:
        rows.append((f"last {key}", _number(_last(records, key))))
    if throughput:
        speeds = [
            record[THROUGHPUT_KEY] for record in records if is_number(record.get(THROUGHPUT_KEY))
        ]
        rows.append(("images/s (median)", f"{statistics.median(speeds):,.0f}"))
    for key in ("fid", "kid"):
        best = _best(records, key)
        if best is not None:
            rows.append((f"best {key.upper()}", f"{_number(best[0])} at step {best[1]:,}"))
    cells = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f'<h2>Summary</h2>\n<table class="summary">{cells}</table>'


def _last(records: list[dict[str, Any]], key: str) -> float:
    """The value of `key` in the last record holding a number for it."""
    return next(record[key] for record in reversed(records) if is_number(record.get(key)))


def _best(records: list[dict[str, Any]], key: str) -> tuple[float, int] | None:
    """(lowest value, its step) of a lower-is-better metric, or None when never measured."""
    points = [(r[key], r.get("step", i)) for i, r in enumerate(records) if is_number(r.get(key))]
    points = [point for point in points if point[0] == point[0]]  # NaN never is the best
    return min(points) if points else None


def _latest_section(samples: list[tuple[int | None, Path]]) -> str:
    """The newest sample grid, upscaled by a whole factor when small so pixels stay square."""
    if not samples:
        return '<h2>Latest samples</h2>\n<p class="note">No sample grids yet.</p>'
    step, path = samples[-1]
    width, height = _image_size(path)
    factor = max(1, LATEST_MIN_WIDTH // width)
    caption = f"step {step:,}" if step is not None else path.name
    image = (
        f'<img class="pixel" src="{_data_uri(path.read_bytes())}" width="{width * factor}" '
        f'height="{height * factor}" alt="{html.escape(caption)}">'
    )
    return (
        f"<h2>Latest samples</h2>\n<figure>{image}"
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def _timeline_section(samples: list[tuple[int | None, Path]]) -> str:
    """Thumbnails of at most MAX_THUMBNAILS grids, evenly spread from the first to the last."""
    if len(samples) < 2:
        return ""  # the latest grid above already shows the only one
    count = min(MAX_THUMBNAILS, len(samples))
    picks = sorted({round(i * (len(samples) - 1) / (count - 1)) for i in range(count)})
    figures = []
    for index in picks:
        step, path = samples[index]
        data, width, height = _thumbnail(path)
        caption = html.escape(f"step {step:,}" if step is not None else path.name)
        figures.append(
            f'<figure><img class="pixel" src="{_data_uri(data)}" width="{width}" '
            f'height="{height}" alt="{caption}"><figcaption>{caption}</figcaption>'
            "</figure>"
        )
    note = f"{len(picks)} of {len(samples)} grids, fixed noise, oldest first"
    return (
        f'<h2>Samples over time</h2>\n<p class="note">{note}</p>\n'
        f'<div class="timeline">{"".join(figures)}</div>'
    )


def _curves_section(curves: Path | None) -> str:
    """The curves image written by `plot_curves`."""
    if curves is None:
        return '<h2>Curves</h2>\n<p class="note">No metrics logged yet.</p>'
    return f'<h2>Curves</h2>\n<img src="{_data_uri(curves.read_bytes())}" alt="training curves">'


def _eval_section(records: list[dict[str, Any]]) -> str:
    """A table of the evaluation lines (those with a known metric such as fid), or nothing."""
    _, _, others = curve_keys(records)
    columns = [key for key in others if key in EVAL_METRICS]
    rows = [record for record in records if any(is_number(record.get(k)) for k in columns)]
    if not rows:
        return ""
    header = "".join(f"<th>{html.escape(key)}</th>" for key in ["step", *columns])
    lines = []
    for record in rows:
        cells = [record.get("step", ""), *(record.get(key, "") for key in columns)]
        lines.append("<tr>" + "".join(f"<td>{_number(cell)}</td>" for cell in cells) + "</tr>")
    return f"<h2>Evaluation</h2>\n<table><tr>{header}</tr>{''.join(lines)}</table>"


def _config_section(config_text: str | None) -> str:
    """The resolved config, as text (it reproduces the run)."""
    if config_text is None:
        return '<h2>Config</h2>\n<p class="note">No config.toml in the run directory.</p>'
    return f"<h2>Config</h2>\n<pre>{html.escape(config_text)}</pre>"


def _image_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size


def _thumbnail(path: Path) -> tuple[bytes, int, int]:
    """(PNG bytes, width, height) of a grid at most THUMBNAIL_WIDTH wide; small ones unchanged."""
    with Image.open(path) as image:
        width, height = image.size
        if width <= THUMBNAIL_WIDTH:
            return path.read_bytes(), width, height
        size = (THUMBNAIL_WIDTH, max(1, round(height * THUMBNAIL_WIDTH / width)))
        buffer = io.BytesIO()
        image.convert("RGB").resize(size, Image.Resampling.LANCZOS).save(buffer, format="PNG")
    return buffer.getvalue(), *size


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _number(value: Any) -> str:
    """A metrics value as text: 4 significant digits for floats, ints with thousands commas."""
    if isinstance(value, float):
        return html.escape(f"{value:.4g}")
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return html.escape(str(value))


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


def _page(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )
