"""The file readers (ferviz.data.readers): every format agrees on the same images, labels and splits."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ferviz import FER2013_CLASSES
from ferviz.data import Dataset, archive, cache, csvfast
from ferviz.data.npzfile import load_npz, save_npz
from ferviz.data.readers import CsvReader, FolderReader, NpzReader, UnlabelledReader
from ferviz.data.imagefolder import decode_image, find_layout
from ferviz.errors import DataError, DataWarning

USAGE = {"train": "Training", "public-test": "PublicTest", "private-test": "PrivateTest"}


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FERVIZ_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("FERVIZ_NO_CACHE", raising=False)
    monkeypatch.setattr(cache, "MIN_IMAGES", 0)  # cache even these tiny files


# ------------------------------------------------------------------------------- builders


def faces(n=28, seed=0):
    """n random faces; labels cycle through the 7 classes; splits train / public / private."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 48, 48), dtype=np.uint8)
    labels = np.arange(n) % 7
    splits = np.array(["train"] * (n - n // 4 - n // 4) + ["public-test"] * (n // 4) + ["private-test"] * (n // 4))
    return images, labels, splits


def csv_text(images, labels, splits=None, columns=("emotion", "pixels", "Usage"), newline="\n"):
    lines = [",".join(columns)]
    for i, (img, lab) in enumerate(zip(images, labels)):
        value = {"emotion": str(lab), "pixels": " ".join(map(str, img.ravel())),
                 "Usage": USAGE[splits[i]] if splits is not None else ""}
        lines.append(",".join(value[c] for c in columns))
    return newline.join(lines) + newline


def write_csv(path, *args, **kw) -> Path:
    path.write_text(csv_text(*args, **kw))
    return path


def write_tree(root: Path, images, labels, splits, fmt="png", two_level=True) -> Path:
    for i, (img, lab, split) in enumerate(zip(images, labels, splits)):
        folder = root / split / FER2013_CLASSES[lab] if two_level else root / FER2013_CLASSES[lab]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img, "L").save(folder / f"img{i:04d}.{fmt}")
    return root


def zip_tree(root: Path, out: Path, prefix="") -> Path:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(root.rglob("*")):
            if p.is_file():
                zf.write(p, prefix + p.relative_to(root).as_posix())
    return out


def tar_tree(root: Path, out: Path, prefix="") -> Path:
    with tarfile.open(out, "w:gz") as tf:
        for p in sorted(root.rglob("*")):
            if p.is_file():
                tf.add(p, prefix + p.relative_to(root).as_posix())
    return out


def png_bytes(img) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "PNG")
    return buf.getvalue()


def by_content(splits: dict[str, Dataset]) -> dict[tuple[str, bytes], str]:
    """(split, image bytes) -> class name: the comparison key that ignores order and indices."""
    out = {}
    for name, d in splits.items():
        for img, lab in zip(d.images, d.labels):
            out[(name, img.tobytes())] = d.class_names[lab]
    return out


def read(reader, location, **options):
    return reader.read(str(location), {"skip_bad": False, **options})


# ------------------------------------------------------------------------------------ CSV


def test_csv_reads_labels_splits_ids(tmp_path):
    images, labels, splits = faces()
    out = read(CsvReader(), write_csv(tmp_path / "fer.csv", images, labels, splits))
    assert list(out) == ["train", "public-test", "private-test"]
    for name, d in out.items():
        pick = np.flatnonzero(splits == name)
        assert d.class_names == FER2013_CLASSES and d.split == name
        np.testing.assert_array_equal(d.images, images[pick])
        np.testing.assert_array_equal(d.labels, labels[pick])
        assert d.ids.tolist() == [str(i) for i in pick]


def test_fast_and_slow_paths_agree_and_tolerate_irregular_rows(tmp_path):
    images, labels, splits = faces(21)
    clean = csv_text(images, labels, splits).encode()
    fast = csvfast.parse_fer_csv(clean, "clean")
    slow = csvfast.parse_fer_csv(clean, "clean", force_slow=True)
    # quotes, CRLF, runs of blanks, a leading zero, blank lines: the slow path accepts them
    rows = clean.decode().splitlines()
    messy = [rows[0]]
    for r in rows[1:]:
        lab, pix, use = r.split(",")
        messy.append(f'{lab},"  {pix.replace(" ", "  ", 3)} ",{use}')
        messy.append("")
    messy = "\r\n".join(messy).encode()
    odd = csvfast.parse_fer_csv(messy, "messy")
    for t in (slow, odd):
        np.testing.assert_array_equal(t.images, fast.images)
        np.testing.assert_array_equal(t.labels, fast.labels)
        np.testing.assert_array_equal(t.splits, fast.splits)
        np.testing.assert_array_equal(t.rows, fast.rows)
    np.testing.assert_array_equal(fast.images, images)


def test_fast_path_takes_crlf_bom_quotes_and_any_column_order(monkeypatch):
    images, labels, splits = faces(14, seed=5)
    text = csv_text(images, labels, splits, columns=("Usage", "emotion", "pixels"), newline="\r\n")
    rows = ("\ufeff" + text).split("\r\n")
    usage, emotion, pixels = rows[1].split(",")
    rows[1] = f'{usage},{emotion},"{pixels}"'  # a quoted pixels field

    def no_slow(*a, **k):
        raise AssertionError("slow path used")

    monkeypatch.setattr(csvfast, "_slow_block", no_slow)
    t = csvfast.parse_fer_csv("\r\n".join(rows).encode(), "x")
    np.testing.assert_array_equal(t.images, images)
    np.testing.assert_array_equal(t.labels, labels)
    np.testing.assert_array_equal(t.splits, splits)


def test_fast_path_handles_many_blocks(tmp_path, monkeypatch):
    images, labels, splits = faces(40, seed=3)
    monkeypatch.setattr(csvfast, "BLOCK_BYTES", 20_000)  # about two rows a block
    t = csvfast.parse_fer_csv(csv_text(images, labels, splits).encode(), "x")
    np.testing.assert_array_equal(t.images, images)
    np.testing.assert_array_equal(t.rows, np.arange(40))


def test_csv_columns_any_order_and_no_usage(tmp_path):
    images, labels, splits = faces(14)
    out = read(CsvReader(), write_csv(tmp_path / "a.csv", images, labels, splits,
                                      columns=("Usage", "pixels", "emotion")))
    np.testing.assert_array_equal(out["train"].images, images[splits == "train"])
    out = read(CsvReader(), write_csv(tmp_path / "b.csv", images, labels, columns=("emotion", "pixels")))
    assert list(out) == ["train"] and len(out["train"]) == 14
    np.testing.assert_array_equal(out["train"].labels, labels)


def test_csv_without_trailing_newline(tmp_path):
    images, labels, splits = faces(7)
    p = tmp_path / "x.csv"
    p.write_text(csv_text(images, labels, splits).rstrip("\n"))
    assert sum(len(d) for d in read(CsvReader(), p).values()) == 7


def test_csv_missing_pixels_column_is_named(tmp_path):
    images, labels, splits = faces(7)
    p = write_csv(tmp_path / "x.csv", images, labels, splits, columns=("emotion", "Usage"))
    with pytest.raises(DataError, match="x.csv: line 1: the header has no 'pixels' column"):
        read(CsvReader(), p)


@pytest.mark.parametrize("columns", [("pixels",), ("id", "pixels"), ("pixels", "Usage")])
def test_kaggle_unlabelled_test_csv_is_a_test_split_without_labels(tmp_path, columns):
    """Kaggle's test.csv has no emotion column: header `pixels`, or `id,pixels`."""
    images = faces(9)[0]
    rows = [",".join(columns)]
    for i, img in enumerate(images):
        field = {"id": str(3000 + i), "pixels": " ".join(map(str, img.ravel())), "Usage": "PrivateTest"}
        rows.append(",".join(field[c] for c in columns))
    path = tmp_path / "test.csv"
    path.write_text("\n".join(rows) + "\n")
    want_ids = [str(3000 + i) for i in range(9)] if "id" in columns else [str(i) for i in range(9)]
    for slow in (False, True):
        table = csvfast.parse_fer_csv(path.read_bytes(), "test.csv", force_slow=slow)
        assert table.labels is None
        np.testing.assert_array_equal(table.images, images)
    split = "private-test" if "Usage" in columns else "test"
    out = read(CsvReader(), path)
    assert list(out) == [split]
    assert out[split].labels is None and out[split].class_names == ()
    assert out[split].ids.tolist() == want_ids
    np.testing.assert_array_equal(out[split].images, images)
    assert read(CsvReader(), path)[split].ids.tolist() == want_ids  # and the same from the cache
    with pytest.raises(DataError, match="no emotion column"):
        read(CsvReader(), path, ferplus=str(path))


BAD_ROWS = [
    (lambda lab, pix, use: f"{lab},{pix.rsplit(' ', 1)[0]},{use}", "2303 pixel values, expected 2304"),
    (lambda lab, pix, use: f"{lab},{pix.split(' ')[0]} 7a {pix.split(' ', 2)[2]},{use}",
     "pixel 2 .*'7a'.* not a number"),
    (lambda lab, pix, use: f"{lab},300 {pix.split(' ', 1)[1]},{use}", "pixel 1 is 300, above 255"),
    (lambda lab, pix, use: f"7,{pix},{use}", "emotion 7 is outside 0-6"),
    (lambda lab, pix, use: f"x,{pix},{use}", "emotion 'x' is not an integer"),
    (lambda lab, pix, use: f"{lab},{pix},Holdout", "Usage 'Holdout'"),
    (lambda lab, pix, use: f"{lab},{pix}", "2 fields, expected 3"),
]


def test_a_bad_row_says_how_to_skip_it(tmp_path):
    images, labels, splits = faces(7)
    rows = csv_text(images, labels, splits).splitlines()
    rows[2] = "9" + rows[2][1:]
    (tmp_path / "bad.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError, match="bad.csv: line 3: emotion 9 is outside 0-6 .*--skip-bad"):
        read(CsvReader(), tmp_path / "bad.csv")


@pytest.mark.parametrize("spoil, message", BAD_ROWS)
def test_csv_bad_row_names_line_and_problem(tmp_path, spoil, message):
    images, labels, splits = faces(10)
    rows = csv_text(images, labels, splits).splitlines()
    rows[4] = spoil(*rows[4].split(","))  # data row 3, file line 5
    p = tmp_path / "bad.csv"
    p.write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError, match=f"bad.csv: line 5: {message}"):
        read(CsvReader(), p)
    with pytest.warns(DataWarning, match="skipped 1 bad row ") as record:
        out = read(CsvReader(), p, skip_bad=True)
    assert len(record) == 1
    ids = np.concatenate([d.ids for d in out.values()]).astype(int)
    assert 3 not in ids and len(ids) == 9
    # never a wrong label: every kept row keeps its own label
    for d in out.values():
        np.testing.assert_array_equal(d.labels, labels[d.ids.astype(int)])


def test_csv_empty_and_header_only(tmp_path):
    (tmp_path / "e.csv").write_text("")
    (tmp_path / "h.csv").write_text("emotion,pixels,Usage\n")
    with pytest.raises(DataError, match="e.csv: the file is empty"):
        read(CsvReader(), tmp_path / "e.csv")
    with pytest.raises(DataError, match="h.csv: .*no data rows"):
        read(CsvReader(), tmp_path / "h.csv")


def test_csv_in_archives_and_sniff(tmp_path):
    images, labels, splits = faces(14)
    text = csv_text(images, labels, splits)
    plain = write_csv(tmp_path / "fer2013.csv", images, labels, splits)
    with zipfile.ZipFile(tmp_path / "fer.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("fer2013/fer2013.csv", text)
        zf.writestr("fer2013/README", "hello")
    with tarfile.open(tmp_path / "fer.tar.gz", "w:gz") as tf:
        tf.add(plain, "fer2013/fer2013.csv")
    with gzip.open(tmp_path / "fer2013.csv.gz", "wb") as f:
        f.write(text.encode())
    want = by_content(read(CsvReader(), plain))
    for name in ("fer.zip", "fer.tar.gz", "fer2013.csv.gz"):
        assert CsvReader().sniff(tmp_path / name), name
        assert not FolderReader().sniff(tmp_path / name), name
        assert by_content(read(CsvReader(), tmp_path / name)) == want, name
    assert CsvReader().sniff(plain)


def test_csv_cache_second_load_and_invalidation(tmp_path, monkeypatch):
    images, labels, splits = faces(14)
    p = write_csv(tmp_path / "fer.csv", images, labels, splits)
    first = read(CsvReader(), p)
    entries = list((tmp_path / "cache").glob("*.npz"))
    assert len(entries) == 1 and not list((tmp_path / "cache").glob(".tmp*"))

    def boom(*a, **k):
        raise AssertionError("parsed again")

    monkeypatch.setattr("ferviz.data.readers.csvfile.parse_fer_csv", boom)
    second = read(CsvReader(), p)
    assert by_content(second) == by_content(first)
    assert second["train"].ids.tolist() == first["train"].ids.tolist()
    # a changed file (new mtime) is parsed again
    monkeypatch.undo()
    monkeypatch.setenv("FERVIZ_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(cache, "MIN_IMAGES", 0)
    write_csv(p, images[:7], labels[:7], splits[:7])
    os.utime(p, ns=(1, 1))
    assert sum(len(d) for d in read(CsvReader(), p).values()) == 7
    # a corrupt entry is ignored and rebuilt
    for e in (tmp_path / "cache").glob("*.npz"):
        e.write_bytes(b"garbage")
    assert sum(len(d) for d in read(CsvReader(), p).values()) == 7
    assert all(e.stat().st_size > 100 for e in (tmp_path / "cache").glob("*.npz"))  # rebuilt


def test_small_sources_are_not_cached(tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "MIN_IMAGES", 100)
    images, labels, splits = faces(14)
    read(CsvReader(), write_csv(tmp_path / "fer.csv", images, labels, splits))
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())


def test_cache_warns_again_for_skipped_rows(tmp_path):
    images, labels, splits = faces(7)
    rows = csv_text(images, labels, splits).splitlines()
    rows[2] = "9" + rows[2][1:]
    p = tmp_path / "bad.csv"
    p.write_text("\n".join(rows) + "\n")
    for _ in range(2):  # parsed, then cached
        with pytest.warns(DataWarning, match="skipped 1 bad row "):
            out = read(CsvReader(), p, skip_bad=True)
        assert sum(len(d) for d in out.values()) == 6


def ferplus_csv(rows):
    header = "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"
    return header + "\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n"


def test_ferplus_majority_vote_and_contempt(tmp_path):
    images, labels, splits = faces(7)
    p = write_csv(tmp_path / "fer2013.csv", images, labels, splits)
    u = [USAGE[s] for s in splits]
    votes = [
        [0, 10, 0, 0, 0, 0, 0, 0, 0, 0],  # happy
        [1, 0, 0, 6, 0, 0, 0, 0, 3, 0],  # sad (the single neutral vote is an outlier)
        [0, 0, 0, 0, 0, 0, 0, 0, 6, 4],  # unknown: dropped
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 10],  # not a face: dropped
        [4, 4, 2, 0, 0, 0, 0, 0, 0, 0],  # no majority: dropped
        [0, 0, 0, 0, 2, 0, 0, 8, 0, 0],  # contempt
        [0, 0, 0, 0, 9, 0, 0, 0, 0, 0],  # angry
    ]
    rows = [[u[i], f"fer{i:07d}.png", *v] for i, v in enumerate(votes)]
    rows[0][1] = ""  # not part of FER+: dropped
    (tmp_path / "fer2013new.csv").write_text(ferplus_csv(rows))
    out = read(CsvReader(), p, ferplus="fer2013new.csv")  # found next to the CSV
    got = {int(i): d.class_names[lab] for d in out.values() for i, lab in zip(d.ids, d.labels)}
    assert got == {1: "sad", 6: "angry"}
    assert out[next(iter(out))].class_names == FER2013_CLASSES
    out = read(CsvReader(), p, ferplus=str(tmp_path / "fer2013new.csv"), contempt="keep")
    got = {int(i): d.class_names[lab] for d in out.values() for i, lab in zip(d.ids, d.labels)}
    assert got == {1: "sad", 5: "contempt", 6: "angry"}
    assert out[next(iter(out))].class_names == FER2013_CLASSES + ("contempt",)
    # misaligned files are refused
    (tmp_path / "short.csv").write_text(ferplus_csv(rows[:6]))
    with pytest.raises(DataError, match="6 rows, but .* has 7"):
        read(CsvReader(), p, ferplus=str(tmp_path / "short.csv"))
    rows[2][0] = "PrivateTest" if u[2] != "PrivateTest" else "Training"
    (tmp_path / "shifted.csv").write_text(ferplus_csv(rows))
    with pytest.raises(DataError, match="data row 2 .*not aligned"):
        read(CsvReader(), p, ferplus=str(tmp_path / "shifted.csv"))


def test_csv_unknown_option(tmp_path):
    images, labels, splits = faces(7)
    with pytest.raises(DataError, match="unknown option.*fer_plus"):
        read(CsvReader(), write_csv(tmp_path / "x.csv", images, labels, splits), fer_plus="x")


# -------------------------------------------------------------------------------- folders


def test_all_formats_agree(tmp_path):
    images, labels, splits = faces(28)
    folder_splits = np.array(["train" if s == "train" else "test" for s in splits])
    csv_p = write_csv(tmp_path / "fer.csv", images, labels, np.where(folder_splits == "train", "train", "private-test"))
    tree = write_tree(tmp_path / "tree", images, labels, folder_splits)
    sources = {
        "dir": tree,
        "zip": zip_tree(tree, tmp_path / "t.zip"),
        "zip-prefixed": zip_tree(tree, tmp_path / "p.zip", prefix="fer2013/"),
        "tgz": tar_tree(tree, tmp_path / "t.tgz"),
        "tar.gz-prefixed": tar_tree(tree, tmp_path / "p.tar.gz", prefix="data/fer2013/"),
    }
    from_csv = read(CsvReader(), csv_p)
    want = {("test" if s == "private-test" else s, k): c for (s, k), c in by_content(from_csv).items()}
    for name, src in sources.items():
        assert FolderReader().sniff(src), name
        assert not CsvReader().sniff(src), name
        out = read(FolderReader(), src, cache="0")
        assert sorted(out) == ["test", "train"], name
        assert out["train"].class_names == tuple(sorted(FER2013_CLASSES)), name
        assert by_content(out) == want, name
        # alphabetical folder order vs CSV order: equal once relabelled by name
        relabelled = out["train"].relabelled(FER2013_CLASSES)
        index = [int(i[-8:-4]) for i in relabelled.ids]  # .../img0012.png
        np.testing.assert_array_equal(relabelled.labels, labels[index])
    ids = read(FolderReader(), sources["zip-prefixed"], cache="0")["train"].ids
    assert ids[0].startswith("fer2013/train/angry/")


def test_single_level_folder_is_train_and_limit(tmp_path):
    images, labels, _ = faces(21)
    root = write_tree(tmp_path / "t", images, labels, [None] * 21, two_level=False)
    (root / "README.txt").write_text("not data")
    out = read(FolderReader(), root)
    assert list(out) == ["train"] and len(out["train"]) == 21
    limited = read(FolderReader(), root, limit="2")
    assert limited["train"].class_counts() == {c: 2 for c in sorted(FER2013_CLASSES)}


def test_folder_cache_hit_and_change(tmp_path, monkeypatch):
    images, labels, splits = faces(14)
    root = write_tree(tmp_path / "t", images, labels, splits)
    z = zip_tree(root, tmp_path / "t.zip")
    for src in (root, z):
        first = read(FolderReader(), src)
        monkeypatch.setattr("ferviz.data.readers.folders.read_layout", lambda *a, **k: 1 / 0)
        assert by_content(read(FolderReader(), src)) == by_content(first)
        monkeypatch.undo()
        monkeypatch.setenv("FERVIZ_CACHE_DIR", str(tmp_path / "cache"))
        monkeypatch.setattr(cache, "MIN_IMAGES", 0)
    # a new file in the folder changes its fingerprint
    Image.fromarray(images[0]).save(root / "train" / "angry" / "new.png")
    assert len(read(FolderReader(), root)["train"]) == len(first["train"]) + 1


def test_folder_bad_image_named_and_skipped(tmp_path):
    images, labels, splits = faces(14)
    root = write_tree(tmp_path / "t", images, labels, splits)
    (root / "train" / "happy" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (root / "train" / "sad" / "notes.txt").write_text("hi")
    for src in (root, zip_tree(root, tmp_path / "t.zip"), tar_tree(root, tmp_path / "t.tgz")):
        with pytest.raises(DataError, match=r"(broken\.jpg: unreadable image|notes\.txt: not an image).*--skip-bad"):
            read(FolderReader(), src, cache="0")
        with pytest.warns(DataWarning, match="skipped 2 bad files") as record:
            out = read(FolderReader(), src, cache="0", skip_bad=True)
        assert len(record) == 1
        assert sum(len(d) for d in out.values()) == 14


def test_truncated_archives(tmp_path):
    images, labels, splits = faces(14)
    root = write_tree(tmp_path / "t", images, labels, splits)
    for name, make in (("t.zip", zip_tree), ("t.tar.gz", tar_tree)):
        whole = make(root, tmp_path / name).read_bytes()
        cut = tmp_path / f"cut-{name}"
        cut.write_bytes(whole[: len(whole) * 2 // 3])
        with pytest.raises(DataError, match=f"cut-{name}.*(truncated|corrupt)"):
            read(FolderReader(), cut, cache="0")
    with pytest.warns(DataWarning, match="truncated"):
        out = read(FolderReader(), tmp_path / "cut-t.tar.gz", cache="0", skip_bad=True)
    assert 0 < sum(len(d) for d in out.values()) < 14


def test_archive_guards(tmp_path, monkeypatch):
    img = faces(1)[0][0]
    z = tmp_path / "evil.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("train/happy/ok.png", png_bytes(img))
        zf.writestr("../train/happy/up.png", png_bytes(img))
        zf.writestr("/train/happy/abs.png", png_bytes(img))
        zf.writestr("__MACOSX/train/happy/._ok.png", b"apple double")
        zf.writestr("train/sad/bomb.png", b"\0" * 3_000_000)  # compresses to a few KB
    with archive.open_tree(z) as tree:
        names = sorted(m.name for m in tree.members())
        assert names == ["train/happy/ok.png", "train/sad/bomb.png"]
        assert tree.skipped_unsafe == 2
        with pytest.raises(archive.MemberTooLarge, match="bomb.png"):
            tree.read("train/sad/bomb.png", max_bytes=1_000_000)
    for _ in range(2):  # read, then from the cache: the unsafe members are said both times
        with pytest.warns(DataWarning, match=r"evil.zip: ignored 2 archive members with an absolute or '\.\.' path"):
            read(FolderReader(), z, skip_bad=True)  # (bomb.png is no image)
    monkeypatch.setattr(archive, "MAX_MEMBER_BYTES", 1_000_000)
    with pytest.raises(DataError, match="bomb.png: more than 1,000,000 bytes"):
        read(FolderReader(), z, cache="0")
    with pytest.warns(DataWarning, match=r"evil.zip: skipped 1 bad file \(first: train/sad/bomb.png: more than"):
        out = read(FolderReader(), z, cache="0", skip_bad=True)
    assert out["train"].ids.tolist() == ["train/happy/ok.png"]


def test_empty_sources(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images found"):
        read(FolderReader(), tmp_path / "empty")
    with zipfile.ZipFile(tmp_path / "e.zip", "w"):
        pass
    with pytest.raises(DataError, match="no images found"):
        read(FolderReader(), tmp_path / "e.zip")
    with pytest.raises(DataError, match="no image files"):
        read(UnlabelledReader(), tmp_path / "empty")
    with pytest.raises(DataError, match="not a folder, a zip or a tar"):
        (tmp_path / "x.bin").write_bytes(b"1234")
        read(FolderReader(), tmp_path / "x.bin")


def test_layout_rules():
    m = lambda *names: [archive.Member(n, 1) for n in names]  # noqa: E731
    lay = find_layout(m("train/Happy/a.jpg", "Test/sad/b.png", "README.md"))
    assert lay.files == {"train": {"happy": ["train/Happy/a.jpg"]}, "test": {"sad": ["Test/sad/b.png"]}}
    lay = find_layout(m("fer2013/happy/a.jpg", "fer2013/sad/b.jpg"))
    assert lay.files == {"train": {"happy": ["fer2013/happy/a.jpg"], "sad": ["fer2013/sad/b.jpg"]}}
    lay = find_layout(m("train/happy/a.jpg", "train/stray.jpg", "train/happy/x.csv"))
    assert sorted(n for n, _ in lay.bad) == ["train/happy/x.csv", "train/stray.jpg"]


# ---------------------------------------------------------------------------- conversion


def test_image_conversion_rules():
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buf, "PNG")
    want = np.asarray(Image.fromarray(rgb, "RGB").convert("L"))
    np.testing.assert_array_equal(decode_image(buf.getvalue(), "x"), want)  # ITU-R 601 luma
    # non-square: center crop, then area resize
    wide = np.zeros((96, 192), np.uint8)
    wide[:, 48:144] = 200  # the central square
    buf = io.BytesIO()
    Image.fromarray(wide).save(buf, "PNG")
    assert (decode_image(buf.getvalue(), "x") == 200).all()
    # small images are enlarged, transparent pixels become black
    rgba = np.zeros((24, 24, 4), np.uint8)
    rgba[..., :3] = 255
    rgba[:, :12, 3] = 255
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, "PNG")
    with pytest.warns(DataWarning, match="x: transparent pixels were composited over black"):
        out = decode_image(buf.getvalue(), "x")
    assert out.shape == (48, 48) and out[:, :20].min() == 255 and out[:, 28:].max() == 0
    # 16-bit keeps the high byte
    buf = io.BytesIO()
    Image.fromarray(np.full((48, 48), 0x8000, np.uint16)).save(buf, "PNG")
    assert (decode_image(buf.getvalue(), "x") == 0x80).all()
    with pytest.raises(DataError, match="where: unreadable image"):
        decode_image(b"nope", "where")


def test_exif_orientation_applied():
    img = np.zeros((48, 48), np.uint8)
    img[:10, :] = 255  # bright top rows
    im = Image.fromarray(img)
    exif = Image.Exif()
    exif[0x0112] = 3  # rotated 180 degrees
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif.tobytes(), quality=95)
    out = decode_image(buf.getvalue(), "x")
    assert out[-5:].mean() > 200 and out[:5].mean() < 50


# ----------------------------------------------------------------------- npz, unlabelled


def test_npz_roundtrip_and_sniff(tmp_path):
    images, labels, splits = faces(14)
    masks = images > 128
    data = {s: Dataset(images[splits == s], labels[splits == s], FER2013_CLASSES, s, "t",
                       masks=masks[splits == s], ids=np.arange(14)[splits == s].astype(str))
            for s in ("train", "public-test")}
    p = save_npz(data, tmp_path / "d.npz")
    assert NpzReader().sniff(p) and not CsvReader().sniff(p) and not FolderReader().sniff(p)
    back = read(NpzReader(), p)
    assert list(back) == ["train", "public-test"]
    for s, d in data.items():
        np.testing.assert_array_equal(back[s].images, d.images)
        np.testing.assert_array_equal(back[s].labels, d.labels)
        np.testing.assert_array_equal(back[s].masks, d.masks)
        np.testing.assert_array_equal(back[s].ids, d.ids)
        assert back[s].class_names == FER2013_CLASSES
    one = save_npz(Dataset(images, None, (), "test"), tmp_path / "u.npz")
    assert load_npz(one)["test"].labels is None
    np.savez(tmp_path / "bad.npz", pixels=images)
    with pytest.raises(DataError, match="no 'images'"):
        load_npz(tmp_path / "bad.npz")
    np.savez(tmp_path / "nonames.npz", images=images, labels=labels)
    with pytest.raises(DataError, match="no class_names"):
        load_npz(tmp_path / "nonames.npz")
    np.savez(tmp_path / "obj.npz", images=np.array([object()], dtype=object))
    with pytest.raises(DataError, match="not a readable"):
        load_npz(tmp_path / "obj.npz")
    assert not list(tmp_path.glob(".*tmp"))


def test_unlabelled_folder(tmp_path):
    images = faces(3)[0]
    root = tmp_path / "faces"
    root.mkdir()
    for i, img in enumerate(images):
        Image.fromarray(img).save(root / f"f{i}.png")
    (root / ".hidden.png").write_bytes(b"junk")
    assert UnlabelledReader().sniff(root) and not FolderReader().sniff(root)
    out = read(UnlabelledReader(), root)
    d = out["test"]
    assert d.labels is None and d.class_names == () and d.ids.tolist() == ["f0.png", "f1.png", "f2.png"]
    np.testing.assert_array_equal(d.images, images)
    assert read(UnlabelledReader(), root / "f1.png")["test"].ids.tolist() == ["f1.png"]
    (root / "zz.jpg").write_bytes(b"broken")
    with pytest.raises(DataError, match="zz.jpg: unreadable image"):
        read(UnlabelledReader(), root)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        assert len(read(UnlabelledReader(), root, skip_bad=True)["test"]) == 3
    assert len([w for w in record if issubclass(w.category, DataWarning)]) == 1


def test_open_source_sniffs_each_format(tmp_path):
    from ferviz.data.sources import open_source

    images, labels, splits = faces(14)
    csv_p = write_csv(tmp_path / "fer.csv", images, labels, splits)
    tree = write_tree(tmp_path / "tree", images, labels, splits)
    z = zip_tree(tree, tmp_path / "t.zip")
    n = save_npz(read(CsvReader(), csv_p), tmp_path / "d.npz")
    for src in (csv_p, tree, z, n):
        out = open_source(str(src))
        assert sum(len(d) for d in out.values()) == 14, src
    assert list(open_source(f"folder:{z},limit=1")) == ["train", "public-test", "private-test"]


# ------------------------------------------------------------------------------- real data


def test_real_fer2013_zip_slice(fer2013_zip):
    path = fer2013_zip
    with archive.open_tree(path) as tree:
        layout = find_layout(tree.members())
    counts = {c: len(v) for c, v in layout.files["train"].items()}
    assert counts == {"angry": 3995, "disgust": 436, "fear": 4097, "happy": 7215,
                      "neutral": 4965, "sad": 4830, "surprise": 3171}
    out = FolderReader().read(str(path), {"skip_bad": False, "limit": "40", "cache": "0"})
    d = out["train"]
    assert len(d) == 280 and d.images.shape[1:] == (48, 48)
    assert d.class_counts() == {c: 40 for c in counts}
    assert d.ids[0].startswith("train/angry/")
    assert 40 < d.images.mean() < 200  # real faces, not blank


def test_transparent_images_are_said_once_per_read(tmp_path):
    images, labels, splits = faces(7)
    root = write_tree(tmp_path / "t", images, labels, splits)
    rgba = np.zeros((48, 48, 4), np.uint8)
    rgba[..., 3] = 128  # half see-through
    Image.fromarray(rgba, "RGBA").save(root / "train" / "happy" / "ghost.png")
    opaque = np.full((48, 48, 4), 255, np.uint8)
    Image.fromarray(opaque, "RGBA").save(root / "train" / "happy" / "solid.png")  # alpha, but nothing to composite
    for _ in range(2):  # read, then from the cache
        with pytest.warns(DataWarning, match=r"1 image with transparent pixels, composited over black "
                                             r"\(first: train/happy/ghost.png\)") as record:
            read(FolderReader(), root)
        assert len([w for w in record if "transparent" in str(w.message)]) == 1
    with pytest.warns(DataWarning, match="1 image with transparent pixels"):
        read(UnlabelledReader(), root / "train" / "happy")


def test_a_decompression_bomb_is_one_clean_error_without_pillows_warning():
    """A 10000x10000 PNG header: Pillow warns of a decompression bomb; ferviz refuses it, silently."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 10000, 10000, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(DataError, match="big.png: image larger than the 64 megapixel limit"):
            decode_image(png, "big.png")
    assert [str(w.message) for w in caught] == []
