"""Quick, Draw! numpy_bitmap files (``.npy``): uint8 N x 784, 28 x 28 bitmaps, ink 255 on 0.

The files are memory-mapped (an mmap gankit owns, over the array's bytes after the .npy header):
reading a row reads 784 bytes of the file. While streaming, the pages already read are handed
back to the kernel (``madvise(MADV_DONTNEED)``), so that the process's resident memory stays flat
however long the file is. The files hold no strokes and no metadata: the category comes from the
file's name, and key_id, countrycode, recognized and timestamp are unknown (None).
"""

from __future__ import annotations

import mmap
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from gankit.data.quickdraw_formats import BITMAP_SIDE, BadRecords, Drawing, atomic, category_of
from gankit.errors import GankitError

ROW = BITMAP_SIDE * BITMAP_SIDE
HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}
BLOCK = 4096  # rows streamed per block (3.2 MB)


def open_npy(path: str | Path) -> np.ndarray:
    """A numpy_bitmap file memory-mapped as uint8 (N, 784); wrong shape or dtype is refused.

    (N, 28, 28) arrays are taken as (N, 784): the same bytes.
    """
    return map_npy(path)[0]


def map_npy(path: str | Path) -> tuple[np.ndarray, mmap.mmap, int]:
    """`open_npy`'s array, the mmap under it and the offset of its first byte there."""
    shape, fortran, dtype, offset = _header(path)
    if len(shape) == 3 and shape[1:] == (BITMAP_SIDE, BITMAP_SIDE):
        shape = (shape[0], ROW)
    if dtype != np.uint8 or len(shape) != 2 or shape[1] != ROW:
        raise GankitError(
            f"{path}: expected uint8 N x {ROW} bitmaps (numpy_bitmap), got {dtype} {shape}"
        )
    size = Path(path).stat().st_size
    if size < offset + shape[0] * ROW:
        raise GankitError(
            f"{path}: truncated .npy ({shape[0] * ROW} bytes of bitmaps announced, "
            f"{size - offset} found)"
        )
    with open(path, "rb") as file:
        mapped = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
    array = np.frombuffer(mapped, np.uint8, shape[0] * ROW, offset)  # keeps `mapped` alive
    if fortran:  # column-major bytes: the same values, rows strided
        return array.reshape(ROW, shape[0]).T, mapped, offset
    return array.reshape(shape[0], ROW), mapped, offset


def _header(path: str | Path) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """(shape, fortran order, dtype, data offset) from a .npy header."""
    try:
        with open(path, "rb") as file:
            version = np.lib.format.read_magic(file)
            if version not in HEADER_READERS:
                raise ValueError(f"unsupported .npy version {version}")
            shape, fortran, dtype = HEADER_READERS[version](file)
            return tuple(shape), fortran, dtype, file.tell()
    except OSError as error:
        raise GankitError(f"{path}: cannot read ({error.strerror or error})") from None
    except ValueError as error:
        raise GankitError(f"{path}: not a readable .npy file ({error})") from None


def release(mapped: mmap.mmap, first: int, last: int) -> None:
    """Hand the whole pages of bytes [first, last) of a read-only map back to the kernel.

    They stay in the file (and the page cache); touching them again reads them back.
    """
    low = -(-first // mmap.PAGESIZE) * mmap.PAGESIZE
    high = last - last % mmap.PAGESIZE
    if high > low and hasattr(mapped, "madvise"):
        mapped.madvise(mmap.MADV_DONTNEED, low, high - low)


def read_npy(
    path: str | Path, bad: BadRecords | None = None, word: str | None = None
) -> Iterator[Drawing]:
    """The bitmaps of a .npy file as Drawings (no strokes, no metadata), block by block."""
    bad, word = bad or BadRecords(), word or category_of(path)
    try:
        array, mapped, offset = map_npy(path)
    except GankitError as error:
        bad.report(str(error))  # skipping a bad .npy skips the whole file
        return
    for start in range(0, len(array), BLOCK):
        stop = min(start + BLOCK, len(array))
        block = np.array(array[start:stop])  # a copy: the drawings outlive the released pages
        if array.strides[0] == ROW:  # row-major: rows [start, stop) are one byte range
            release(mapped, offset + start * ROW, offset + stop * ROW)
        for row, bitmap in enumerate(block, start=start):
            image = bitmap.reshape(BITMAP_SIDE, BITMAP_SIDE)
            yield Drawing(word, None, bitmap=image, index=row, where=f"{path}: row {row}")


def write_npy(path: str | Path, drawings: Iterable[Drawing], count: int) -> int:
    """Render `count` drawings at 28 x 28 into a numpy_bitmap file, streamed and atomic."""
    written = 0
    with atomic(path) as temporary:
        out = np.lib.format.open_memmap(temporary, "w+", np.uint8, (count, ROW))
        for drawing in drawings:
            if written == count:
                break
            out[written] = drawing.render(BITMAP_SIDE).reshape(ROW)
            written += 1
        out.flush()
        del out  # closes the map before the rename
        if written != count:  # raised inside the block: nothing is written
            raise ValueError(f"{path}: {written} drawings given, {count} announced")
    return written
