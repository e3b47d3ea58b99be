"""Quick, Draw! benchmarks: streaming memory and read throughput per format, renderer vs cairo.

    python -m bench quickdraw generate --sizes 10000,1000000   # files under --dir (nice it)
    flock /tmp/gankit-cpu.lock python -m bench quickdraw measure --sizes 10000,1000000
    python -m bench quickdraw grids        # ndjson grid next to the .npy grid of the same drawings
    python -m bench quickdraw shapes --out /tmp/qd-shapes --per-class 3000   # data for a cgan run
    python -m bench quickdraw clean

The drawings are synthetic hand-drawn shapes (circles, squares, triangles, crosses with jitter),
made raw (float screen coordinates beyond 255, times in ms) and simplified and rendered by gankit.
Large files repeat a pool of 2000 drawings with fresh metadata: reading costs the same. Each
measurement runs in a fresh process that streams the whole file; its peak resident memory is
`ru_maxrss`. `measure` also renders drawings (drawings/s) and, where a Python with pycairo is
found (Debian's python3-cairo), compares gankit's renderer with the dataset's cairo recipe.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.common import RESULTS, write_result
from gankit.data.quickdraw import read_drawings
from gankit.data.quickdraw_formats import Drawing, format_timestamp, pack_bin
from gankit.data.quickdraw_npy import ROW
from gankit.data.strokes import render, simplify

SHAPES = ("circle", "square", "triangle", "cross")
COUNTRIES = ("US", "GB", "DE", "BR", "IN", "JP", "FR", "RU")
POOL = 2000
DEFAULT_DIR = Path("/tmp/gankit-quickdraw-bench")
FORMATS = {
    "raw": "raw.ndjson",
    "simplified": "simplified.ndjson",
    "binary": "shapes.bin",
    "numpy_bitmap": "shapes.npy",
}
CAIRO_PYTHON = "/usr/bin/python3"


def outline(kind: str) -> list[np.ndarray]:
    """Unit-size polylines (2, n) of a shape, as a person would draw it."""
    if kind == "circle":
        angles = np.linspace(0, 2 * np.pi * 1.05, 48)
        return [np.stack([np.cos(angles), np.sin(angles)])]
    if kind == "square":
        return [np.array([[-1, 1, 1, -1, -1], [-1, -1, 1, 1, -1]], float)]
    if kind == "triangle":
        return [np.array([[0, 1, -1, 0], [-1, 0.8, 0.8, -1]], float)]
    return [np.array([[-1, 1], [0, 0]], float), np.array([[0, 0], [-1, 1]], float)]


def shape_drawing(kind: str, rng: np.random.Generator) -> list[np.ndarray]:
    """Raw strokes (3, n) of a jittered shape: float screen coordinates, times in ms."""
    angle = rng.normal(0, 0.25)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    scale = rng.uniform(80, 400) * rng.uniform(0.8, 1.2, size=(2, 1))
    offset = rng.uniform(0, 600, size=(2, 1))
    strokes, clock = [], 0
    for line in outline(kind):
        steps = np.hypot(*np.diff(line, axis=1))
        along = np.concatenate([[0], np.cumsum(steps)])
        samples = np.linspace(0, along[-1], max(2, int(along[-1] * 12)))
        points = np.stack([np.interp(samples, along, row) for row in line])
        wobble = np.sin(samples * rng.uniform(1, 3) + rng.uniform(0, 6, size=(2, 1)))
        points = points + 0.05 * wobble + rng.normal(0, 0.008, points.shape)  # an unsteady hand
        xy = rotation @ points * scale + offset
        times = clock + np.cumsum(rng.integers(8, 20, xy.shape[1])) - 8
        clock = int(times[-1]) + int(rng.integers(100, 400))
        strokes.append(np.vstack([np.round(xy, 2), times]))
    return strokes


def synthetic(n: int, seed: int = 0, kinds: tuple[str, ...] = SHAPES) -> list[Drawing]:
    """n raw drawings of the shapes in turn, with plausible metadata."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        out.append(
            Drawing(
                kind,
                shape_drawing(kind, rng),
                int(rng.integers(10**15, 10**16)),
                COUNTRIES[int(rng.integers(len(COUNTRIES)))],
                bool(rng.random() < 0.9),
                1483228800 + float(rng.integers(0, 90 * 86400)) + round(rng.random(), 5),
                raw=True,
            )
        )
    return out


def generate(root: Path, n: int, seed: int = 0) -> dict[str, Path]:
    """The four files of n drawings (a repeated pool) under root/<n>/, streamed to disk."""
    folder = root / str(n)
    folder.mkdir(parents=True, exist_ok=True)
    pool = synthetic(POOL, seed)
    simple = [simplify(d.strokes) for d in pool]
    raw_json = [
        json.dumps(
            [[r.tolist() for r in s[:2]] + [s[2].astype(int).tolist()] for s in d.strokes],
            separators=(",", ":"),
        )
        for d in pool
    ]
    simple_json = [
        json.dumps([s.tolist() for s in strokes], separators=(",", ":")) for strokes in simple
    ]
    bitmaps = np.stack([render(s).reshape(ROW) for s in simple])
    rng = np.random.default_rng(seed + 1)
    keys = rng.integers(10**15, 10**16, size=n)
    paths = {name: folder / file for name, file in FORMATS.items()}
    with open(paths["raw"], "w") as raw, open(paths["simplified"], "w") as simplified:
        for i in range(n):
            head = record_head(pool[i % POOL], int(keys[i]))
            raw.write(head + raw_json[i % POOL] + "}\n")
            simplified.write(head + simple_json[i % POOL] + "}\n")
    with open(paths["binary"], "wb") as binary:
        for i in range(n):
            d = pool[i % POOL]
            binary.write(
                pack_bin(
                    Drawing(
                        d.word,
                        simple[i % POOL],
                        int(keys[i]),
                        d.countrycode,
                        d.recognized,
                        d.timestamp,
                    )
                )
            )
    out = np.lib.format.open_memmap(paths["numpy_bitmap"], "w+", np.uint8, (n, ROW))
    for start in range(0, n, POOL):
        stop = min(n, start + POOL)
        out[start:stop] = bitmaps[: stop - start]
    out.flush()
    return paths


def record_head(drawing: Drawing, key_id: int) -> str:
    """The ndjson text of a record up to its drawing (which follows, then "}")."""
    return (
        f'{{"key_id":"{key_id}","word":"{drawing.word}","countrycode":"{drawing.countrycode}",'
        f'"timestamp":"{format_timestamp(drawing.timestamp)}",'
        f'"recognized":{"true" if drawing.recognized else "false"},"drawing":'
    )


def child_read(path: str | None, render_n: int, size: int) -> None:
    """(In a fresh process) stream a file, or render its first `render_n`; print the numbers."""
    start, count, points = time.perf_counter(), 0, 0
    if path:
        for drawing in read_drawings(path):
            if render_n:
                drawing.render(size)
                if count + 1 == render_n:
                    count += 1
                    break
            else:
                points += sum(s.shape[1] for s in drawing.strokes or [])
            count += 1
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {"drawings": count, "points": points, "seconds": seconds, "peak_rss_mb": peak_mb}
        )
    )


def run_child(*args: str) -> dict:
    command = [sys.executable, "-m", "bench.quickdraw", *args]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(root: Path, sizes: list[int]) -> dict:
    """Peak RSS and drawings/s of streaming each file; render speed; cairo agreement."""
    results = {"baseline_rss_mb": run_child("read", "-")["peak_rss_mb"], "stream": {}, "render": {}}
    for n in sizes:
        for name, file in FORMATS.items():
            numbers = run_child("read", str(root / str(n) / file))
            numbers["drawings_per_s"] = numbers["drawings"] / numbers["seconds"]
            results["stream"][f"{name}-{n}"] = numbers
            print(
                f"{name:>13} {n:>8}: {numbers['drawings_per_s']:9.0f} drawings/s, "
                f"peak RSS {numbers['peak_rss_mb']:.0f} MB",
                flush=True,
            )
    first = root / str(sizes[0])
    for name, size in (("raw", 28), ("simplified", 28), ("simplified", 64), ("numpy_bitmap", 28)):
        numbers = run_child(
            "read", str(first / FORMATS[name]), "--render", "3000", "--size", str(size)
        )
        numbers["drawings_per_s"] = numbers["drawings"] / numbers["seconds"]
        results["render"][f"{name}-{size}"] = numbers
        print(f"render {name} at {size}: {numbers['drawings_per_s']:.0f} drawings/s", flush=True)
    results["cairo"] = compare_with_cairo()
    return results


# The numpy_bitmap recipe the dataset's authors published (quickdraw-dataset issue #19), run by a
# Python that has pycairo: simplified strokes (JSON on stdin) -> side x side bytes on stdout.
CAIRO_RECIPE = r"""
import json, sys, cairo
side = int(sys.argv[1])
surface = cairo.ImageSurface(cairo.FORMAT_ARGB32, side, side)
ctx = cairo.Context(surface)
ctx.set_antialias(cairo.ANTIALIAS_BEST)
ctx.set_line_cap(cairo.LINE_CAP_ROUND)
ctx.set_line_join(cairo.LINE_JOIN_ROUND)
ctx.set_line_width(16)
ctx.scale(side / (256 + 48), side / (256 + 48))
ctx.translate(24, 24)
out = bytearray()
for strokes in json.load(sys.stdin):
    ctx.set_source_rgb(0, 0, 0)
    ctx.paint()
    dx = (256 - max(max(s[0]) for s in strokes)) / 2
    dy = (256 - max(max(s[1]) for s in strokes)) / 2
    ctx.set_source_rgb(1, 1, 1)
    for xs, ys in strokes:
        ctx.move_to(xs[0] + dx, ys[0] + dy)
        for x, y in zip(xs, ys):
            ctx.line_to(x + dx, y + dy)
        ctx.stroke()
    surface.flush()
    data, stride = bytes(surface.get_data()), surface.get_stride()
    for row in range(side):
        out += data[row * stride : row * stride + 4 * side : 4]
sys.stdout.buffer.write(bytes(out))
"""


def cairo_render(strokes: list[list[np.ndarray]], size: int) -> np.ndarray | None:
    """The cairo recipe's bitmaps (n, size, size) of simplified drawings; None without pycairo."""
    if not Path(CAIRO_PYTHON).exists():
        return None
    payload = json.dumps([[s.tolist() for s in d] for d in strokes]).encode()
    done = subprocess.run(
        [CAIRO_PYTHON, "-c", CAIRO_RECIPE, str(size)], input=payload, capture_output=True
    )
    if done.returncode != 0:
        return None
    return np.frombuffer(done.stdout, np.uint8).reshape(-1, size, size)


def compare_with_cairo(n: int = 300) -> dict:
    """Mean / 99th percentile / max absolute difference (of 255) between gankit and cairo."""
    simple = [simplify(d.strokes) for d in synthetic(n, seed=7)]
    out = {}
    for size in (28, 64):
        reference = cairo_render(simple, size)
        if reference is None:
            return {"skipped": f"no pycairo for {CAIRO_PYTHON} (apt-get install python3-cairo)"}
        ours = np.stack([render(s, size) for s in simple]).astype(int)
        diff = np.abs(ours - reference.astype(int))
        out[str(size)] = {
            "mean_abs": float(diff.mean()),
            "p99_abs": float(np.percentile(diff, 99)),
            "max_abs": int(diff.max()),
            "ink_ratio": float(ours.sum() / reference.sum()),
        }
        print(f"gankit vs cairo at {size}: {out[str(size)]}", flush=True)
    return out


def grids(per_class: int = 8) -> Path:
    """The same drawings from ndjson (gankit renders) next to a .npy made by cairo (or gankit)."""
    from PIL import Image

    from gankit.api import show_data
    from gankit.config import DataConfig
    from gankit.data.quickdraw_formats import write_ndjson

    work = DEFAULT_DIR / "grids"
    shutil.rmtree(work, ignore_errors=True)
    made_by = "cairo"
    for k, kind in enumerate(SHAPES):
        drawings = synthetic(10 * per_class, seed=100 + k, kinds=(kind,))  # 9 in 10 are "train"
        write_ndjson(work / "ndjson" / f"{kind}.ndjson", drawings)
        simple = [simplify(d.strokes) for d in drawings]
        bitmaps = cairo_render(simple, 28)
        if bitmaps is None:
            made_by, bitmaps = "gankit", np.stack([render(s) for s in simple])
        (work / "npy").mkdir(parents=True, exist_ok=True)
        np.save(work / "npy" / f"{kind}.npy", bitmaps.reshape(-1, ROW))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    pictures = []
    for name in ("ndjson", "npy"):
        path = work / f"{name}.png"
        show_data(DataConfig(spec=f"quickdraw:{work / name}"), path, per_class=per_class)
        pictures.append(Image.open(path).convert("L"))
    width, height = pictures[0].size
    both = Image.new("L", (2 * width + 16, height), 128)
    both.paste(pictures[0], (0, 0))
    both.paste(pictures[1], (width + 16, 0))
    out = RESULTS / f"{stamp}-quickdraw-grids.png"
    both.save(out, optimize=True)
    left, right = (np.asarray(p, dtype=int) for p in pictures)
    print(
        f"{out}: left ndjson rendered by gankit, right .npy made by {made_by}; "
        f"mean |difference| {np.abs(left - right).mean():.2f} of 255"
    )
    return out


def shapes(out: Path, per_class: int, seed: int = 0) -> None:
    """Write raw ndjson files of the four shapes (a labelled dataset for a cgan run)."""
    from gankit.data.quickdraw_formats import write_ndjson

    for k, kind in enumerate(SHAPES):
        count = write_ndjson(out / f"{kind}.ndjson", synthetic(per_class, seed + k, (kind,)))
        print(f"wrote {count} raw {kind} drawings to {out / f'{kind}.ndjson'}")


def add_arguments(parser) -> None:  # noqa: ANN001
    """The `python -m bench quickdraw` arguments."""
    parser.add_argument("step", choices=("generate", "measure", "grids", "shapes", "clean"))
    parser.add_argument("--sizes", default="10000,1000000", help="drawings per file")
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="where the files go")
    parser.add_argument("--out", type=Path, default=Path("/tmp/qd-shapes"), help="for shapes")
    parser.add_argument("--per-class", type=int, default=3000, help="for shapes")


def main(args) -> None:  # noqa: ANN001
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.step == "generate":
        for n in sizes:
            started = time.perf_counter()
            generate(args.dir, n)
            print(f"generated {n} drawings in 4 formats in {time.perf_counter() - started:.0f} s")
    elif args.step == "measure":
        results = measure(args.dir, sizes)
        sizes_mb = {
            f"{name}-{n}": (args.dir / str(n) / file).stat().st_size / 2**20
            for n in sizes
            for name, file in FORMATS.items()
        }
        print(write_result("quickdraw", {"sizes": sizes, "file_mb": sizes_mb, **results}))
    elif args.step == "grids":
        grids()
    elif args.step == "shapes":
        shapes(args.out, args.per_class)
    else:
        shutil.rmtree(args.dir, ignore_errors=True)


if __name__ == "__main__":  # the fresh process of one measurement: read PATH [--render N]
    arguments = sys.argv[1:]
    render_n = int(arguments[arguments.index("--render") + 1]) if "--render" in arguments else 0
    size = int(arguments[arguments.index("--size") + 1]) if "--size" in arguments else 28
    child_read(None if arguments[1] == "-" else arguments[1], render_n, size)
