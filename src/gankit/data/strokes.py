"""Pen strokes: the Quick, Draw! simplification and rendering strokes to antialiased bitmaps.

A drawing is a list of strokes, each an array (2, n) of x, y (or (3, n) with t, raw drawings).

Simplification follows the dataset's documented recipe (googlecreativelab/quickdraw-dataset,
README, "Simplified Drawing files"): 1. align the drawing to the top-left corner (minimum 0);
2. scale it uniformly to a maximum of 255; 3. resample every stroke at 1 px spacing (gankit keeps
the vertices); 4. simplify every stroke with Ramer-Douglas-Peucker (Ramer 1972; Douglas & Peucker
1973), epsilon 2.0; the result is rounded to integers in 0-255.

Rendering follows the code the dataset's authors gave for the numpy_bitmap files (issue #19 of
that repository): on a 256 x 256 canvas with 16 units of padding on each side plus half a line,
the drawing is centred on its bounding box and stroked with lines 16 units wide with round caps
and joins, antialiased, each stroke composited over the previous ones, at the target size.
gankit draws each stroke with Pillow at 16x the target resolution (a thick polyline plus a disc at
every vertex: exactly the round-capped, round-joined stroke) and box-filters it down, which
measures the area each pixel's stroke covers, as cairo's antialiasing does: on 300 random drawings
the mean absolute difference from cairo's output at 28 x 28 is about 1/255 (`python -m bench
quickdraw`).
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

CANVAS = 256.0  # the simplified drawings' coordinate box
LINE_DIAMETER = 16.0  # in canvas units, as the numpy_bitmap files were made
PADDING = 16.0
EPSILON = 2.0  # Ramer-Douglas-Peucker tolerance of the simplified files


def normalize(strokes: list[np.ndarray]) -> list[np.ndarray]:
    """Steps 1-2 of the simplification: align to 0 and scale uniformly to a maximum of 255.

    Returns float strokes (2, n) (times, if any, are dropped). A drawing with no extent (one
    point) stays at the origin.
    """
    points = np.concatenate([np.asarray(s, dtype=np.float64)[:2] for s in strokes], axis=1)
    low = points.min(axis=1, keepdims=True)
    extent = float((points.max(axis=1, keepdims=True) - low).max())
    scale = extent if extent > 0 else 255.0
    # Multiply before dividing: 500 * 255 / 1000 is exactly 127.5, 500 * (255 / 1000) is not.
    return [(np.asarray(s, dtype=np.float64)[:2] - low) * 255.0 / scale for s in strokes]


def resample(stroke: np.ndarray, spacing: float = 1.0) -> np.ndarray:
    """The polyline (2, n) with points at most `spacing` apart along every segment.

    Every vertex is kept (a corner stays a corner); each segment gets evenly spaced points.
    """
    starts, ends = stroke[:, :-1], stroke[:, 1:]
    if starts.shape[1] == 0:
        return stroke
    counts = np.maximum(1, np.ceil(np.hypot(*(ends - starts)) / spacing).astype(np.int64))
    segment = np.repeat(np.arange(len(counts)), counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)  # index of each segment's first sample
    fraction = (np.arange(counts.sum()) - first) / counts[segment]
    points = starts[:, segment] + (ends - starts)[:, segment] * fraction
    return np.concatenate([points, stroke[:, -1:]], axis=1)


def rdp(stroke: np.ndarray, epsilon: float = EPSILON) -> np.ndarray:
    """Ramer-Douglas-Peucker simplification of a polyline (2, n); keeps both end points.

    A point is kept when it lies farther than `epsilon` from the line through the ends of its
    span (from the end point itself when the span is closed), recursively (iteratively here).
    """
    count = stroke.shape[1]
    if count < 3:
        return stroke
    keep = np.zeros(count, dtype=bool)
    keep[[0, -1]] = True
    spans = [(0, count - 1)]
    while spans:
        first, last = spans.pop()
        if last - first < 2:
            continue
        distances = _distances(stroke[:, first + 1 : last], stroke[:, first], stroke[:, last])
        farthest = int(distances.argmax())
        if distances[farthest] > epsilon:
            middle = first + 1 + farthest
            keep[middle] = True
            spans += [(first, middle), (middle, last)]
    return stroke[:, keep]


def _distances(points: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Distances of points (2, m) from the line through start and end (2,)."""
    direction = end - start
    length = math.hypot(*direction)
    offsets = points - start[:, None]
    if length == 0:
        return np.hypot(*offsets)
    return np.abs(direction[0] * offsets[1] - direction[1] * offsets[0]) / length


def simplify(strokes: list[np.ndarray], epsilon: float = EPSILON) -> list[np.ndarray]:
    """The documented simplification of raw strokes: int64 strokes (2, n) in 0-255.

    Consecutive points that round to the same pixel are merged (they draw nothing).
    """
    out = []
    for stroke in normalize(strokes):
        points = np.clip(np.rint(rdp(resample(stroke), epsilon)), 0, 255).astype(np.int64)
        moved = np.concatenate([[True], np.any(np.diff(points, axis=1) != 0, axis=0)])
        out.append(points[:, moved])
    return out


def render(
    strokes: list[np.ndarray],
    size: int = 28,
    line_diameter: float = LINE_DIAMETER,
    padding: float = PADDING,
) -> np.ndarray:
    """Render simplified strokes (coordinates in 0-255) to a uint8 (size, size) bitmap, ink 255.

    The numpy_bitmap recipe (see the module docstring) at any size; `line_diameter` and `padding`
    are in the 256-unit canvas, so the lines keep their proportion at every size.
    """
    points = [np.asarray(s, dtype=np.float64)[:2] for s in strokes if np.size(s)]
    canvas = np.zeros((size, size), dtype=np.float32)
    if not points:
        return canvas.astype(np.uint8)
    every = np.concatenate(points, axis=1)
    # Centre the bounding box on the canvas, then map the padded canvas onto size x size pixels.
    offset = (CANVAS - every.min(axis=1) - every.max(axis=1)) / 2 + padding + line_diameter / 2
    scale = size / (CANVAS + 2 * padding + line_diameter)
    radius = line_diameter * scale / 2
    for stroke in points:
        _composite(canvas, (stroke + offset[:, None]) * scale, radius)
    return np.rint(canvas * 255).astype(np.uint8)


def _composite(canvas: np.ndarray, stroke: np.ndarray, radius: float) -> None:
    """Draw one stroke (2, n) in pixel units over `canvas` (coverage in [0, 1], in place)."""
    size = canvas.shape[0]
    x0, y0 = (max(0, math.floor(v - radius)) for v in stroke.min(axis=1))
    x1, y1 = (min(size, math.ceil(v + radius)) for v in stroke.max(axis=1))
    if x1 <= x0 or y1 <= y0:
        return
    factor = supersampling(size)
    # Only the stroke's bounding box is drawn, at `factor` times the resolution.
    picture = Image.new("L", ((x1 - x0) * factor, (y1 - y0) * factor), 0)
    draw = ImageDraw.Draw(picture)
    xs = ((stroke[0] - x0) * factor).tolist()
    ys = ((stroke[1] - y0) * factor).tolist()
    big = radius * factor
    if len(xs) > 1:
        draw.line(list(zip(xs, ys, strict=True)), fill=255, width=max(1, round(2 * big)))
    # Pillow's ellipse also fills the edge rows of its box: half a subpixel less on each side
    # is what comes closest to cairo's output (measured on random drawings, `bench quickdraw`).
    box = big - 0.5
    for x, y in zip(xs, ys, strict=True):  # discs at every vertex: round caps and round joins
        draw.ellipse((x - box, y - box, x + box, y + box), fill=255)
    small = picture.resize((x1 - x0, y1 - y0), Image.Resampling.BOX)
    coverage = np.asarray(small, dtype=np.float32) * (1 / 255)
    region = canvas[y0:y1, x0:x1]
    region += coverage * (1 - region)  # "over" compositing, stroke by stroke, as cairo does


def supersampling(size: int) -> int:
    """Subpixels per pixel side: 16 up to 64 px, fewer above (lines are wide enough there)."""
    return max(4, min(16, 1024 // max(1, size)))
