"""Property-based fuzzing of everything that reads a file: data readers and the checkpoint loader.

The contract (issue "Reliability and security: hostile files"): whatever the bytes, a reader
either returns well-formed data or raises one of ferviz's own errors (`FervizError`) with a
message. Never another exception type, a hang, an unbounded allocation, a write outside the
output folder, or (with ``skip_bad``) a row kept with a label or pixels its text does not say.

Hand-made hostile files (path traversal, bombs, pickles, EXIF...) are in
tests/data/test_hostile.py. Every example runs under an alarm (`within`), so a hang fails the
test instead of stalling CI; settings are derandomized so CI is reproducible.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import re
import tarfile
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from ferviz import FER2013_CLASSES
from ferviz.model.checkpoint import load_checkpoint, save_checkpoint
from ferviz.data.csvfast import PIXELS, USAGE_SPLITS, parse_fer_csv
from ferviz.data.imagefolder import decode_image
from ferviz.data.npzfile import load_npz
from ferviz.data.sources import open_source
from ferviz.errors import CheckpointError, DataError, FervizError

from tests.conftest import make_loaded, within


def fuzz_settings(n: int):
    return settings(max_examples=n, deadline=None, derandomize=True, database=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


def attempt(fn, *args, seconds: float = 20, **kwargs):
    """(result, None) or (None, FervizError); any other exception, or a hang, fails the test."""
    with within(seconds), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return fn(*args, **kwargs), None
        except FervizError as exc:
            assert str(exc).strip(), f"{type(exc).__name__} without a message"
            return None, exc


def tree(root: Path) -> dict:
    """{relative path: (size, mtime_ns)} of everything under root."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st_ = p.lstat()
            out[str(p.relative_to(root))] = (st_.st_size, st_.st_mtime_ns)
    return out


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A module-wide work folder; the data cache is pointed inside it."""
    root = tmp_path_factory.mktemp("fuzz")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FERVIZ_CACHE_DIR", str(root / "cache"))
        yield root


def check_dataset(ds):
    assert ds.images.dtype == np.uint8 and ds.images.ndim == 3
    if ds.labels is not None:
        assert len(ds.labels) == len(ds.images)
        assert ds.labels.min(initial=0) >= 0 and ds.labels.max(initial=0) < max(len(ds.class_names), 1)


# ------------------------------------------------------------------------------------- CSV

LABEL_TEXTS = ["7", "-1", "9", "a", "", "3.0", "1_0", "0_3", "\uff13", "\u0663", "+3", "003", " 4 ", '"5"',
               "9" * 60, "9" * 5000, "-0", "0x3", "6 6", "\u00b3"]
BAD_TOKENS = ["x", "1.5", "-3", "0x1f", "\u0661", "256", "999", "9" * 5000, "+5", "1e2", "\u00a0", "\x00"]
USAGES = ["Training", "PublicTest", "PrivateTest", "training", " Training ", "Foo", "", "PRIVATETEST"]


@st.composite
def fer_rows(draw):
    """(header columns, list of (fields dict or raw text, line ending))."""
    with_usage = draw(st.booleans())
    cols = ["emotion", "pixels"] + (["Usage"] if with_usage else [])
    cols = draw(st.permutations(cols))
    rows = []
    for _ in range(draw(st.integers(0, 5))):
        seed = draw(st.integers(0, 2**32 - 1))
        pixels = np.random.default_rng(seed).integers(0, 256, PIXELS).tolist()
        tokens = [str(v) for v in pixels]
        fields = {"emotion": str(draw(st.integers(0, 6))), "Usage": draw(st.sampled_from(USAGES[:3]))}
        kind = draw(st.sampled_from(["ok", "ok", "count", "token", "token", "label", "label", "label", "usage",
                                     "missing", "extra", "quoted", "spaces", "blank", "nul", "cr", "junk",
                                     "leading0"]))
        where = draw(st.integers(0, PIXELS - 1))
        if kind == "count":
            tokens = tokens[:draw(st.integers(0, PIXELS - 1))] if draw(st.booleans()) else tokens + ["1"]
        elif kind == "token":
            tokens[where] = draw(st.sampled_from(BAD_TOKENS))
        elif kind == "label":
            fields["emotion"] = draw(st.sampled_from(LABEL_TEXTS))
        elif kind == "usage":
            fields["Usage"] = draw(st.sampled_from(USAGES))
        elif kind == "spaces":
            tokens[where] = draw(st.sampled_from(["\t", "  ", " \t "])).join(["", tokens[where], ""])
        elif kind == "leading0":
            tokens[where] = "0" + tokens[where]
        fields["pixels"] = " ".join(tokens)
        if kind == "quoted":
            fields["pixels"] = f'"{fields["pixels"]}"'
        line = ",".join(fields[c] for c in cols)
        if kind == "missing":
            line = ",".join(fields[c] for c in cols[:-1])
        elif kind == "extra":
            line += ",x"
        elif kind == "blank":
            line = draw(st.sampled_from(["", " ", "\t", " \r"]))
        elif kind == "nul":
            line = line[:where] + "\x00" + line[where:]
        elif kind == "cr":
            line = line[:where] + "\r" + line[where:]
        elif kind == "junk":
            junk = draw(st.binary(min_size=1, max_size=8)).decode("latin-1")
            line = line[:where] + junk + line[where:]
        rows.append((line, draw(st.sampled_from(["\n", "\r\n"]))))
    return cols, rows


def csv_bytes(cols, rows, bom: bool, last_newline: bool) -> bytes:
    text = ",".join(cols) + "\n" + "".join(line + end for line, end in rows)
    if not last_newline and rows:
        text = text[: -len(rows[-1][1])]
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")


def oracle(data: bytes):
    """What a FER2013 CSV says, line by line, independently of ferviz's two parsers.

    Returns (rows, first_bad_line) where rows is a list, one per data row (non-blank line), of
    (label, pixels, split) or None for a malformed row; first_bad_line is the editor line number
    of the first malformed row (or None).
    """
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    head, _, body = data.partition(b"\n")
    names = [n.strip().strip('"').strip().lower() for n in next(csv.reader([head.decode().rstrip("\r")]))]
    ilab, ipix = names.index("emotion"), names.index("pixels")
    iuse = names.index("usage") if "usage" in names else None
    if body and not body.endswith(b"\n"):
        body += b"\n"
    rows, first_bad = [], None
    for offset, raw in enumerate(body.split(b"\n")[:-1]):
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line.strip():
            continue
        parsed = None
        try:
            fields = next(csv.reader([line]))
        except csv.Error:
            fields = None
        if fields is not None and len(fields) == len(names):
            label = fields[ilab].strip()
            tokens = fields[ipix].split()
            split = USAGE_SPLITS.get(fields[iuse].strip().lower()) if iuse is not None else "train"
            if (re.fullmatch(r"\+?0*[0-6]", label, re.ASCII) and len(tokens) == PIXELS
                    and all(re.fullmatch(r"0*([0-9]{1,2}|1[0-9]{2}|2[0-4][0-9]|25[0-5])", t, re.ASCII) for t in tokens)
                    and split is not None):
                parsed = (int(label), np.array([int(t) for t in tokens], np.uint8).reshape(48, 48), split)
        if parsed is None and first_bad is None:
            first_bad = offset + 2
        rows.append(parsed)
    return rows, first_bad


def kept_rows(splits) -> dict[int, tuple]:
    out = {}
    for name, ds in splits.items():
        check_dataset(ds)
        assert ds.class_names == FER2013_CLASSES
        for i, row in enumerate(ds.ids):
            out[int(row)] = (int(ds.labels[i]), ds.images[i], name)
    return out


ONES = " ".join(["1"] * PIXELS)


@fuzz_settings(120)
@given(fer_rows(), st.booleans(), st.booleans())
@example((["emotion", "pixels"], [("\uff13," + ONES, "\n"), ("3," + ONES, "\n")]), False, True)  # a fullwidth 3
@example((["emotion", "pixels"], [("0_3," + ONES, "\n"), ("3," + ONES, "\n")]), False, True)  # int() takes "0_3"
@example((["pixels", "emotion"], [(ONES + ",4", "\r\n"), ("", "\n"), (ONES + ",9" + "9" * 5000, "\n")]), True,
         False)
def test_csv_rows_parse_exactly_as_their_text_says(work, table, bom, last_newline):
    cols, rows = table
    data = csv_bytes(cols, rows, bom, last_newline)
    path = work / "rows.csv"
    path.write_bytes(data)
    want, first_bad = oracle(data)
    valid = {i: r for i, r in enumerate(want) if r is not None}

    strict, err = attempt(open_source, f"csv:{path}")
    if not want:
        assert err is not None and "no data rows" in str(err)
    elif first_bad is not None:
        assert isinstance(err, DataError) and f"line {first_bad}:" in str(err), (err, first_bad)
    else:
        assert err is None, err
        assert kept_rows(strict).keys() == valid.keys()

    lenient, err = attempt(open_source, f"csv:{path}", skip_bad=True)
    if not valid:
        assert isinstance(err, DataError)
        return
    assert err is None, err
    got = kept_rows(lenient)
    assert got.keys() == valid.keys()  # every good row kept, every bad row left out
    for row, (label, pixels, split) in valid.items():
        assert got[row][0] == label and got[row][2] == split
        np.testing.assert_array_equal(got[row][1], pixels)
    # the vectorised and the line-by-line parser agree
    fast = parse_fer_csv(data, "x", skip_bad=True)
    slow = parse_fer_csv(data, "x", skip_bad=True, force_slow=True)
    for a, b in ((fast.images, slow.images), (fast.labels, slow.labels), (fast.rows, slow.rows)):
        np.testing.assert_array_equal(a, b)


@fuzz_settings(80)
@given(st.binary(max_size=3000), st.sampled_from(["x.csv", "x.csv.gz", "x.zip", "x.npz", "x.jpg", "x.tar.gz",
                                                  "x", "x.png"]))
def test_random_bytes_never_crash_any_reader(work, data, name):
    before = tree(work)
    path = work / "random" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    for spec in (str(path), f"csv:{path}", f"folder:{path}", f"images:{path}", f"npz:{path}"):
        for skip_bad in (False, True):
            result, err = attempt(open_source, spec, skip_bad=skip_bad)
            if result is not None:
                for ds in result.values():
                    check_dataset(ds)
    assert set(tree(work)) - set(before) <= {"random", f"random/{name}"}


FER_LINE = "{},{},Training\n"


@st.composite
def mutated_csv(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(1, 4))
    lines = [FER_LINE.format(int(rng.integers(7)), " ".join(map(str, rng.integers(0, 256, PIXELS))))
             for _ in range(n)]
    data = bytearray(("emotion,pixels,Usage\n" + "".join(lines)).encode())
    header = len("emotion,pixels,Usage\n")
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["set", "insert", "delete", "cut"]))
        at = draw(st.integers(header, len(data)))
        if op == "set" and at < len(data):
            data[at] = draw(st.sampled_from(b"0123456789 ,\n\r\"-.x\x00\xff\xef"))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=6))
        elif op == "delete":
            del data[at:at + draw(st.integers(1, 40))]
        elif op == "cut":
            del data[at:]
    return bytes(data)


@fuzz_settings(100)
@given(mutated_csv())
def test_mutated_csv_keeps_only_rows_that_say_so(work, data):
    path = work / "mutated.csv"
    path.write_bytes(data)
    want, first_bad = oracle(data)
    valid = {i: r for i, r in enumerate(want) if r is not None}
    strict, err = attempt(open_source, f"csv:{path}")
    assert (err is None) == (bool(want) and first_bad is None), err
    lenient, err = attempt(open_source, f"csv:{path}", skip_bad=True)
    assert (err is None) == bool(valid), err
    if valid:
        got = kept_rows(lenient)
        assert got.keys() == valid.keys()
        for row, (label, pixels, _) in valid.items():
            assert got[row][0] == label
            np.testing.assert_array_equal(got[row][1], pixels)


def test_csv_special_files(work):
    row = "3," + " ".join(["7"] * PIXELS) + ",Training\n"
    cases = {
        b"": "empty",
        b"\n\n  \n": "empty",
        b"\xef\xbb\xbf": "no data rows",
        b"emotion,pixels,Usage": "no data rows",
        b"emotion,pixels,Usage\n": "no data rows",
        b"emotion,pixels,Usage\r\n\r\n": "no data rows",
        b"emotion,Usage\n" + row.encode(): "no 'pixels'",
        b"pixels\n1 2 3\n": "3 pixel values, expected 2304",  # an unlabelled test.csv, with a short row
        ('"' + "a" * 200_000 + '",emotion,pixels\n' + row).encode(): "line 1",
        b"emo\x00tion,pixels\n" + row.encode(): "3 fields, expected 2",  # no emotion column: unlabelled
        b"emotion,pi\rxels,Usage\n" + row.encode(): "line 1",
        b"emotion,pixels,Usage\r" + row.encode().replace(b"\n", b"\r"): "no data rows",
        ("emotion,pixels\n" + "9" * 5000 + "," + " ".join(["1"] * PIXELS) + "\n").encode(): "outside 0-6",
        ("emotion,pixels\n1," + "9" * 5000 + " 1" * (PIXELS - 1) + "\n").encode(): "above 255",
        ("emotion,pixels\n0_3," + " ".join(["1"] * PIXELS) + "\n").encode(): "not an integer",
    }
    for data, message in cases.items():
        path = work / "special.csv"
        path.write_bytes(data)
        for skip_bad in (False, True):
            result, err = attempt(open_source, f"csv:{path}", skip_bad=skip_bad)
            assert isinstance(err, DataError) and message in str(err), (data[:40], err)
    # a BOM, CRLF and quotes are harmless
    path.write_bytes(b'\xef\xbb\xbf"emotion","pixels","Usage"\r\n' + row.replace(",", ',"', 1).replace(",Tr", '",Tr')
                     .replace("\n", "\r\n").encode())
    (ds,) = open_source(f"csv:{path}").values()
    assert ds.labels.tolist() == [3] and (ds.images == 7).all()


# ------------------------------------------------------------------------------------ images

MODES = {"RGB": 3, "RGBA": 4, "LA": 2, "L": 1, "P": 1, "I;16": 1, "1": 1, "CMYK": 4, "F": 1, "I": 1}
FORMATS = {"PNG": ("RGB", "RGBA", "LA", "L", "P", "I;16", "1"), "JPEG": ("RGB", "L", "CMYK"),
           "TIFF": ("RGB", "RGBA", "L", "CMYK", "F", "I", "I;16", "1", "P"), "BMP": ("RGB", "L", "P", "1"),
           "GIF": ("L", "P"), "WEBP": ("RGB", "RGBA"), "PPM": ("RGB", "L", "1")}


@st.composite
def pil_images(draw):
    fmt = draw(st.sampled_from(sorted(FORMATS)))
    mode = draw(st.sampled_from(FORMATS[fmt]))
    w, h = draw(st.integers(1, 300)), draw(st.integers(1, 300))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if mode in ("RGB", "RGBA", "LA", "CMYK"):
        im = Image.fromarray(rng.integers(0, 256, (h, w, MODES[mode]), dtype=np.uint8), mode)
    elif mode in ("L", "P"):
        im = Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8), "L")
        if mode == "P":
            im = im.convert("RGB").quantize(16)
    elif mode == "1":
        im = Image.fromarray(rng.integers(0, 2, (h, w), dtype=np.uint8) * 255, "L").convert("1")
    elif mode == "I;16":
        im = Image.fromarray(rng.integers(0, 65536, (h, w), dtype=np.uint16))
    elif mode == "I":
        im = Image.fromarray(rng.integers(-1000, 1000, (h, w), dtype=np.int32), "I")
    else:
        im = Image.fromarray(rng.uniform(-50, 300, (h, w)).astype(np.float32), "F")
    buf = io.BytesIO()
    im.save(buf, fmt)
    return fmt, mode, buf.getvalue()


@fuzz_settings(100)
@given(pil_images())
def test_real_images_of_any_mode_and_size_become_48x48_gray(work, image):
    fmt, mode, data = image
    out, err = attempt(decode_image, data, "img")
    assert err is None, (fmt, mode, err)
    assert out.shape == (48, 48) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, decode_image(data, "again"))  # deterministic
    path = work / "single" / f"face.{fmt.lower()}"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    (ds,) = open_source(f"images:{path}").values()
    np.testing.assert_array_equal(ds.images[0], out)


@fuzz_settings(150)
@given(pil_images(), st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255),
                                        st.sampled_from(["set", "cut", "insert", "word"])), min_size=1, max_size=6))
def test_damaged_images_decode_or_raise_data_error(image, edits):
    fmt, mode, data = image
    data = bytearray(data)
    for where, value, op in edits:
        at = int(where * len(data))
        if op == "set":
            data[at] = value
        elif op == "cut":
            del data[at:]
        elif op == "insert":
            data[at:at] = bytes([value]) * 4
        else:
            data[at:at + 4] = (b"\xff\xff\xff\x7f", b"\x00\x00\x00\x00", b"\xff\xff\xff\xff")[value % 3]
        if not data:
            break
    out, err = attempt(decode_image, bytes(data), "img", seconds=10)
    if err is None:
        assert out.shape == (48, 48) and out.dtype == np.uint8
    else:
        assert isinstance(err, DataError) and str(err).startswith("img: ")


# ---------------------------------------------------------------------------------- archives

def png(value: int, size: int = 8) -> bytes:
    buf = io.BytesIO()
    Image.new("L", (size, size), value).save(buf, "PNG")
    return buf.getvalue()


FOLDER_FILES = {f"{s}/{c}/{i}.png": png(40 * i + 17 * j + 5 * k)
                for k, s in enumerate(("train", "test")) for j, c in enumerate(("happy", "sad", "angry"))
                for i in range(3)}
CSV_TEXT = ("emotion,pixels,Usage\n" + "".join(
    f"{i % 7},{' '.join([str(i * 11 % 256)] * PIXELS)},{('Training', 'PublicTest')[i % 2]}\n" for i in range(6))
).encode()


def make_zip(files, method=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def make_tar(files, mode="w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


ARCHIVES = {
    "folder.zip": ("folder", make_zip(FOLDER_FILES)),
    "folder-stored.zip": ("folder", make_zip(FOLDER_FILES, zipfile.ZIP_STORED)),
    "folder.tar.gz": ("folder", make_tar(FOLDER_FILES)),
    "folder.tar": ("folder", make_tar(FOLDER_FILES, "w")),
    "folder.tar.bz2": ("folder", make_tar(FOLDER_FILES, "w:bz2")),
    "fer.zip": ("csv", make_zip({"fer2013/fer2013.csv": CSV_TEXT})),
    "fer.tar.gz": ("csv", make_tar({"fer2013.csv": CSV_TEXT})),
    "fer2013.csv.gz": ("csv", gzip.compress(CSV_TEXT, mtime=0)),
}


def check_against_originals(kind: str, splits):
    """Whatever a damaged archive still yields must be exactly what the intact one holds."""
    for name, ds in splits.items():
        check_dataset(ds)
        for i, ident in enumerate(ds.ids):
            if kind == "folder":
                cls = ident.split("/")[-2]
                assert ds.class_names[ds.labels[i]] == cls and ident.split("/")[0] == name
                np.testing.assert_array_equal(ds.images[i], decode_image(FOLDER_FILES[ident], ident))
            else:
                row = int(ident)
                assert ds.labels[i] == row % 7 and (ds.images[i] == row * 11 % 256).all()


@fuzz_settings(150)
@given(st.sampled_from(sorted(ARCHIVES)), st.floats(0, 1, exclude_max=True),
       st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), max_size=3),
       st.booleans(), st.booleans())
def test_truncated_or_damaged_archives(work, name, cut, flips, skip_bad, sniff):
    kind, data = ARCHIVES[name]
    data = bytearray(data)
    for where, value in flips:
        data[int(where * len(data))] = value
    if not flips or cut > 0.5:  # half the examples are truncated, the others only damaged
        data = data[: int(cut * len(data))]
    path = work / "arch" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(bytes(data))
    before = tree(work)
    result, err = attempt(open_source, str(path) if sniff else f"{kind}:{path}", skip_bad=skip_bad)
    if result is not None:
        check_against_originals(kind, result)
    assert tree(work) == before  # nothing extracted or written


@fuzz_settings(40)
@given(st.sampled_from(sorted(ARCHIVES)), st.booleans())
def test_intact_archives_read_back_exactly(work, name, sniff):
    kind, data = ARCHIVES[name]
    path = work / "intact" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    splits = open_source(str(path) if sniff else f"{kind}:{path}")
    check_against_originals(kind, splits)
    assert sum(len(d) for d in splits.values()) == (len(FOLDER_FILES) if kind == "folder" else 6)


# --------------------------------------------------------------------------------------- npz

DTYPES = [np.uint8, np.int8, np.int64, np.uint64, np.float32, np.float64, np.float16, np.complex64, np.bool_,
          "U5", "S3", "V4", [("a", "u1"), ("b", "f4")], "M8[s]"]


@st.composite
def npz_arrays(draw):
    arrays = {}
    n = draw(st.integers(0, 3))
    for key in ("images", "labels", "class_names", "masks", "ids", "split", "source", "format", "version"):
        choice = draw(st.sampled_from(["absent", "valid", "random"]))
        if choice == "valid":
            arrays[key] = {
                "images": np.zeros((n, 48, 48), np.uint8), "labels": np.arange(n, dtype=np.int64) % 2,
                "class_names": np.array(["a", "b"]), "masks": np.zeros((n, 48, 48), bool),
                "ids": np.array([f"i{i}" for i in range(n)]), "split": np.array(["train"] * n),
                "source": np.array("s"), "format": np.array("ferviz-npz"), "version": np.array(1),
            }[key]
        elif choice == "random":
            dtype = np.dtype(draw(st.sampled_from(DTYPES)))
            shape = tuple(draw(st.lists(st.sampled_from([0, 1, 2, 3, 48]), max_size=4)))
            a = np.zeros(shape, dtype)
            if dtype.kind in "fc" and a.size:
                a.flat[draw(st.integers(0, a.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf, 7.0]))
            if dtype.kind in "iu" and a.size:
                a.flat[0] = draw(st.sampled_from([-1, 1, 100, 127] if dtype.kind == "i" else [1, 100, 255]))
            arrays[key] = a
    return arrays


@fuzz_settings(120)
@given(npz_arrays(), st.booleans())
def test_npz_of_any_arrays(work, arrays, compressed):
    path = work / "any.npz"
    with open(path, "wb") as f:
        (np.savez_compressed if compressed else np.savez)(f, **arrays)
    result, err = attempt(load_npz, path)
    if result is None:
        assert isinstance(err, DataError)
        return
    for ds in result.values():
        check_dataset(ds)
        if ds.masks is not None:
            assert ds.masks.shape == ds.images.shape and ds.masks.dtype == bool
        if ds.ids is not None:
            assert ds.ids.shape == (len(ds),)
    images = arrays["images"]
    assert images.dtype == np.uint8 and sum(len(d) for d in result.values()) == len(images)


@fuzz_settings(60)
@given(st.floats(0, 1, exclude_max=True), st.lists(st.tuples(st.floats(0, 1, exclude_max=True),
                                                             st.integers(0, 255)), max_size=3))
def test_damaged_npz(work, cut, flips):
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    np.savez_compressed(buf, images=rng.integers(0, 256, (5, 48, 48), dtype=np.uint8),
                        labels=np.arange(5) % 7, class_names=np.array(FER2013_CLASSES), split=np.array(["train"] * 5))
    data = bytearray(buf.getvalue())
    for where, value in flips:
        data[int(where * len(data))] = value
    if not flips or cut > 0.5:
        data = data[: int(cut * len(data))]
    path = work / "damaged.npz"
    path.write_bytes(bytes(data))
    for spec in (f"npz:{path}", str(path)):
        result, err = attempt(open_source, spec)
        if result is not None:
            (ds,) = result.values()
            check_dataset(ds)


# ------------------------------------------------------------------------------- checkpoints

@pytest.fixture(scope="module")
def small_checkpoint(tmp_path_factory):
    """A tiny (20 KB) real checkpoint, and the model it holds."""
    path = tmp_path_factory.mktemp("ckpt") / "small.pt"
    save_checkpoint(path, make_loaded("tiny-resnet", width=4), history=[{"epoch": 1, "val_accuracy": 0.5}],
                    train_config={"lr": 0.1}, best_epoch=1)
    return path, load_checkpoint(path)


def same_model(a, b) -> bool:
    sa, sb = a.net.state_dict(), b.net.state_dict()
    return (sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
            and a.class_names == b.class_names and a.preprocessing == b.preprocessing
            and (a.in_channels, a.input_size) == (b.in_channels, b.input_size) and a.meta == b.meta)


@fuzz_settings(150)
@given(st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 7)), min_size=1, max_size=4))
def test_bit_flips_in_a_checkpoint_are_caught_or_harmless(work, small_checkpoint, flips):
    path, reference = small_checkpoint
    data = bytearray(path.read_bytes())
    for where, bit in flips:
        data[int(where * len(data))] ^= 1 << bit
    bad = work / "flipped.pt"
    bad.write_bytes(bytes(data))
    model, err = attempt(load_checkpoint, bad)
    if err is not None:
        assert isinstance(err, CheckpointError)
        assert re.search(r"unreadable|truncated|checksum|CRC|corrupt|not a ferviz checkpoint", str(err)), err
    else:  # the flip hit bytes that carry nothing (zip timestamps, padding): the same model
        assert same_model(model, reference)


@fuzz_settings(80)
@given(st.floats(0, 1, exclude_max=True))
def test_truncated_checkpoints(work, small_checkpoint, cut):
    path, _ = small_checkpoint
    data = path.read_bytes()
    bad = work / "cut.pt"
    bad.write_bytes(data[: int(cut * len(data))])
    model, err = attempt(load_checkpoint, bad)
    assert isinstance(err, CheckpointError), model


@fuzz_settings(80)
@given(st.binary(max_size=4000), st.sampled_from([b"", b"PK\x03\x04", b"\x80\x02", b"\x1f\x8b", b"\x80\x04\x95"]))
def test_random_bytes_as_checkpoint(work, data, head):
    bad = work / "random.pt"
    bad.write_bytes(head + data)
    model, err = attempt(load_checkpoint, bad)
    assert isinstance(err, CheckpointError), model


plain_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=8)
    | st.builds(lambda n: torch.zeros(n), st.integers(0, 3)),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6) | st.integers(), inner, max_size=4),
    max_leaves=8,
)


@fuzz_settings(100)
@given(st.sampled_from(["format", "version", "arch", "arch_args", "state_dict", "class_names", "input",
                        "preprocessing", "checksum", "history", "train_config"]), plain_values, st.booleans())
def test_checkpoint_fields_of_any_type(work, small_checkpoint, field, value, nested):
    path, reference = small_checkpoint
    ckpt = torch.load(path, weights_only=True)
    if nested and isinstance(ckpt.get(field), dict) and ckpt[field]:
        key = sorted(ckpt[field])[0]
        ckpt[field] = {**ckpt[field], key: value}
    else:
        ckpt[field] = value
    bad = work / "fields.pt"
    torch.save(ckpt, bad)
    model, err = attempt(load_checkpoint, bad)
    if model is not None:  # the value happened to be acceptable: a usable, consistent model
        with torch.no_grad():
            out = model(model.pixels(np.zeros((2, 48, 48), np.uint8)))
        assert out.shape == (2, len(model.class_names))
    else:
        assert isinstance(err, FervizError)


@fuzz_settings(60)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=1, max_size=8),
       st.sampled_from(["numpy", "tensor"]))
def test_loaded_model_pixels_refuse_non_finite(small_checkpoint, values, kind):
    _, model = small_checkpoint
    x = np.full((1, 48, 48), 128, np.float32)
    x.flat[: len(values)] = values
    images = x if kind == "numpy" else torch.from_numpy(x)
    pixels, err = attempt(model.pixels, images)
    if np.isfinite(x).all():
        assert err is None and pixels.shape == (1, 1, 48, 48)
    else:
        assert isinstance(err, DataError) and "NaN or infinite" in str(err)


def test_fuzz_module_wrote_nothing_outside_its_folder(work):
    cache = work / "cache"
    assert not cache.exists() or not any(cache.iterdir())  # small sources are never cached
