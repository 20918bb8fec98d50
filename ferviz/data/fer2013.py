"""Readers for FER2013 in every form users have it, and ferviz's own ``.npz`` format.

============  ==============================================================================
kind          what it reads
============  ==============================================================================
``csv``       Kaggle's ``fer2013.csv`` (``emotion,pixels,Usage``), or its unlabelled ``test.csv``
              (``pixels`` or ``id,pixels``: split "test", ids from ``id``), bare or inside a .zip /
              .tar.gz / .csv.gz; options ``ferplus=fer2013new.csv`` (FER+ labels),
              ``contempt=drop|keep``, ``member=NAME`` (which CSV of an archive), ``cache=0``
``folder``    ``ROOT/<split>/<class>/*.jpg|png`` or ``ROOT/<class>/*`` (split "train"), a
              directory or a .zip / .tar.gz / .tgz read in place; options ``limit=N`` (at most
              N images per split and class, in name order), ``cache=0``
``npz``       files written by `save_npz` (``ferviz data synth``)
``images``    a folder of unlabelled face images (or one image file), for predict / explain
============  ==============================================================================

Every reader returns ``{split: Dataset}`` with lower-case class names. Malformed input raises
`DataError` naming the file and the line or member and what is wrong; with ``skip_bad`` the bad
rows or files are left out and one `DataWarning` says how many. The CSV and folder readers keep
what they decoded in the cache of `ferviz.data.cache` (keyed by path, size and mtime).

Labels: the CSV's ``emotion`` 0-6 index ``ferviz.FER2013_CLASSES`` (angry, disgust, fear, happy,
sad, surprise, neutral); folder class names are the folder names in alphabetical order. The two
orders differ: compare data sets by class name (`Dataset.relabelled`), never by index.

FER+ (``ferplus=``): labels come from the majority vote of FER+'s ten annotators (rule in
`ferviz.data.csvfast.parse_ferplus`); rows whose majority is unknown / not a face, or without a
clear majority, are dropped. Contempt, which FER2013 does not have, is dropped by default so the
classes stay FER2013's seven and models stay comparable by name; ``contempt=keep`` makes it an
eighth class, ``contempt``. ``Dataset.meta`` records how many rows FER+ dropped.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import warnings
from pathlib import Path

import numpy as np

from ferviz import FER2013_CLASSES
from ferviz.data import Dataset, cache
from ferviz.data.archive import DirTree, MemberError, TarTree, archive_kind, open_tree, suffix
from ferviz.data.csvfast import FERPLUS_COLUMNS, FERPLUS_TO_FER, parse_fer_csv, parse_ferplus
from ferviz.data.npzfile import load_npz, save_npz  # noqa: F401  (re-exported)
from ferviz.data.imagefolder import decode_image, find_layout, is_image_name, looks_labelled
from ferviz.data.sources import Reader
from ferviz.errors import DataError, DataWarning
from ferviz.inputs.images import image_files, read_image_file

#: Cap on a CSV's decompressed size inside an archive (FER2013's is about 300 MB).
MAX_CSV_BYTES = 2 * 2**30
SPLIT_ORDER = ("train", "val", "public-test", "private-test", "test")
CACHE_VERSION = 2  # raised whenever what a cached read returns or says changes


def _warn_skipped(source: str, noun: str, bad: list[str], count: int | None = None) -> None:
    """The one warning of a read that skipped bad rows or files (``skip_bad``)."""
    count = len(bad) if count is None else count
    if count:
        first = ""
        if bad:
            first = bad[0][len(source) + 2:] if bad[0].startswith(source + ": ") else bad[0]
            first = f" (first: {first})"
        plural = "s" if count != 1 else ""
        warnings.warn(f"{source}: skipped {count} bad {noun}{plural}{first}", DataWarning, stacklevel=3)


def _warn_changed(source: str, transparent: int = 0, first: str | None = None, unsafe: int = 0) -> None:
    """The warnings of a read that changed or passed over something without failing: `transparent`
    images whose transparent pixels were composited over black (`first` of them), and `unsafe`
    archive members ignored."""
    if transparent:
        first = first[len(source) + 2:] if first and first.startswith(source + ": ") else first
        first = None if first == source else first  # a single image file
        warnings.warn(f"{source}: {transparent} image{'s' if transparent != 1 else ''} with transparent pixels, "
                      f"composited over black{f' (first: {first})' if first else ''}", DataWarning, stacklevel=3)
    if unsafe:
        warnings.warn(f"{source}: ignored {unsafe} archive member{'s' if unsafe != 1 else ''} with an absolute or "
                      "'..' path, or a link (never extracted, not data)", DataWarning, stacklevel=3)


def _check_options(kind: str, options: dict, allowed: tuple[str, ...]) -> dict:
    given = {k: v for k, v in options.items() if k != "skip_bad"}
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise DataError(f"{kind}: unknown option(s) {', '.join(unknown)}; valid: {', '.join(allowed)}")
    return given


def _ordered(names) -> list[str]:
    names = list(dict.fromkeys(names))
    return sorted(names, key=lambda s: (SPLIT_ORDER.index(s) if s in SPLIT_ORDER else len(SPLIT_ORDER), names.index(s)))


def _existing(location: str, kind: str) -> Path:
    if not location:
        raise DataError(f"{kind}: needs a path ({kind}:PATH)")
    path = Path(location).expanduser()
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    return path


# ------------------------------------------------------------------------------------ CSV


def _read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def _csv_members(tree) -> list[str]:
    return [m.name for m in tree.members() if suffix(m.name) == ".csv"]


def _pick_csv(tree, path: Path, member: str | None) -> str:
    names = _csv_members(tree)
    if member:
        matches = [n for n in names if n == member or n.rsplit("/", 1)[-1] == member]
        if len(matches) != 1:
            raise DataError(f"{path}: no single CSV member {member!r}; it holds {names}")
        return matches[0]
    if not names:
        raise DataError(f"{path}: the archive holds no .csv file")
    if len(names) == 1:
        return names[0]
    named = [n for n in names if n.rsplit("/", 1)[-1].lower() == "fer2013.csv"]
    if len(named) == 1:
        return named[0]
    with_pixels = [n for n in names if b"pixels" in tree.read(n, MAX_CSV_BYTES)[:200].lower()]
    if len(with_pixels) == 1:
        return with_pixels[0]
    raise DataError(f"{path}: holds several CSV files {names}; choose one with member=NAME")


class CsvReader(Reader):
    """Kaggle's FER2013 CSV; see the module docstring."""

    kind = "csv"
    summary = "FER2013 Kaggle CSV (emotion,pixels,Usage, or test.csv: [id,]pixels), bare or zipped; ferplus=FILE"
    options = ("ferplus", "contempt", "member", "cache")

    def sniff(self, path: Path) -> bool:
        path = Path(path)
        if not path.is_file():
            return False
        kind = archive_kind(path)
        if kind is None:
            return suffix(path.name) == ".csv"
        if kind == "gzip":
            return path.name.lower().endswith(".csv.gz")
        try:
            with open_tree(path) as tree:
                members = tree.members(limit=200) if kind == "tar" else tree.members()
        except DataError:
            return False
        names = [m.name for m in members]
        if any(n.endswith(".npy") for n in names):
            return False
        return any(suffix(n) == ".csv" for n in names)

    def read(self, location: str, options: dict) -> dict[str, Dataset]:
        given = _check_options(self.kind, options, self.options)
        skip_bad = bool(options.get("skip_bad", False))
        path = _existing(location, self.kind)
        if path.is_dir():
            raise DataError(f"{path}: is a folder, not a CSV file (use folder:{location})")
        if not path.is_file():
            raise DataError(f"{path}: not a regular file (a device or a pipe?)")
        contempt = str(given.get("contempt", "drop")).lower()
        if contempt not in ("drop", "keep"):
            raise DataError(f"csv: option contempt must be 'drop' or 'keep', got {contempt!r}")
        member = given.get("member") or None
        archive = archive_kind(path)
        ferplus = self._ferplus_location(given.get("ferplus"), path, archive)

        identity = {"kind": "csv", "v": CACHE_VERSION, "path": str(path.resolve()), "member": member,
                    "ferplus": str(ferplus) if isinstance(ferplus, Path) else ferplus,
                    "contempt": contempt, "skip_bad": skip_bad}
        use_cache = cache.enabled(given)
        key = [cache.file_stamp(path)] + ([cache.file_stamp(ferplus)] if isinstance(ferplus, Path) else [])
        if use_cache:
            hit = cache.load(identity, key)
            if hit is not None:
                splits, extra = hit
                _warn_skipped(extra.get("source", str(path)), "row", extra.get("bad", []), extra.get("skipped", 0))
                _warn_changed(extra.get("source", str(path)), unsafe=extra.get("unsafe", 0))
                return splits

        unsafe = 0
        with contextlib.ExitStack() as stack:
            tree = None if archive is None else stack.enter_context(open_tree(path))
            if tree is None:
                source, data = str(path), _read_file(path)
            else:
                name = _pick_csv(tree, path, member)
                source = f"{path}:{name}"
                data = tree.read(name, MAX_CSV_BYTES)
            table = parse_fer_csv(data, source, skip_bad=skip_bad)
            del data
            unsafe = 0 if tree is None else tree.skipped_unsafe

            class_names = FER2013_CLASSES if table.labels is not None else ()
            labels, keep, meta = table.labels, None, {}
            split_names = table.splits
            if ferplus is not None and labels is None:
                raise DataError(f"{source}: ferplus= relabels FER2013's rows, but this file has no emotion column "
                                "(an unlabelled test.csv?)")
            if ferplus is not None:
                if isinstance(ferplus, Path):
                    fp_source, fp_bytes = str(ferplus), _read_file(ferplus)
                else:
                    fp_source, fp_bytes = f"{path}:{ferplus}", tree.read(ferplus, MAX_CSV_BYTES)
                fp = parse_ferplus(fp_bytes, fp_source)
                class_names, labels, keep, split_names, meta = self._apply_ferplus(
                    fp, table, fp_source, source, contempt)

        images = table.images
        ids = table.ids if table.ids is not None else table.rows.astype(str)
        if keep is not None:
            images, ids = images[keep], ids[keep]
            labels = labels[keep]
            split_names = None if split_names is None else split_names[keep]
        splits: dict[str, Dataset] = {}
        if split_names is None:  # Kaggle's unlabelled test.csv is a test split; a labelled file, train
            only = "train" if labels is not None else "test"
            splits[only] = Dataset(images, labels, class_names, only, source, ids=ids, meta=dict(meta))
        else:
            for name in _ordered(split_names.tolist()):
                pick = np.flatnonzero(split_names == name)
                splits[name] = Dataset(images[pick], None if labels is None else labels[pick], class_names, name,
                                       source, ids=ids[pick], meta=dict(meta))
        if not splits or not any(len(d) for d in splits.values()):
            raise DataError(f"{source}: no images left")
        _warn_skipped(source, "row", table.bad)
        _warn_changed(source, unsafe=unsafe)
        if use_cache:
            cache.store(identity, key, splits,
                        {"source": source, "skipped": len(table.bad), "bad": table.bad[:1], "unsafe": unsafe})
        return splits

    @staticmethod
    def _ferplus_location(value, path: Path, archive):
        """A Path on disk, a member name inside the CSV's archive, or None."""
        if not value:
            return None
        candidate = Path(value).expanduser()
        for p in (candidate, path.parent / candidate):
            if p.is_file():
                return p
        if archive is not None:
            with open_tree(path) as tree:
                names = [m.name for m in tree.members()]
            matches = [n for n in names if n == value or n.rsplit("/", 1)[-1] == value]
            if len(matches) == 1:
                return matches[0]
        raise DataError(f"ferplus file {value!r}: no such file")

    @staticmethod
    def _apply_ferplus(fp, table, fp_source, source, contempt):
        if len(fp.classes) != table.total_rows:
            raise DataError(
                f"{fp_source}: {len(fp.classes)} rows, but {source} has {table.total_rows}; "
                f"the FER+ file must be the fer2013new.csv that matches this CSV row for row"
            )
        class_names = FER2013_CLASSES + (("contempt",) if contempt == "keep" else ())
        mapping = np.array([class_names.index(FERPLUS_TO_FER[c]) if FERPLUS_TO_FER.get(c) in class_names
                            else -1 for c in FERPLUS_COLUMNS] + [-1], dtype=np.int64)
        fp_usage = np.array(fp.usage, dtype=object)[table.rows]
        split_names = table.splits
        if split_names is not None:
            differ = (fp_usage != "") & (fp_usage != split_names)
            if differ.any():
                i = int(np.flatnonzero(differ)[0])
                raise DataError(
                    f"{fp_source}: data row {int(table.rows[i])} is {fp_usage[i]!r} but {source} says "
                    f"{split_names[i]!r}; the two files are not aligned row for row"
                )
        else:
            split_names = np.array([u or "train" for u in fp_usage], dtype=object)
        labels = mapping[fp.classes[table.rows]]  # -1 (dropped) maps to mapping[-1] == -1
        keep = labels >= 0
        meta = {"labels": "fer+ majority vote", "ferplus_rows_dropped": int((~keep).sum()),
                "ferplus_contempt": contempt}
        return class_names, labels, keep, split_names, meta


# ------------------------------------------------------------------------------ image folders


def _dir_sniff(path: Path, max_dirs: int = 200) -> bool:
    """A folder with images inside sub-folders (at most 4 deep) and none at its top."""
    try:
        top = list(os.scandir(path))
    except OSError:
        return False
    if any(e.is_file() and is_image_name(e.name) for e in top):
        return False
    queue = [(e.path, 1) for e in top if e.is_dir() and not e.name.startswith(".")]
    seen = 0
    while queue and seen < max_dirs:
        folder, depth = queue.pop(0)
        seen += 1
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        if any(e.is_file() and is_image_name(e.name) for e in entries):
            return True
        if depth < 4:
            queue.extend((e.path, depth + 1) for e in entries if e.is_dir() and not e.name.startswith("."))
    return False


class FolderReader(Reader):
    """Image folders (``ROOT/<split>/<class>/*``), bare or in an archive; see the module docstring.

    Images are converted with `ferviz.data.imagefolder.decode_image` (EXIF orientation, ITU-R 601
    luma, center crop to a square, area / bilinear resize to 48x48). ``ids`` are the member paths;
    images are in path order. Class names are the union of the class folders of all splits,
    lower case, alphabetical, so every split shares one label order.
    """

    kind = "folder"
    summary = "image folders ROOT/<split>/<class>/*.jpg, bare or in .zip/.tar.gz"
    options = ("limit", "cache")

    def sniff(self, path: Path) -> bool:
        path = Path(path)
        if path.is_dir():
            return _dir_sniff(path)
        kind = archive_kind(path) if path.is_file() else None
        if kind not in ("zip", "tar"):
            return False
        try:
            with open_tree(path) as tree:
                members = tree.members(limit=500) if kind == "tar" else tree.members()
        except DataError:
            return False
        return looks_labelled([m.name for m in members])

    def read(self, location: str, options: dict) -> dict[str, Dataset]:
        given = _check_options(self.kind, options, self.options)
        skip_bad = bool(options.get("skip_bad", False))
        limit = given.get("limit")
        if limit is not None:
            try:
                limit = int(str(limit))
                if limit < 1:
                    raise ValueError
            except ValueError:
                raise DataError(f"folder: option limit must be a positive integer, got {limit!r}") from None
        path = _existing(location, self.kind)
        use_cache = cache.enabled(given)
        identity = {"kind": "folder", "v": CACHE_VERSION, "path": str(path.resolve()),
                    "limit": limit, "skip_bad": skip_bad}
        members = None
        if path.is_dir():
            # a folder's content is known only by looking at every file (name, size, mtime)
            tree = DirTree(path)
            members = tree.members()
            stamp = json.dumps(tree.fingerprint(members)).encode()
            key = ["dir", hashlib.sha256(stamp).hexdigest()]
        else:
            key = [cache.file_stamp(path)]  # checked before the archive is even opened
        if use_cache:
            hit = cache.load(identity, key)
            if hit is not None:
                splits, extra = hit
                _warn_skipped(str(path), "file", extra.get("bad", []), extra.get("skipped", 0))
                _warn_changed(str(path), extra.get("transparent", 0), extra.get("transparent_first"),
                              extra.get("unsafe", 0))
                return splits
        transparent: list[str] = []
        with open_tree(path) as tree:
            notes = []
            if members is None:
                try:
                    members = tree.members()
                except DataError:
                    if not (skip_bad and isinstance(tree, TarTree)):
                        raise
                    members = tree.members(partial=True)
                    notes.append(f"{tree.truncated} (the images after it were not read)")
            try:
                splits, bad = read_layout(tree, members, str(path), skip_bad=skip_bad, limit=limit,
                                          transparent=transparent)
            except DataError as exc:
                if not notes:
                    raise
                raise DataError(f"{exc}; {notes[0]}") from None
            bad = notes + bad
            unsafe = tree.skipped_unsafe
        _warn_skipped(str(path), "file", bad)
        first = transparent[0] if transparent else None
        _warn_changed(str(path), len(transparent), first, unsafe)
        if use_cache:
            cache.store(identity, key, splits, {"skipped": len(bad), "bad": bad[:1], "unsafe": unsafe,
                                                "transparent": len(transparent), "transparent_first": first})
        return splits


def _fail_or_note(message: str, skip_bad: bool, bad: list[str]) -> None:
    if not skip_bad:
        raise DataError(f"{message} (--skip-bad skips such files, with one warning)")
    bad.append(message)


def read_layout(tree, members, source: str, *, skip_bad: bool = False, limit: int | None = None,
                transparent: list[str] | None = None):
    """Decode every image of a split/class tree. Returns ({split: Dataset}, bad messages).

    Images whose transparent pixels were composited over black are listed in `transparent`."""
    layout = find_layout(members)
    bad: list[str] = []
    for name, reason in layout.bad:
        _fail_or_note(f"{source}: {name}: {reason}", skip_bad, bad)
    if layout.count() == 0:
        raise DataError(f"{source}: no images found (expected ROOT/<split>/<class>/*.jpg, "
                        f"ROOT/<class>/*.jpg, or the same inside a .zip / .tar.gz)")
    files = {s: {c: (v[:limit] if limit else v) for c, v in classes.items()}
             for s, classes in layout.files.items()}
    class_names = layout.class_names
    wanted = [n for classes in files.values() for names in classes.values() for n in names]
    decoded: dict[str, np.ndarray] = {}
    try:
        for name, data in tree.iter_bytes(wanted):
            if isinstance(data, MemberError):
                _fail_or_note(str(data), skip_bad, bad)
                continue
            try:
                decoded[name] = decode_image(data, f"{source}: {name}", transparent=transparent)
            except DataError as exc:
                _fail_or_note(str(exc), skip_bad, bad)
    except DataError as exc:  # a truncated archive: nothing after this point can be read
        if not skip_bad or isinstance(exc, MemberError):
            raise
        missing = len(wanted) - len(decoded) - len(bad)
        bad.append(f"{exc} ({missing} images after it not read)")
    splits: dict[str, Dataset] = {}
    for split in _ordered(files):
        names, labels = [], []
        for c, cls_names in files[split].items():
            got = [n for n in cls_names if n in decoded]
            names += got
            labels += [class_names.index(c)] * len(got)
        if not names:
            continue
        order = np.argsort(np.array(names, dtype=object), kind="stable")
        names = [names[i] for i in order]
        splits[split] = Dataset(
            images=np.stack([decoded[n] for n in names]),
            labels=np.asarray(labels, dtype=np.int64)[order],
            class_names=class_names,
            split=split,
            source=source,
            ids=np.array(names, dtype=str),
        )
    if not splits:
        raise DataError(f"{source}: none of its {len(wanted)} images could be read ({bad[0] if bad else ''})")
    return splits, bad


# ------------------------------------------------------------------------------- unlabelled


class UnlabelledReader(Reader):
    """A folder of face images without labels (only the files directly inside), or one image.

    Split "test", labels None, class names (); ids are the file names. Images are converted like
    the folder reader's.
    """

    kind = "images"
    summary = "a plain folder of unlabelled face images (for predict / explain)"
    options = ()

    def sniff(self, path: Path) -> bool:
        path = Path(path)
        if path.is_file():
            return is_image_name(path.name) and archive_kind(path) is None
        if not path.is_dir():
            return False
        try:
            return any(e.is_file() and is_image_name(e.name) and not e.name.startswith(".")
                       for e in os.scandir(path))
        except OSError:
            return False

    def read(self, location: str, options: dict) -> dict[str, Dataset]:
        _check_options(self.kind, options, self.options)
        skip_bad = bool(options.get("skip_bad", False))
        path = _existing(location, self.kind)
        if path.is_file():
            files = [path]
        elif path.is_dir():
            files = image_files(path)
        else:
            raise DataError(f"{path}: not a regular file or folder (a device or a pipe?)")
        if not files:
            raise DataError(f"{path}: no image files (.jpg, .png, ...) directly inside")
        images, ids, bad, transparent = [], [], [], []
        for f in files:
            try:
                images.append(read_image_file(f, transparent=transparent))
                ids.append(f.name)
            except DataError as exc:
                _fail_or_note(str(exc), skip_bad, bad)
        if not images:
            raise DataError(f"{path}: none of its {len(files)} images could be read ({bad[0]})")
        _warn_skipped(str(path), "file", bad)
        _warn_changed(str(path), len(transparent), transparent[0] if transparent else None)
        ds = Dataset(np.stack(images), None, (), "test", str(path), ids=np.array(ids, dtype=str))
        return {"test": ds}


# ------------------------------------------------------------------------------------ npz

class NpzReader(Reader):
    """ferviz's own ``.npz`` data files (``ferviz data synth`` writes them)."""

    kind = "npz"
    summary = "ferviz .npz data files (written by `ferviz data synth`)"
    options = ()

    def sniff(self, path: Path) -> bool:
        path = Path(path)
        if not path.is_file():
            return False
        if suffix(path.name) == ".npz":
            return True
        if archive_kind(path) != "zip":
            return False
        import zipfile

        try:
            with zipfile.ZipFile(path) as zf:
                return "images.npy" in zf.namelist()
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError):
            return False

    def read(self, location: str, options: dict) -> dict[str, Dataset]:
        _check_options(self.kind, options, self.options)
        path = _existing(location, self.kind)
        if not path.is_file():
            raise DataError(f"{path}: not a regular file")
        return load_npz(path)
