"""Hand-made hostile files: path traversal, links, bombs, pickles, EXIF, NaN, devices and pipes.

Each must end in a well-formed data set or one of ferviz's own errors with a message: never
another exception, a hang, an unbounded allocation, code run from a file, or a write outside the
test's folder (readers read archives in place; they never extract). Random fuzzing of the same
readers is in tests/test_fuzz.py.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import pickle
import resource
import stat
import tarfile
import tracemalloc
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ferviz import FER2013_CLASSES
from ferviz.model.checkpoint import load_checkpoint, save_checkpoint
from ferviz.data import archive, cache, npzfile
from ferviz.data.readers import csvfile
from ferviz.data.imagefolder import decode_image
from ferviz.data.sources import open_source
from ferviz.errors import CheckpointError, DataError, FervizError

from tests.conftest import make_loaded, within

BOMB_BYTES = 200 * 2**20  # 200 MB of zeros: about 200 KB compressed
PEAK_LIMIT = 40 * 2**20  # what a refused bomb may cost, at most (Python-level allocations)


@contextlib.contextmanager
def memory_cap(extra: int):
    """Cap the address space at its current size + `extra` bytes, so a regression that allocates
    a bomb fails with MemoryError instead of taking the machine down."""
    try:
        with open("/proc/self/status") as f:
            vm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    except (OSError, StopIteration):
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = vm + extra
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@contextlib.contextmanager
def peak_python_memory(limit: int):
    tracemalloc.start()
    try:
        yield
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < limit, f"peak {peak:,} bytes"


def tree(root: Path) -> dict:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            s = p.lstat()
            out[str(p.relative_to(root))] = (s.st_size, s.st_mtime_ns)
    return out


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FERVIZ_CACHE_DIR", str(tmp_path / "cache"))


def png(value: int = 128, size: int = 8, mode: str = "L") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, (size, size), value).save(buf, "PNG")
    return buf.getvalue()


def read(spec: str, skip_bad: bool = False, seconds: float = 30):
    with within(seconds), memory_cap(2**30), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return open_source(spec, skip_bad=skip_bad)


def ids(splits) -> list[str]:
    return sorted(i for ds in splits.values() for i in ds.ids)


# ------------------------------------------------------------------- traversal, links, devices

EVIL_NAMES = ["../evil.jpg", "../../evil.jpg", "/abs/evil.jpg", "/tmp/evil.jpg", "..\\evil.jpg", "C:/evil.jpg",
              "train/../../evil.jpg", "train/happy/../../../evil.jpg"]


def test_zip_with_traversal_and_link_members_reads_only_the_safe_ones(tmp_path):
    path = tmp_path / "out" / "evil.zip"
    path.parent.mkdir()
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("train/happy/ok.png", png(200))
        zf.writestr("train/sad/ok.png", png(50))
        for name in EVIL_NAMES:
            zf.writestr(name, png(1))
        link = zipfile.ZipInfo("train/happy/link.png")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    before, parent = tree(tmp_path), sorted(os.listdir(tmp_path.parent))
    for skip_bad in (False, True):
        splits = read(f"folder:{path}", skip_bad)
        assert ids(splits) == ["train/happy/ok.png", "train/sad/ok.png"]
        assert splits["train"].class_names == ("happy", "sad")
    assert tree(tmp_path) == before and sorted(os.listdir(tmp_path.parent)) == parent
    assert not Path("/abs/evil.jpg").exists()
    with archive.open_tree(path) as t:
        assert t.skipped_unsafe == len(EVIL_NAMES) + 1


def test_tar_with_traversal_links_devices_and_huge_sizes(tmp_path):
    path = tmp_path / "out" / "evil.tar.gz"
    path.parent.mkdir()
    with tarfile.open(path, "w:gz") as tf:
        def add(name, data=b"", **attrs):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            for k, v in attrs.items():
                setattr(info, k, v)
            tf.addfile(info, io.BytesIO(data) if data else None)

        add("train/happy/ok.png", png(200))
        for name in EVIL_NAMES:
            add(name, png(1))
        add("train/happy/sym.png", type=tarfile.SYMTYPE, linkname="/etc/passwd")
        add("train/happy/up.png", type=tarfile.SYMTYPE, linkname="../../../../evil.jpg")
        add("train/happy/hard.png", type=tarfile.LNKTYPE, linkname="train/happy/ok.png")
        add("train/happy/fifo.png", type=tarfile.FIFOTYPE)
        add("train/happy/dev.png", type=tarfile.CHRTYPE, devmajor=1, devminor=5)
        add("train/happy/dir.png", type=tarfile.DIRTYPE)
    for skip_bad in (False, True):
        assert ids(read(f"folder:{path}", skip_bad)) == ["train/happy/ok.png"]
    # a member that declares a terabyte and holds nothing
    huge = tmp_path / "out" / "huge.tar"
    header = tarfile.TarInfo("train/sad/huge.png")
    header.size = 10**12
    with open(huge, "wb") as f:
        f.write(header.tobuf(format=tarfile.GNU_FORMAT))
        f.write(b"\0" * 4096)
    with memory_cap(2**30), pytest.raises(DataError, match="huge.png") as err:
        read(f"folder:{huge}")
    assert "more than" in str(err.value) or "truncated" in str(err.value)
    assert not (tmp_path / "evil.jpg").exists() and not (tmp_path.parent / "evil.jpg").exists()


def test_zips_that_broke_the_zip_reader(tmp_path):
    """Found by fuzzing: an empty member name (IndexError in ZipInfo.is_dir) and an unknown
    'version needed to extract' (NotImplementedError from zipfile)."""
    path = tmp_path / "odd.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(zipfile.ZipInfo(""), png())
        zf.writestr("train/happy/ok.png", png())
    for spec in (f"folder:{path}", str(path), f"csv:{path}", f"npz:{path}"):
        with contextlib.suppress(DataError):
            read(spec)
    assert ids(read(f"folder:{path}")) == ["train/happy/ok.png"]
    data = bytearray(path.read_bytes())
    central = data.find(b"PK\x01\x02")
    data[central + 6] = 255  # version needed: 25.5
    path.write_bytes(bytes(data))
    for spec in (f"folder:{path}", str(path), f"csv:{path}", f"npz:{path}"):
        with pytest.raises(DataError, match="odd.zip"):
            read(spec)
    with pytest.raises(CheckpointError, match="odd.zip"):
        load(path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_pipes_and_devices_are_not_read(tmp_path):
    """A FIFO would block forever, /dev/zero never ends: neither is read as data."""
    root = tmp_path / "faces"
    (root / "train" / "happy").mkdir(parents=True)
    (root / "train" / "happy" / "ok.png").write_bytes(png())
    os.mkfifo(root / "train" / "happy" / "fifo.png")
    os.symlink("/dev/zero", root / "train" / "happy" / "zero.png")
    assert ids(read(f"folder:{root}", seconds=10)) == ["train/happy/ok.png"]
    assert ids(read(str(root), seconds=10)) == ["train/happy/ok.png"]
    flat = root / "train" / "happy"
    assert ids(read(f"images:{flat}", seconds=10)) == ["ok.png"]
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for kind in ("csv", "npz", "images"):
        with pytest.raises(DataError, match="not a regular file"):
            read(f"{kind}:{fifo}", seconds=10)
    with pytest.raises(DataError, match="not a regular file"):
        read("csv:/dev/zero", seconds=10)


# --------------------------------------------------------------------------------------- bombs

def zero_member(zf: zipfile.ZipFile, name: str, size: int) -> None:
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    with zf.open(info, "w", force_zip64=True) as f:
        block = bytes(2**20)
        for _ in range(size // len(block)):
            f.write(block)


@pytest.fixture(scope="module")
def zip_bomb(tmp_path_factory):
    path = tmp_path_factory.mktemp("bomb") / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("train/happy/ok.png", png(200))
        zf.writestr("train/sad/ok.png", png(20))
        zero_member(zf, "train/sad/bomb.png", BOMB_BYTES)
    assert path.stat().st_size < 1_000_000
    return path


def test_zip_bomb_is_refused_by_the_member_cap(zip_bomb):
    with memory_cap(2**30), peak_python_memory(PEAK_LIMIT):
        with pytest.raises(DataError, match=r"bomb.png: more than 52,428,800 bytes decompressed; refused"):
            read(f"folder:{zip_bomb}")
        splits = read(f"folder:{zip_bomb}", skip_bad=True)
    assert ids(splits) == ["train/happy/ok.png", "train/sad/ok.png"]


def test_zip_bomb_that_lies_about_its_size(tmp_path, zip_bomb):
    """The directory says 1,000 bytes: reading stops there (and the CRC then fails)."""
    data = bytearray(zip_bomb.read_bytes())
    name = b"train/sad/bomb.png"
    entry = data.rfind(name) - 46
    assert data[entry:entry + 4] == b"PK\x01\x02" and data[entry + 24:entry + 28] == BOMB_BYTES.to_bytes(4, "little")
    data[entry + 24:entry + 28] = (1000).to_bytes(4, "little")  # uncompressed size
    liar = tmp_path / "liar.zip"
    liar.write_bytes(bytes(data))
    with zipfile.ZipFile(liar) as zf:
        assert zf.getinfo("train/sad/bomb.png").file_size == 1000
    with memory_cap(2**30), peak_python_memory(PEAK_LIMIT):
        with pytest.raises(DataError, match="bomb.png"):
            read(f"folder:{liar}")
        assert ids(read(f"folder:{liar}", skip_bad=True)) == ["train/happy/ok.png", "train/sad/ok.png"]


def write_tar_gz(path: Path, members: list[tuple[tarfile.TarInfo, int | bytes]]) -> None:
    """A .tar.gz written header by header (sizes may lie; zeros streamed, never held)."""
    with gzip.open(path, "wb", compresslevel=1) as g:
        for info, body in members:
            g.write(info.tobuf(format=tarfile.USTAR_FORMAT))
            if isinstance(body, bytes):
                g.write(body + b"\0" * (-len(body) % 512))
            else:
                block = bytes(2**20)
                for _ in range(body // len(block)):
                    g.write(block)
        g.write(b"\0" * 1024)


def tar_info(name: str, size: int, kind: bytes = tarfile.REGTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.type = size, kind
    return info


def test_tar_bombs(tmp_path):
    ok = png(200)
    plain = tmp_path / "member.tar.gz"
    write_tar_gz(plain, [(tar_info("train/happy/ok.png", len(ok)), ok),
                         (tar_info("train/sad/bomb.png", BOMB_BYTES), BOMB_BYTES)])
    assert plain.stat().st_size < 2_000_000
    with memory_cap(2**30), peak_python_memory(PEAK_LIMIT):
        with pytest.raises(DataError, match="bomb.png: more than"):
            read(f"folder:{plain}")
        assert ids(read(f"folder:{plain}", skip_bad=True)) == ["train/happy/ok.png"]
    # a pax / GNU long-name header is read whole by tarfile: a huge one is refused before that
    for kind in (tarfile.XHDTYPE, tarfile.GNUTYPE_LONGNAME):
        header = tmp_path / f"header-{kind.decode()}.tar.gz"
        write_tar_gz(header, [(tar_info("././@LongLink", BOMB_BYTES, kind), BOMB_BYTES),
                              (tar_info("train/happy/ok.png", len(ok)), ok)])
        with memory_cap(2**30), peak_python_memory(PEAK_LIMIT):
            for skip_bad in (False, True):
                with pytest.raises(DataError, match="extended header of 209,715,200 bytes"):
                    read(f"folder:{header}", skip_bad)


def test_gzip_csv_bomb(tmp_path, monkeypatch):
    path = tmp_path / "fer2013.csv.gz"
    with gzip.open(path, "wb", compresslevel=1) as g:
        g.write(b"emotion,pixels,Usage\n")
        block = b"0" * 2**20
        for _ in range(BOMB_BYTES // len(block)):
            g.write(block)
    monkeypatch.setattr(csvfile, "MAX_CSV_BYTES", 10 * 2**20)
    with memory_cap(2**30), peak_python_memory(PEAK_LIMIT), pytest.raises(DataError, match="more than 10,485,760"):
        read(f"csv:{path}")


def test_image_decompression_bombs(tmp_path):
    """An image whose header claims a huge size is refused before it is decoded."""
    import struct
    import zlib

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    for w, h in ((100_000, 100_000), (2**31 - 1, 1), (10_000, 10_000)):
        data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))
        with within(10), memory_cap(2**30), warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with pytest.raises(DataError, match="where: "):
                decode_image(data, "where")


# ---------------------------------------------------------------------------- nested, foreign

def test_nested_archives_are_not_opened(tmp_path):
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("train/happy/a.png", png())
    path = tmp_path / "outer.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("train/happy/ok.png", png(9))
        zf.writestr("train/happy/inner.zip", inner.getvalue())
        zf.writestr("train/sad/inner.jpg", inner.getvalue())  # an archive posing as an image
    before = tree(tmp_path)
    with pytest.raises(DataError, match="inner"):
        read(f"folder:{path}")
    assert ids(read(f"folder:{path}", skip_bad=True)) == ["train/happy/ok.png"]
    # a zip posing as the CSV of a tar
    tgz = tmp_path / "fer.tar.gz"
    with tarfile.open(tgz, "w:gz") as tf:
        info = tarfile.TarInfo("fer2013.csv")
        info.size = len(inner.getvalue())
        tf.addfile(info, io.BytesIO(inner.getvalue()))
    with pytest.raises(DataError, match="fer2013.csv"):
        read(f"csv:{tgz}")
    before["fer.tar.gz"] = tree(tmp_path)["fer.tar.gz"]
    assert tree(tmp_path) == before


@pytest.mark.parametrize("fmt", ["ICO", "TGA", "SGI", "PCX", "DDS", "QOI", "EPS", "PDF", "XBM", "IM", "SPIDER"])
def test_only_face_image_formats_are_decoded(fmt):
    """A file is decoded only by the JPEG/PNG/BMP/GIF/TIFF/WebP/PNM decoders, whatever it says it is
    (EPS would run Ghostscript; DDS raised NotImplementedError)."""
    buf = io.BytesIO()
    mode = "1" if fmt == "XBM" else "F" if fmt == "SPIDER" else "RGB"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            Image.new(mode, (16, 16)).save(buf, fmt)
    except (KeyError, OSError, ValueError):
        pytest.skip(f"this Pillow cannot write {fmt}")
    with pytest.raises(DataError, match=r"x.jpg: unreadable image \(not a JPEG, PNG"):
        decode_image(buf.getvalue(), "x.jpg")


# ------------------------------------------------------------------------------ EXIF, NaN pixels

ORIENT = {1: lambda a: a, 2: np.fliplr, 3: lambda a: np.rot90(a, 2), 4: np.flipud, 5: lambda a: a.T,
          6: lambda a: np.rot90(a, -1), 7: lambda a: np.rot90(a, 2).T, 8: lambda a: np.rot90(a, 1)}


def encode(pixels: np.ndarray, fmt: str, orientation: int | None = None) -> bytes:
    buf = io.BytesIO()
    extra = {}
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        extra["exif"] = exif.tobytes()
    Image.fromarray(pixels).save(buf, fmt, **extra, **({"quality": 95} if fmt == "JPEG" else {}))
    return buf.getvalue()


@pytest.mark.parametrize("orientation", sorted(ORIENT))
@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "TIFF"])
def test_exif_orientation_gives_the_rotated_pixels(fmt, orientation):
    rng = np.random.default_rng(orientation)
    pixels = rng.integers(0, 256, (40, 64), dtype=np.uint8)  # not square: rotations show
    pixels[:8, :16] = 255  # a bright corner
    tagged = encode(pixels, fmt, orientation)
    # what the file holds (lossy formats: decoded without the tag), then turned by hand
    stored = np.asarray(Image.open(io.BytesIO(encode(pixels, fmt))).convert("L"))
    want = decode_image(encode(np.ascontiguousarray(ORIENT[orientation](stored)), "PNG"), "want")
    got = decode_image(tagged, "got")
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, decode_image(tagged, "again"))


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_float_images_with_nan_or_inf_are_refused(value):
    a = np.full((20, 20), 100.0, np.float32)
    a[3, 4] = value
    buf = io.BytesIO()
    Image.fromarray(a, "F").save(buf, "TIFF")
    with pytest.raises(DataError, match="NaN or infinite"):
        decode_image(buf.getvalue(), "float.tif")
    buf = io.BytesIO()
    Image.fromarray(np.full((20, 20), 300.5, np.float32), "F").save(buf, "TIFF")
    assert (decode_image(buf.getvalue(), "ok.tif") == 255).all()  # finite: clipped as documented


# ---------------------------------------------------------------------------------------- npz

class Payload:
    """Unpickling this would create a file: the proof that code ran."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_npz_object_arrays_are_never_unpickled(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.npz"
    for key in ("images", "labels", "class_names", "split", "source", "ids", "masks"):
        arrays = {"images": np.zeros((2, 48, 48), np.uint8), "class_names": np.array(["a"]),
                  key: np.array([Payload(str(marker)), 1], dtype=object)}
        np.savez(path, **arrays)
        for spec in (f"npz:{path}", str(path)):
            with pytest.raises(DataError, match="evil.npz"):
                read(spec)
        assert not marker.exists()
    # a bare pickle named .npz
    path.write_bytes(pickle.dumps(Payload(str(marker))))
    with pytest.raises(DataError, match="evil.npz: not a readable ferviz .npz file"):
        read(f"npz:{path}")
    assert not marker.exists()


def test_npz_that_is_not_a_zip(tmp_path):
    """A bare .npy made np.load return an array (TypeError: not a context manager)."""
    path = tmp_path / "bare.npz"
    np.save(tmp_path / "bare.npy", np.zeros((2, 48, 48), np.uint8))
    os.replace(tmp_path / "bare.npy", path)
    for data in (path.read_bytes(), b"", b"\x93NUMPY", os.urandom(300)):
        path.write_bytes(data)
        with pytest.raises(DataError, match="bare.npz: not a readable ferviz .npz file"):
            read(f"npz:{path}")


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_npz_float_images_are_refused(tmp_path, value):
    images = np.full((3, 48, 48), 100.0, np.float32)
    images[1, 2, 3] = value
    np.savez(tmp_path / "f.npz", images=images)
    with pytest.raises(DataError, match=r"uint8, got float32 \(3, 48, 48\) \(and it holds NaN or infinite"):
        read(f"npz:{tmp_path / 'f.npz'}")
    masks = np.zeros((3, 48, 48), np.float32)
    masks[0, 0, 0] = value
    np.savez(tmp_path / "m.npz", images=np.zeros((3, 48, 48), np.uint8), masks=masks)
    with pytest.raises(DataError, match="masks must be boolean"):
        read(f"npz:{tmp_path / 'm.npz'}")


@pytest.mark.parametrize("arrays, message", [
    ({"images": np.zeros((2, 48, 48), np.uint8), "labels": np.zeros(1, np.int64), "class_names": np.array(["a"])},
     "labels has 1 rows for 2 images"),
    ({"images": np.zeros((2, 48, 48), np.uint8), "class_names": np.array("a")}, "class_names must be a 1-D"),
    ({"images": np.zeros((2, 48, 48), np.uint8), "split": np.zeros((2, 2), "U3")}, "'split' must be one name"),
    ({"images": np.zeros((2, 48, 48), np.uint8), "split": np.zeros(2, "f4")}, "'split' must be text"),
    ({"images": np.zeros((2, 48, 48), np.uint8), "ids": np.zeros((2, 3), "U3")}, "ids must have shape"),
    ({"images": np.zeros((2, 48, 48), np.uint8), "masks": np.zeros((2, 4, 4), bool)}, "masks have shape"),
    ({"images": np.zeros((2, 0, 48), np.uint8)}, "images of size 0x48"),
    ({"images": np.zeros((2, 48, 48), np.uint8), "split": np.array([b"\xff\xfe", b"a"])}, "not ASCII"),
    ({"labels": np.zeros(2, np.int64)}, "no 'images' array"),
])
def test_npz_wrong_shapes_and_types(tmp_path, arrays, message):
    np.savez(tmp_path / "w.npz", **arrays)
    with pytest.raises(DataError, match=message):
        read(f"npz:{tmp_path / 'w.npz'}")


def test_npz_bombs(tmp_path, monkeypatch):
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("images.npy", "w", force_zip64=True) as f:
            np.lib.format.write_array_header_1_0(f, {"descr": "|u1", "fortran_order": False,
                                                     "shape": (BOMB_BYTES // 2304, 48, 48)})
            block = bytes(2**20)
            for _ in range(BOMB_BYTES // len(block)):
                f.write(block)
    monkeypatch.setattr(npzfile, "MAX_NPZ_BYTES", 50 * 2**20)
    with memory_cap(2**30), peak_python_memory(PEAK_LIMIT), pytest.raises(DataError, match="byte limit; refused"):
        read(f"npz:{path}")
    # an array header that declares far more than the file holds
    for shape in ((4 * 10**9, 48, 48), (10**15, 1, 1)):
        buf = io.BytesIO()
        np.lib.format.write_array_header_1_0(buf, {"descr": "|u1", "fortran_order": False, "shape": shape})
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("images.npy", buf.getvalue() + bytes(100))
        with memory_cap(2**30), peak_python_memory(PEAK_LIMIT), pytest.raises(DataError, match="bomb.npz"):
            read(f"npz:{path}")


# ---------------------------------------------------------------------------------- the cache

def test_corrupt_cache_entries_are_rebuilt_never_trusted(tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "MIN_IMAGES", 1)
    rows = "".join(f"{i % 7},{' '.join([str(i * 9 % 256)] * 2304)},Training\n" for i in range(12))
    path = tmp_path / "fer.csv"
    path.write_text("emotion,pixels,Usage\n" + rows)
    first = read(f"csv:{path}")
    (entry,) = (tmp_path / "cache").glob("csv-*.npz")
    good = entry.read_bytes()
    rng = np.random.default_rng(0)
    spoilt = [b"", good[: len(good) // 2], rng.bytes(len(good)), pickle.dumps(Payload(str(tmp_path / "pwned")))]
    for _ in range(8):
        flipped = bytearray(good)
        flipped[int(rng.integers(len(good)))] ^= 1 << int(rng.integers(8))
        spoilt.append(bytes(flipped))
    buf = io.BytesIO()
    np.savez(buf, **{"__meta__": np.array([Payload(str(tmp_path / "pwned"))], dtype=object)})
    spoilt.append(buf.getvalue())
    for data in spoilt:
        entry.write_bytes(data)
        again = read(f"csv:{path}")
        (a,), (b,) = first.values(), again.values()
        np.testing.assert_array_equal(a.images, b.images)
        np.testing.assert_array_equal(a.labels, b.labels)
        np.testing.assert_array_equal(a.ids, b.ids)
    assert not (tmp_path / "pwned").exists()


# -------------------------------------------------------------------------------- checkpoints

@pytest.fixture(scope="module")
def small_ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "small.pt"
    save_checkpoint(path, make_loaded("tiny-resnet", width=4), history=[{"epoch": 1}], train_config={},
                    best_epoch=1)
    return path


def load(path, **options):
    with within(30), memory_cap(2**30):
        return load_checkpoint(path, **options)


def saved(tmp_path, ckpt, name="x.pt", **kwargs) -> Path:
    path = tmp_path / name
    torch.save(ckpt, path, **kwargs)
    return path


@pytest.mark.parametrize("field", ["arch", "arch_args", "state_dict", "class_names", "input", "preprocessing"])
def test_checkpoint_missing_field(tmp_path, small_ckpt, field):
    ckpt = torch.load(small_ckpt, weights_only=True)
    del ckpt[field]
    with pytest.raises(CheckpointError, match=rf"missing fields \['{field}'\]"):
        load(saved(tmp_path, ckpt))


WRONG = [
    ("class_names", 7), ("class_names", "angry"), ("class_names", []),
    ("class_names", ["a", "a", "b", "c", "d", "e", "f"]),
    ("class_names", [1, 2, 3, 4, 5, 6, 7]), ("class_names", list("abc")), ("arch_args", [7, 1]),
    ("arch_args", {1: 2}), ("arch_args", "width=4"), ("arch", 3), ("arch", None), ("input", "48"),
    ("input", {"channels": 1, "size": "48"}), ("input", {"channels": 1}), ("input", {"channels": 1, "size": 10**9}),
    ("input", {"channels": 3, "size": 48}), ("input", {"channels": True, "size": 48}), ("input", [1, 48]),
    ("preprocessing", "standard"), ("preprocessing", {"mode": "standard", "mean": "128"}),
    ("preprocessing", {"mode": "standard", "mean": float("nan"), "std": 1.0}),
    ("preprocessing", {"mode": "standard", "mean": 0.0, "std": 0.0}), ("preprocessing", {"mode": "zscore"}),
    ("preprocessing", {"bogus": 1}), ("state_dict", [torch.zeros(1)]), ("state_dict", {"x": 1}),
    ("state_dict", {}), ("state_dict", None), ("version", "1"), ("version", 0), ("version", None), ("version", 2),
    ("checksum", 5), ("history", 3), ("history", [1, 2]), ("train_config", "lr=0.1"),
]


@pytest.mark.parametrize("field, value", WRONG, ids=[f"{f}={v!r}"[:40] for f, v in WRONG])
def test_checkpoint_field_of_wrong_type_or_value(tmp_path, small_ckpt, field, value):
    ckpt = torch.load(small_ckpt, weights_only=True)
    ckpt[field] = value
    with pytest.raises(CheckpointError, match=r"checkpoint .*x\.pt") as err:
        load(saved(tmp_path, ckpt))
    if field not in ("state_dict", "checksum", "version"):
        assert field in str(err.value) or "architecture" in str(err.value) or "normalisation" in str(err.value)


@pytest.mark.parametrize("arch_args", [{"num_classes": 7, "in_channels": 1, "width": 10**6},
                                       {"num_classes": 7, "in_channels": 1, "width": 4, "depth": 3000},
                                       {"num_classes": 10**12, "in_channels": 1, "width": 4},
                                       {"num_classes": -1, "in_channels": 1, "width": 4},
                                       {"num_classes": 7, "in_channels": 1, "width": 4, "bogus": 1},
                                       {"num_classes": "7", "in_channels": 1, "width": 4}])
def test_checkpoint_arch_args_that_would_build_a_huge_or_broken_network(tmp_path, small_ckpt, arch_args):
    """The network is first built on the meta device: no giant allocation before refusing."""
    ckpt = torch.load(small_ckpt, weights_only=True)
    ckpt["arch_args"] = arch_args
    with within(10), pytest.raises(CheckpointError, match="'tiny-resnet'"):
        load(saved(tmp_path, ckpt))


def test_checkpoint_with_nan_weights_is_refused(tmp_path, small_ckpt):
    from ferviz.model.checkpoint import tensor_checksum

    ckpt = torch.load(small_ckpt, weights_only=True)
    name = sorted(k for k, v in ckpt["state_dict"].items() if v.is_floating_point())[0]
    ckpt["state_dict"][name].view(-1)[0] = float("nan")
    ckpt["checksum"] = tensor_checksum(ckpt["state_dict"])
    with pytest.raises(CheckpointError, match=f"weight {name} holds NaN or infinite"):
        load(saved(tmp_path, ckpt))


@pytest.mark.parametrize("how", ["zip", "legacy", "pickle", "nested", "zip-data.pkl"])
def test_checkpoint_pickle_payloads_run_no_code(tmp_path, small_ckpt, how):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    ckpt = torch.load(small_ckpt, weights_only=True)
    if how == "zip":
        torch.save({**ckpt, "history": Payload(str(marker))}, evil)
    elif how == "legacy":
        torch.save({**ckpt, "history": Payload(str(marker))}, evil, _use_new_zipfile_serialization=False)
    elif how == "pickle":
        evil.write_bytes(pickle.dumps({"format": "ferviz-checkpoint", "x": Payload(str(marker))}, protocol=2))
    elif how == "nested":
        ckpt["state_dict"] = {**ckpt["state_dict"], "x": [Payload(str(marker))]}
        torch.save(ckpt, evil)
    else:  # a hand-made zip whose data.pkl is the payload
        torch.save(ckpt, evil)
        data = pickle.dumps(Payload(str(marker)), protocol=2)
        with zipfile.ZipFile(evil) as zf:
            records = {n: zf.read(n) for n in zf.namelist()}
        with zipfile.ZipFile(evil, "w") as zf:
            for n, d in records.items():
                zf.writestr(n, data if n.endswith("data.pkl") else d)
    with pytest.raises(CheckpointError, match="refused; it holds objects that would run code"):
        load(evil)
    assert not marker.exists()


def test_checkpoint_zip_bombs_and_legacy_tar(tmp_path, small_ckpt):
    with zipfile.ZipFile(small_ckpt) as zf:
        records = {n: zf.read(n) for n in zf.namelist()}
    bomb = tmp_path / "bomb.pt"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        for n, d in records.items():
            zf.writestr(n, d)
        zero_member(zf, next(iter(records)).split("/")[0] + "/data/999", BOMB_BYTES)
    with peak_python_memory(PEAK_LIMIT), pytest.raises(CheckpointError, match="byte limit; refused"):
        load(bomb)
    # torch's pre-1.6 tar format: refused before torch makes its temporary folder
    legacy = tmp_path / "legacy.pt"
    with tarfile.open(legacy, "w") as tf:
        for name in ("sys_info", "pickle", "tensors", "storages"):
            info = tarfile.TarInfo(name)
            info.size = 4
            tf.addfile(info, io.BytesIO(b"\x80\x02N."))
    with pytest.raises(CheckpointError, match="legacy tar format"):
        load(legacy)


def test_checkpoint_with_a_bad_record_crc(tmp_path, small_ckpt):
    """torch does not check the zip CRC-32: a flipped class name would load silently."""
    data = bytearray(small_ckpt.read_bytes())
    at = data.find(b"surprise")
    assert at > 0
    data[at] ^= 0x20  # "Surprise": a valid pickle, a different class name
    flipped = tmp_path / "flipped.pt"
    flipped.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="fails its CRC-32 check"):
        load(flipped)


def test_checkpoint_saved_without_crc_still_loads(tmp_path):
    """torch.save after set_crc32_options(False) writes CRC 0 everywhere: nothing to check, no refusal."""
    if not hasattr(torch.serialization, "set_crc32_options"):
        pytest.skip("torch without set_crc32_options")
    torch.serialization.set_crc32_options(False)
    try:
        path = save_checkpoint(tmp_path / "nocrc.pt", make_loaded("tiny-resnet", width=4))
    finally:
        torch.serialization.set_crc32_options(True)
    with zipfile.ZipFile(path) as zf:
        assert {i.CRC for i in zf.infolist()} == {0}
    assert load(path).class_names == FER2013_CLASSES


def test_options_given_by_the_user_are_checked(tmp_path, small_ckpt):
    ckpt = torch.load(small_ckpt, weights_only=True)
    plain = saved(tmp_path, ckpt["state_dict"], "plain.pt")
    common = {"arch": "tiny-resnet", "arch_args": {"width": 4}, "classes": ",".join(FER2013_CLASSES)}
    with pytest.raises(FervizError, match="MEAN and STD must be numbers"):
        load(plain, normalize="standard:abc,1", **common)
    with pytest.raises(FervizError, match="--size must be a whole number from 1 to 4096, got 'big'"):
        load(plain, normalize="unit", size="big", **common)
    model = load(plain, normalize="unit", size="48", **common)
    assert model.input_size == 48


# ---------------------------------------------------------------------------- LoadedModel.pixels

@pytest.mark.parametrize("images, message", [
    (np.full((1, 48, 48), np.nan, np.float32), "NaN or infinite"),
    (torch.full((2, 1, 48, 48), float("inf")), "NaN or infinite"),
    (np.array([[[np.float64("-inf")]]]), "NaN or infinite"),
    (np.zeros((48, 48), np.uint8), "got torch.uint8 \\(48, 48\\)"),
    (np.zeros((1, 1, 1, 48, 48), np.uint8), "images must be"),
    (np.zeros((1, 3, 48, 48), np.uint8), "3 channels"),
    (np.zeros((1, 0, 48), np.uint8), "images must be"),
    (np.array([[["a"]]], dtype=object), "numeric array"),
    (np.zeros((1, 48, 48), bool), "images must be"),
])
def test_loaded_model_pixels_refuse_bad_input(small_ckpt, images, message):
    model = load(small_ckpt)
    with pytest.raises(DataError, match=message):
        model.pixels(images)


def test_loaded_model_pixels_take_finite_floats(small_ckpt):
    model = load(small_ckpt)
    x = model.pixels(np.full((2, 30, 30), 300.0, np.float64))
    assert x.shape == (2, 1, 48, 48) and x.dtype == torch.float32
