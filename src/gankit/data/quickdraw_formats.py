"""Quick, Draw! files in each published format: streaming readers and writers.

The formats (googlecreativelab/quickdraw-dataset, README), one file per category:

- raw ``.ndjson``: one JSON object a line: key_id (a string of digits), word, recognized,
  timestamp ("2017-03-01 20:41:36.70725 UTC"), countrycode and drawing, a list of strokes
  ``[[x...], [y...], [t...]]`` with real x, y and integer t (ms);
- simplified ``.ndjson``: the same, strokes ``[[x...], [y...]]`` of integers in 0-255;
- binary ``.bin``: simplified drawings end to end, no header, little-endian: key_id uint64,
  countrycode 2 bytes, recognized int8, timestamp uint32 (Unix seconds), n_strokes uint16, then
  per stroke n_points uint16, n_points x bytes, n_points y bytes;
- numpy_bitmap ``.npy``: uint8 N x 784 (28 x 28), ink 255 on 0; no strokes and no metadata.

Readers are generators: ndjson is read line by line, .bin in 1 MiB chunks (.npy, memory-mapped:
gankit.data.quickdraw_npy), so a file of millions of drawings is never held in memory. A malformed
record raises `GankitError` naming the file and the line (ndjson) or byte offset (.bin); with a
`BadRecords` that skips, it is counted instead.
"""

from __future__ import annotations

import calendar
import contextlib
import datetime
import json
import math
import os
import re
import struct
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gankit.data import strokes as stroke_ops
from gankit.data.transforms import resize_images
from gankit.errors import GankitError

BITMAP_SIDE = 28
FIELDS = ("key_id", "word", "countrycode", "timestamp", "recognized", "drawing")
HEADER = struct.Struct("<Q2sbIH")  # '<': no padding, 17 bytes (the official parser reads 8+2+1+4+2)
POINTS = struct.Struct("<H")
CHUNK = 1 << 20
TIMESTAMP = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(?:\.(\d+))?\s*(?:UTC|Z|\+00:00)?"
)
PREFIX = re.compile(r"^full[_-](?:raw|simplified|binary|numpy[_-]bitmap)[_-]")


@dataclass
class Drawing:
    """One drawing and its metadata (None where the format has none: .npy files).

    `strokes`: arrays (2, n) of int64 x, y in 0-255 (simplified), or (3, n) of float x, y, t
    (raw; `raw` is True, also for x, y that are not integers in 0-255). `timestamp`: Unix seconds
    (UTC). `bitmap`: the (28, 28) uint8 image of a numpy_bitmap row. `index`: the record's
    position in its file (counting malformed ones), `where`: file and line/offset/row.
    """

    word: str
    strokes: list[np.ndarray] | None
    key_id: int | None = None
    countrycode: str | None = None
    recognized: bool | None = None
    timestamp: float | None = None
    raw: bool = False
    bitmap: np.ndarray | None = None
    index: int = 0
    where: str = ""

    def simplified(self) -> list[np.ndarray]:
        """The strokes as the simplified files hold them (raw ones go through `simplify`)."""
        if self.strokes is None:
            raise GankitError(f"{self.where}: a numpy_bitmap drawing has no strokes")
        return stroke_ops.simplify(self.strokes) if self.raw else self.strokes

    def render(self, size: int = BITMAP_SIDE) -> np.ndarray:
        """The uint8 (size, size) bitmap, made as the numpy_bitmap files were."""
        if self.bitmap is None:
            return stroke_ops.render(self.simplified(), size)
        if size == BITMAP_SIDE:
            return np.array(self.bitmap)
        bitmap = torch.from_numpy(np.array(self.bitmap)).view(1, 1, BITMAP_SIDE, BITMAP_SIDE)
        return resize_images(bitmap, size)[0, 0].numpy()  # as the loader resizes .npy rows


@dataclass
class BadRecords:
    """What to do with a malformed record: raise (default), or with `skip` count it and go on."""

    skip: bool = False
    count: int = 0
    first: str = ""

    def report(self, message: str) -> None:
        if not self.skip:
            raise GankitError(message)
        self.count += 1
        self.first = self.first or message


def category_of(path: str | Path) -> str:
    """The category a file's name gives: ``cat.npy``, ``full_numpy_bitmap_cat.npy`` -> "cat"."""
    return PREFIX.sub("", Path(path).stem) or Path(path).stem


# ----------------------------------------------------------------------------------- ndjson


def read_ndjson(path: str | Path, bad: BadRecords | None = None) -> Iterator[Drawing]:
    """The drawings of a raw or simplified .ndjson file, one line at a time."""
    bad = bad or BadRecords()
    with _open(path) as file:
        for number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            where = f"{path}: line {number}"
            try:
                yield parse_record(json.loads(line), where, number - 1)
            except json.JSONDecodeError as error:
                bad.report(f"{where}: bad JSON ({error.msg} at column {error.colno})")
            except (ValueError, TypeError) as error:
                bad.report(f"{where}: {error}")


def parse_record(record: object, where: str = "", index: int = 0) -> Drawing:
    """A Drawing from one decoded ndjson object; ValueError says what is wrong with it."""
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    missing = [name for name in FIELDS if name not in record]
    if missing:
        raise ValueError(f"missing field {missing[0]!r}")
    key_id, word, country = record["key_id"], record["word"], record["countrycode"]
    if not (isinstance(key_id, str) and key_id.isdigit()) and type(key_id) is not int:
        raise ValueError(f"key_id must be a string of digits, got {key_id!r}")
    if not isinstance(word, str) or not isinstance(country, str):
        raise ValueError("word and countrycode must be strings")
    if not isinstance(record["recognized"], bool):
        raise ValueError(f"recognized must be true or false, got {record['recognized']!r}")
    strokes, raw = parse_strokes(record["drawing"])
    return Drawing(
        word,
        strokes,
        int(key_id),
        country,
        record["recognized"],
        parse_timestamp(record["timestamp"]),
        raw,
        index=index,
        where=where,
    )


def parse_strokes(drawing: object) -> tuple[list[np.ndarray], bool]:
    """Strokes from JSON lists, and whether they are raw (need the simplification)."""
    if not isinstance(drawing, list) or not drawing:
        raise ValueError("drawing must be a non-empty list of strokes")
    strokes = []
    for number, stroke in enumerate(drawing):
        try:
            array = np.array(stroke, dtype=np.float64)
        except (ValueError, TypeError):
            message = f"stroke {number}: x, y (, t) must be lists of numbers of one length"
            raise ValueError(message) from None
        if array.ndim != 2 or array.shape[0] not in (2, 3) or array.shape[1] == 0:
            raise ValueError(
                f"stroke {number}: expected [[x...], [y...]] or [[x...], [y...], [t...]]"
            )
        if not np.isfinite(array).all():
            raise ValueError(f"stroke {number}: coordinates must be finite")
        strokes.append(array)
    if len({s.shape[0] for s in strokes}) > 1:
        raise ValueError("strokes mix [x, y] and [x, y, t]")
    simplified = strokes[0].shape[0] == 2 and all(
        s.min() >= 0 and s.max() <= 255 and (s == np.rint(s)).all() for s in strokes
    )
    if simplified:
        return [s.astype(np.int64) for s in strokes], False
    return strokes, True


def parse_timestamp(text: object) -> float:
    """Unix seconds of "YYYY-MM-DD HH:MM:SS[.fraction] UTC" (the fraction is optional)."""
    match = TIMESTAMP.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"bad timestamp {text!r} (expected e.g. '2017-03-01 20:41:36.70725 UTC')")
    parts = [int(v) for v in match.groups()[:6]]
    try:
        datetime.datetime(*parts)  # refuses month 13, day 32, hour 25...
    except ValueError:
        raise ValueError(f"bad timestamp {text!r}") from None
    fraction = match.group(7)
    return calendar.timegm((*parts, 0, 0, 0)) + (float("0." + fraction) if fraction else 0.0)


def format_timestamp(seconds: float) -> str:
    """The ndjson text of Unix `seconds`: "2017-03-01 20:41:36.70725 UTC" (no fraction if 0)."""
    whole = math.floor(seconds)
    micro = round((seconds - whole) * 1e6)
    whole, micro = (whole + 1, 0) if micro == 1_000_000 else (whole, micro)
    text = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(whole))
    return text + (f".{micro:06d}".rstrip("0") if micro else "") + " UTC"


def format_record(drawing: Drawing) -> dict:
    """The ndjson object of a drawing (raw strokes keep x, y floats and integer t)."""
    strokes = []
    for stroke in drawing.strokes or []:
        rows = [row.tolist() for row in stroke[:2]]
        if stroke.shape[0] == 3:
            rows.append([int(t) for t in stroke[2]])
        strokes.append(rows)
    return {
        "key_id": str(drawing.key_id),
        "word": drawing.word,
        "countrycode": drawing.countrycode,
        "timestamp": format_timestamp(drawing.timestamp or 0.0),
        "recognized": bool(drawing.recognized),
        "drawing": strokes,
    }


def write_ndjson(path: str | Path, drawings: Iterable[Drawing]) -> int:
    """Write drawings as ndjson (raw or simplified, as their strokes are), atomically."""
    count = 0
    with atomic(path) as temporary, open(temporary, "w", encoding="utf-8") as file:
        for drawing in drawings:
            file.write(json.dumps(format_record(drawing), separators=(",", ":")) + "\n")
            count += 1
    return count


# -------------------------------------------------------------------------------------- .bin


def read_bin(
    path: str | Path, bad: BadRecords | None = None, word: str | None = None
) -> Iterator[Drawing]:
    """The drawings of a .bin file, parsed from 1 MiB chunks (the category from the name)."""
    bad, word = bad or BadRecords(), word or category_of(path)
    buffer, start, position, index = b"", 0, 0, 0  # `start`: file offset of buffer[0]
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        while start + position < size:
            record = _bin_record(buffer, position)
            if isinstance(record, int):  # incomplete: at least `record` bytes from `position`
                if start + position + record > size:
                    left = size - start - position
                    bad.report(
                        f"{path}: truncated record at offset {start + position} "
                        f"({left} bytes left, {record} or more needed)"
                    )
                    return
                more = file.read(max(CHUNK, record))
                buffer, start, position = buffer[position:] + more, start + position, 0
                continue
            fields, strokes, end = record
            where = f"{path}: offset {start + position}"
            try:
                yield _bin_drawing(fields, strokes, word, index, where)
            except ValueError as error:
                bad.report(f"{where}: {error}")
            position, index = end, index + 1


def _bin_record(buffer: bytes, position: int) -> tuple | int:
    """(header fields, strokes, end) of the record at `position`, or, when the buffer holds only
    part of it, how many bytes from `position` it needs at least."""
    if len(buffer) - position < HEADER.size:
        return HEADER.size
    fields = HEADER.unpack_from(buffer, position)
    cursor, strokes = position + HEADER.size, []
    for stroke in range(fields[4]):
        if len(buffer) - cursor < 2:
            return cursor - position + 2 * (fields[4] - stroke)
        (count,) = POINTS.unpack_from(buffer, cursor)
        if len(buffer) - cursor < 2 + 2 * count:
            return cursor - position + 2 + 2 * count + 2 * (fields[4] - stroke - 1)
        points = np.frombuffer(buffer, np.uint8, 2 * count, cursor + 2)
        strokes.append(points.reshape(2, count).astype(np.int64))
        cursor += 2 + 2 * count
    return fields, strokes, cursor


def _bin_drawing(fields: tuple, strokes: list, word: str, index: int, where: str) -> Drawing:
    key_id, country, recognized, timestamp, _ = fields
    if recognized not in (0, 1):
        raise ValueError(f"recognized must be 0 or 1, got {recognized}")
    if not strokes or any(s.shape[1] == 0 for s in strokes):
        raise ValueError("a drawing needs strokes with points")
    try:
        code = country.rstrip(b"\0").decode("ascii")
    except UnicodeDecodeError:
        raise ValueError(f"countrycode {country!r} is not ASCII") from None
    return Drawing(
        word, strokes, key_id, code, bool(recognized), float(timestamp), index=index, where=where
    )


def pack_bin(drawing: Drawing) -> bytes:
    """One .bin record (simplified strokes; raw ones are simplified first)."""
    strokes = drawing.simplified()
    country = (drawing.countrycode or "").encode("ascii")
    if len(country) > 2:
        raise ValueError(f"countrycode {drawing.countrycode!r} does not fit 2 bytes")
    parts = [
        HEADER.pack(
            drawing.key_id or 0,
            country,
            int(bool(drawing.recognized)),
            math.floor(drawing.timestamp or 0),  # the format keeps whole seconds
            len(strokes),
        )
    ]
    for stroke in strokes:
        parts += [POINTS.pack(stroke.shape[1]), np.asarray(stroke, np.uint8).tobytes()]
    return b"".join(parts)


def write_bin(path: str | Path, drawings: Iterable[Drawing]) -> int:
    """Write drawings as a .bin file, atomically."""
    count = 0
    with atomic(path) as temporary, open(temporary, "wb") as file:
        for drawing in drawings:
            file.write(pack_bin(drawing))
            count += 1
    return count


# ------------------------------------------------------------------------------------ common


def _open(path: str | Path):  # noqa: ANN202
    try:
        return open(path, "rb")
    except OSError as error:
        raise GankitError(f"{path}: cannot read ({error.strerror or error})") from None


@contextlib.contextmanager
def atomic(path: str | Path) -> Iterator[Path]:
    """A temporary path beside `path`, renamed onto it when the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
