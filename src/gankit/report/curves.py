"""Training curves: read `metrics.jsonl`; plot losses, throughput and eval metrics to a PNG."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

from gankit.errors import GankitError
from gankit.report.grid import write_bytes_atomic

# Keys that index a record rather than measure something: never plotted.
AXIS_KEYS = ("step", "time", "epoch")
THROUGHPUT_KEY = "img_per_s"
# Evaluation metrics, in the order their panels and table columns appear, with whether lower is
# better. Keys not listed here still get a panel (after these), but not a place in the eval table.
EVAL_METRICS: dict[str, bool] = {
    "fid": True,
    "kid": True,
    "kid_std": True,
    "is": False,
    "is_std": False,
    "precision": False,
    "recall": False,
    "class_accuracy": False,
    "psnr": False,
    "ssim": False,
}


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The records of a `metrics.jsonl` file, one dict per non-blank line, in file order.

    A line that is not a JSON object raises `GankitError` naming the file and the line number. The
    one exception is a last line without its newline: that is a write in progress (the trainer
    appending while we read) or one cut short by a crash, so it is skipped, not an error.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise GankitError(f"cannot read metrics file {path}: {error.strerror}") from None
    lines = text.split("\n")
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            if number == len(lines):  # no newline after it: an unfinished write
                break
            raise GankitError(f"{path}: line {number} is not valid JSON ({error.msg})") from None
        if not isinstance(record, dict):
            raise GankitError(f"{path}: line {number} is not a JSON object")
        records.append(record)
    return records


def is_number(value: Any) -> bool:
    """Whether a metrics value is a plottable number (bools are ints in Python, but not numbers)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def curve_keys(records: list[dict[str, Any]]) -> tuple[list[str], list[str], list[str]]:
    """Split the numeric keys of `records` into (losses, throughput, other metrics).

    Losses are the keys starting with "loss", in order of first appearance; throughput is
    ["img_per_s"] when present; the rest are evaluation and other metrics, known ones first.
    """
    seen: dict[str, None] = {}  # an ordered set: first appearance decides the order
    for record in records:
        for key, value in record.items():
            if key not in AXIS_KEYS and is_number(value):
                seen.setdefault(key)
    losses = [key for key in seen if key.startswith("loss")]
    throughput = [key for key in seen if key == THROUGHPUT_KEY]
    known = [key for key in EVAL_METRICS if key in seen]
    rest = [key for key in seen if key not in losses + throughput + known]
    return losses, throughput, known + rest


def series(records: list[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    """(steps, values) of the records holding a number for `key`; a record without "step" uses
    its index, so a log without steps still plots."""
    steps, values = [], []
    for index, record in enumerate(records):
        value = record.get(key)
        if is_number(value):
            steps.append(record.get("step", index))
            values.append(float(value))
    return steps, values


def smooth(values: list[float], weight: float) -> list[float]:
    """Exponential moving average with bias correction (as TensorBoard's smoothing slider), so the
    first points are not dragged towards zero. Non-finite values are skipped, not propagated."""
    smoothed, average, total_weight = [], 0.0, 0.0
    for value in values:
        if math.isfinite(value):
            average = weight * average + (1 - weight) * value
            total_weight = weight * total_weight + (1 - weight)
        smoothed.append(average / total_weight if total_weight else math.nan)
    return smoothed


def plot_curves(
    records: list[dict[str, Any]], path: str | Path, smoothing: float = 0.8
) -> Path | None:
    """Plot `records` (from `read_metrics`) to a PNG at `path`, written atomically.

    One panel for the losses, one for throughput (img_per_s), one per other metric (fid, kid, ...),
    all against the step. Loss curves with more than 20 points are drawn raw and faint with an
    EMA-smoothed line (`smoothing` in [0, 1), 0 = off) on top, since GAN losses are noisy.
    Returns None, writing nothing, when no record holds a number to plot.
    """
    losses, throughput, others = curve_keys(records)
    panels = ([losses] if losses else []) + [[key] for key in throughput + others]
    if not panels:
        return None
    # The object-oriented API with no pyplot: no global backend or figure state, safe in threads.
    # Imported here so that code that only saves grids does not pay for matplotlib.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    columns = 1 if len(panels) == 1 else 2
    rows = math.ceil(len(panels) / columns)
    figure = Figure(figsize=(6 * columns, 3.2 * rows), layout="constrained")
    FigureCanvasAgg(figure)
    axes_list = figure.subplots(rows, columns, squeeze=False).ravel()
    for axes, keys in zip(axes_list, panels, strict=False):
        _draw_panel(axes, records, keys, smoothing)
    for axes in axes_list[len(panels) :]:
        axes.set_visible(False)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return write_bytes_atomic(path, buffer.getvalue())


def _draw_panel(
    axes: Any, records: list[dict[str, Any]], keys: list[str], smoothing: float
) -> None:
    """Draw the curves of `keys` on one matplotlib Axes, titled by what they measure."""
    is_loss = keys[0].startswith("loss")
    for index, key in enumerate(keys):
        steps, values = series(records, key)
        colour = f"C{index}"
        marker = "o" if len(steps) <= 30 else None  # sparse eval points are easier to read as dots
        if is_loss and smoothing > 0 and len(values) > 20:
            axes.plot(steps, values, color=colour, alpha=0.25, linewidth=0.8)
            axes.plot(steps, smooth(values, smoothing), color=colour, label=key, linewidth=1.5)
        else:
            axes.plot(steps, values, color=colour, label=key, marker=marker, markersize=3)
    title = "losses" if is_loss else keys[0]
    if keys[0] in EVAL_METRICS:
        title += " (lower is better)" if EVAL_METRICS[keys[0]] else " (higher is better)"
    elif keys[0] == THROUGHPUT_KEY:
        title = "throughput (images/s)"
    axes.set_title(title, fontsize=10)
    axes.set_xlabel("step", fontsize=9)
    axes.tick_params(labelsize=8)
    # Scientific notation from 1e-3 (learning rates, KID) rather than 0.0002000-style tick labels.
    axes.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4), useOffset=False)
    axes.grid(alpha=0.3)
    if is_loss:
        axes.legend(fontsize=8)
