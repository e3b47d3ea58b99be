"""Quick, Draw!: the four formats written here byte by byte from the dataset's README, read back."""

import json
import struct

import numpy as np
import pytest
import tomllib
from PIL import Image

from gankit.cli import main
from gankit.data import load_data
from gankit.data import quickdraw as qd
from gankit.data import quickdraw_formats as qf
from gankit.data.quickdraw import find_files, read_drawings, select
from gankit.data.quickdraw_npy import write_npy
from gankit.data.strokes import normalize, rdp, render, resample, simplify
from gankit.errors import GankitError

# Raw coordinates beyond 255 and below 0, floats, a one-point stroke, an unrecognized drawing,
# timestamps with and without a fraction, a key_id at the top of uint64.
RAW = [
    {
        "key_id": "5152802093400064",
        "word": "cat",
        "countrycode": "US",
        "timestamp": "2017-03-01 20:41:36.70725 UTC",
        "recognized": True,
        "drawing": [
            [[-50.5, 300.25, 700.0, 650.5], [10.0, 20.5, 900.0, 410.0], [0, 16, 40, 57]],
            [[100.0], [100.0], [60]],
        ],
    },
    {
        "key_id": "18446744073709551615",
        "word": "cat",
        "countrycode": "DE",
        "timestamp": "2017-01-27 15:01:02 UTC",
        "recognized": False,
        "drawing": [[[0, 1000, 1000, 0, 0], [0, 0, 500, 500, 0], [0, 100, 200, 300, 400]]],
    },
    {
        "key_id": "4503599627370497",
        "word": "cat",
        "countrycode": "BR",
        "timestamp": "2017-03-28 08:00:00.5 UTC",
        "recognized": True,
        "drawing": [
            [
                (300 * np.cos(np.linspace(0, 6.2, 90)) + 17.25).round(2).tolist(),
                (300 * np.sin(np.linspace(0, 6.2, 90)) - 3.5).round(2).tolist(),
                list(range(0, 900, 10)),
            ],
            [[5.5, 5.5], [-40.0, 260.0], [950, 990]],
        ],
    },
]
SECONDS = [1488400896.70725, 1485529262.0, 1490688000.5]  # the timestamps as Unix seconds


def simplified_record(record: dict) -> dict:
    strokes = [np.array(s, dtype=float) for s in record["drawing"]]
    return {**record, "drawing": [s.tolist() for s in simplify(strokes)]}


def bin_record(record: dict) -> bytes:
    """One .bin record packed field by field, as the README lays it out."""
    out = struct.pack("<Q", int(record["key_id"])) + record["countrycode"].encode()
    out += struct.pack("<b", int(record["recognized"]))
    out += struct.pack("<I", int(SECONDS[RAW.index(record)]))
    strokes = simplified_record(record)["drawing"]
    out += struct.pack("<H", len(strokes))
    for x, y in strokes:
        out += struct.pack("<H", len(x)) + bytes(x) + bytes(y)
    return out


def write_all_formats(root, records=RAW, word="cat"):
    """raw/, simplified/, binary/, numpy_bitmap/ folders as the dataset ships them."""
    for folder in ("raw", "simplified", "binary", "numpy_bitmap"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(r) for r in records]
    (root / "raw" / f"{word}.ndjson").write_text("\n".join(lines) + "\n")
    simple = [json.dumps(simplified_record(r)) for r in records]
    (root / "simplified" / f"{word}.ndjson").write_text("\n".join(simple) + "\n")
    (root / "binary" / f"{word}.bin").write_bytes(b"".join(bin_record(r) for r in records))
    bitmaps = [render(simplified_record(r)["drawing"]).reshape(784) for r in records]
    np.save(root / "numpy_bitmap" / f"{word}.npy", np.stack(bitmaps))
    return {f: next((root / f).iterdir()) for f in ("raw", "simplified", "binary", "numpy_bitmap")}


def test_simplification_known_answers():
    # A rectangle 1000 x 500: aligned, scaled by 255/1000, corners kept by RDP, rounded.
    rectangle = np.array([[0, 1000, 1000, 0, 0], [0, 0, 500, 500, 0], [0, 1, 2, 3, 4]], float)
    assert [s.tolist() for s in simplify([rectangle])] == [
        [[0, 255, 255, 0, 0], [0, 0, 128, 128, 0]]
    ]
    line = resample(np.array([[0.0, 10.0], [0.0, 0.0]]))
    assert line.shape == (2, 11) and np.allclose(np.diff(line[0]), 1.0)
    bumps = np.array([[0, 5, 10, 15, 20], [0, 1.9, 0, 2.5, 0]], float)
    assert rdp(bumps, 2.0).tolist() == [[0, 15, 20], [0, 2.5, 0]]  # 1.9 < epsilon < 2.5
    one_point = normalize([np.array([[7.5], [-3.0], [0]])])
    assert one_point[0].tolist() == [[0.0], [0.0]]


def centroid(image: np.ndarray) -> tuple[float, float]:
    rows, cols = np.indices(image.shape)
    return (rows * image).sum() / image.sum(), (cols * image).sum() / image.sum()


def test_render_known_answers():
    dot = render([np.array([[100], [40]])])  # one point: a disc in the middle, any position
    assert dot.shape == (28, 28) and dot.dtype == np.uint8
    assert np.allclose(centroid(dot), (13.5, 13.5), atol=0.05)  # pixel i spans [i - 0.5, i + 0.5]
    radius = 8 * 28 / 304  # the 16-unit line at 28 px
    assert abs(dot.sum() / 255 - np.pi * radius**2) < 0.1 * np.pi * radius**2
    bar = render([np.array([[0, 255], [0, 0]])], size=64)  # centred on its bounding box
    # within a subpixel (1/16 px): Pillow puts lines on whole subpixels
    assert bar.shape == (64, 64) and np.allclose(centroid(bar), (31.5, 31.5), atol=1 / 16)
    assert bar[31:33, 10:54].min() == 255 and bar[:, :3].max() == bar[:3].max() == 0
    length, width = 255 * 64 / 304, 16 * 64 / 304  # the capsule's area: rectangle + disc
    assert abs(bar.sum() / 255 - (length * width + np.pi * width**2 / 4)) < 0.02 * bar.sum() / 255
    assert render([]).max() == 0


def test_all_four_formats_give_the_same_drawings_metadata_and_bitmaps(tmp_path):
    files = write_all_formats(tmp_path)
    read = {name: list(read_drawings(path)) for name, path in files.items()}
    raw, simple, binary, bitmaps = (
        read[k] for k in ("raw", "simplified", "binary", "numpy_bitmap")
    )
    assert all(len(drawings) == len(RAW) for drawings in read.values())
    for i, record in enumerate(RAW):
        expected = simplified_record(record)["drawing"]
        assert raw[i].raw and not simple[i].raw and not binary[i].raw
        for stroke, original in zip(raw[i].strokes, record["drawing"], strict=True):
            assert np.allclose(stroke, np.array(original, dtype=float))
        for drawing in (raw[i], simple[i], binary[i]):
            assert [s.tolist() for s in drawing.simplified()] == expected
            assert (drawing.word, drawing.key_id) == ("cat", int(record["key_id"]))
            assert (drawing.countrycode, drawing.recognized) == (
                record["countrycode"],
                record["recognized"],
            )
        assert raw[i].timestamp == simple[i].timestamp == pytest.approx(SECONDS[i], abs=1e-6)
        assert binary[i].timestamp == int(SECONDS[i])  # the .bin format keeps whole seconds
        assert bitmaps[i].strokes is None and bitmaps[i].key_id is None  # .npy: no metadata
        images = [d.render() for d in (raw[i], simple[i], binary[i], bitmaps[i])]
        assert all(np.array_equal(images[0], image) for image in images[1:])
        assert images[0].max() == 255


def test_writers_reproduce_the_formats(tmp_path):
    files = write_all_formats(tmp_path)
    drawings = list(read_drawings(files["raw"]))
    qf.write_bin(tmp_path / "again.bin", drawings)
    assert (tmp_path / "again.bin").read_bytes() == files["binary"].read_bytes()
    write_npy(tmp_path / "again.npy", iter(drawings), len(drawings))
    assert np.array_equal(np.load(tmp_path / "again.npy"), np.load(files["numpy_bitmap"]))
    qf.write_ndjson(tmp_path / "again.ndjson", drawings)
    again = [json.loads(line) for line in (tmp_path / "again.ndjson").read_text().splitlines()]
    assert [a["timestamp"] for a in again] == [r["timestamp"] for r in RAW]
    assert [a["key_id"] for a in again] == [r["key_id"] for r in RAW]
    assert again[1]["drawing"][0][2] == [0, 100, 200, 300, 400]  # t stays integer


def test_timestamps_and_categories():
    assert qf.parse_timestamp("2017-03-01 20:41:36 UTC") == 1488400896
    assert qf.parse_timestamp("2017-03-01T20:41:36.5Z") == 1488400896.5
    assert qf.format_timestamp(1488400896.70725) == "2017-03-01 20:41:36.70725 UTC"
    with pytest.raises(ValueError, match="bad timestamp"):
        qf.parse_timestamp("2017-13-01 20:41:36 UTC")
    assert qf.category_of("/d/full_numpy_bitmap_The Eiffel Tower.npy") == "The Eiffel Tower"
    assert qf.category_of("cat.bin") == "cat"


def test_filters_and_split(tmp_path):
    files = write_all_formats(tmp_path)
    drawings = list(read_drawings(files["raw"]))
    assert [d.key_id for d in select(drawings, recognized=False)] == [18446744073709551615]
    assert [d.countrycode for d in select(drawings, countries=["br", "us"])] == ["US", "BR"]
    assert len(list(select(drawings, limit=2))) == 2
    assert [d.index for d in select(drawings, split="train")] == [0, 1, 2]
    assert [d.key_id for d in qd.drawings(str(tmp_path / "binary"))] == [
        int(r["key_id"]) for r in RAW
    ]


def many(word: str, n: int, start: int = 0) -> list[dict]:
    """n small simplified drawings of `word`, drawing i a bar whose length encodes i."""
    return [
        {
            "key_id": str(1000 + start + i),
            "word": word,
            "countrycode": "US" if i % 2 else "FR",
            "timestamp": "2017-03-01 20:41:36 UTC",
            "recognized": i % 3 != 0,
            "drawing": [[[0, 10 + 2 * (start + i)], [0, 0]]],
        }
        for i in range(n)
    ]


def write_ndjson(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_loader_mixes_formats_labels_by_category_and_holds_out_every_tenth(tmp_path):
    write_ndjson(tmp_path / "full_simplified_square.ndjson", many("square", 20))
    circles = [qf.parse_record(r) for r in many("circle", 20, start=50)]
    qf.write_bin(tmp_path / "circle.bin", circles)
    write_npy(tmp_path / "line.npy", iter(circles), len(circles))
    train = load_data(f"quickdraw:{tmp_path}")
    assert train.class_names == ["circle", "line", "square"]
    assert train.images.shape == (54, 1, 28, 28) and train.labels.bincount().tolist() == [18] * 3
    test = load_data(f"quickdraw:{tmp_path}:test")
    assert test.labels.tolist() == [0, 0, 1, 1, 2, 2]
    expected = [circles[9].render(), circles[19].render()]  # positions 9 and 19 are held out
    assert np.array_equal(test.images[:2, 0].numpy(), np.stack(expected))
    picked = load_data(
        f"quickdraw:{tmp_path}",
        image_size=32,
        options={"categories": ["Square", "circle"], "per_class": 5, "recognized": "yes"},
    )
    assert picked.class_names == ["circle", "square"] and picked.images.shape == (10, 1, 32, 32)
    lines = load_data(f"quickdraw:{tmp_path / 'line.npy'}", image_size=32)
    first = next(read_drawings(tmp_path / "line.npy"))  # 28 x 28, resized as the loader does
    assert np.array_equal(lines.images[0, 0].numpy(), first.render(32))
    one_file = load_data(f"quickdraw:{tmp_path / 'circle.bin'}", options={"countries": ["US"]})
    assert len(one_file) == 8  # the odd positions are US, less 9 and 19: held out
    assert find_files(f"{tmp_path / 'line.npy'}, {tmp_path / 'circle.bin'}")[1].name == "circle.bin"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"key_id": "1"}\n{not json}\n', "line 1: missing field 'word'"),
        (b"\n\n{not json\n", "line 3: bad JSON"),
        (
            json.dumps({**RAW[0], "drawing": [[[1, 2], [3]]]}).encode(),
            "line 1: stroke 0: x, y",
        ),
        (json.dumps({**RAW[0], "key_id": "12a"}).encode(), "line 1: key_id must be a string of"),
        (json.dumps({**RAW[0], "timestamp": "yesterday"}).encode(), "line 1: bad timestamp"),
    ],
)
def test_malformed_ndjson_names_file_and_line(tmp_path, content, message):
    path = tmp_path / "cat.ndjson"
    path.write_bytes(content)
    with pytest.raises(GankitError, match=f"cat.ndjson: {message}"):
        load_data(f"quickdraw:{path}")


def test_truncated_bin_and_bad_npy_are_named(tmp_path):
    records = b"".join(bin_record(r) for r in RAW)
    whole = len(bin_record(RAW[0])) + len(bin_record(RAW[1]))
    (tmp_path / "cat.bin").write_bytes(records[:-3])
    with pytest.raises(GankitError, match=f"cat.bin: truncated record at offset {whole}"):
        list(read_drawings(tmp_path / "cat.bin"))
    huge = struct.pack("<Q2sbIHH", 1, b"US", 1, 0, 1, 60000) + bytes(100)  # claims 120000 bytes
    (tmp_path / "emu.bin").write_bytes(bin_record(RAW[0]) + huge)
    offset = len(bin_record(RAW[0]))  # refused at once, not after reading the rest of the file
    with pytest.raises(GankitError, match=f"emu.bin: truncated record at offset {offset} "):
        list(read_drawings(tmp_path / "emu.bin"))
    np.save(tmp_path / "dog.npy", np.zeros((3, 784), np.float32))
    with pytest.raises(GankitError, match=r"dog.npy: expected uint8 N x 784 .* float32 \(3, 784\)"):
        load_data(f"quickdraw:{tmp_path / 'dog.npy'}")
    np.save(tmp_path / "owl.npy", np.zeros((3, 700), np.uint8))
    with pytest.raises(GankitError, match=r"owl.npy: expected uint8 N x 784 .* \(3, 700\)"):
        load_data(f"quickdraw:{tmp_path / 'owl.npy'}")
    (tmp_path / "bee.npy").write_bytes(b"not numpy at all")
    with pytest.raises(GankitError, match="bee.npy: not a readable .npy file"):
        load_data(f"quickdraw:{tmp_path / 'bee.npy'}")


def test_skip_bad_skips_and_reports(tmp_path, capsys):
    lines = [json.dumps(r) for r in many("cat", 12)]
    lines[3] = "{broken"
    lines[5] = json.dumps({"word": "cat"})
    (tmp_path / "cat.ndjson").write_text("\n".join(lines) + "\n")
    data = load_data(f"quickdraw:{tmp_path}", options={"skip_bad": True})
    assert len(data) == 9  # 12 records, 2 bad, position 9 held out
    assert "skipped 2 bad record(s); first: " in capsys.readouterr().err
    (tmp_path / "dog.bin").write_bytes(bin_record(RAW[0]) + b"\x01\x02")
    data = load_data(f"quickdraw:{tmp_path}", options={"skip_bad": True})
    assert data.class_names == ["cat", "dog"] and data.labels.tolist().count(1) == 1
    assert "skipped 3 bad record(s)" in capsys.readouterr().err  # the truncated one too


def test_options_are_refused_by_loaders_without_them(tiny_mnist):
    with pytest.raises(GankitError, match="mnist data takes no data.categories"):
        load_data(tiny_mnist, options={"categories": ["x"]})


def test_cli_show_train_and_errors(tmp_path, capsys):
    write_ndjson(tmp_path / "square.ndjson", many("square", 40))
    write_ndjson(tmp_path / "circle.ndjson", many("circle", 40, start=3))
    grid = tmp_path / "grid.png"
    assert main(["data", "show", f"quickdraw:{tmp_path}", "--grid", str(grid), "-n", "4"]) == 0
    assert Image.open(grid).size == (2 * (4 * 30 + 2), 2 * (2 * 30 + 2))  # 2 rows of 4, scale 2
    run = tmp_path / "run"
    tiny = ["--set", "model.z_dim=8", "--set", "model.width=4", "--set", "train.compile=false"]
    tiny += ["--set", "train.tensorboard=false"]
    args = ["train", "cgan", "--data", f"quickdraw:{tmp_path}", "--categories", "square,circle"]
    assert main([*args, "--steps", "2", "--batch-size", "8", "--out", str(run), *tiny]) == 0
    saved = tomllib.loads((run / "config.toml").read_text())
    assert saved["data"]["categories"] == ["square", "circle"]
    (tmp_path / "broken.ndjson").write_text(json.dumps(RAW[0]) + "\n{oops\n")
    assert (
        main(["data", "show", f"quickdraw:{tmp_path / 'broken.ndjson'}", "--grid", str(grid)]) == 2
    )
    assert "broken.ndjson: line 2: bad JSON" in capsys.readouterr().err
    code = main(["data", "show", f"quickdraw:{tmp_path}", "--grid", str(grid), "--skip-bad"])
    assert code == 0 and "skipped 1 bad record(s)" in capsys.readouterr().err
    assert main(["data", "show", f"quickdraw:{tmp_path}/nope", "--grid", str(grid)]) == 2
