"""The ``csv`` reader: Kaggle's FER2013 CSV, bare or inside an archive, optionally relabelled by FER+.

Kaggle's ``fer2013.csv`` (``emotion,pixels,Usage``), or its unlabelled ``test.csv`` (``pixels`` or
``id,pixels``: split "test", ids from ``id``), bare or inside a .zip / .tar.gz / .csv.gz. Options
``ferplus=fer2013new.csv`` (FER+ labels), ``contempt=drop|keep``, ``member=NAME`` (which CSV of
an archive), ``cache=0``. Parsing is :mod:`ferviz.data.csvfast`'s; what was decoded is kept in the
cache of :mod:`ferviz.data.cache` (keyed by path, size and mtime).

Labels: the CSV's ``emotion`` 0-6 index ``ferviz.FER2013_CLASSES`` (angry, disgust, fear, happy,
sad, surprise, neutral). Folder class names are in alphabetical order instead: compare data sets
by class name (`Dataset.relabelled`), never by index.

FER+ (``ferplus=``): labels come from the majority vote of FER+'s ten annotators (rule in
`ferviz.data.csvfast.parse_ferplus`); rows whose majority is unknown / not a face, or without a
clear majority, are dropped. Contempt, which FER2013 does not have, is dropped by default so the
classes stay FER2013's seven and models stay comparable by name; ``contempt=keep`` makes it an
eighth class, ``contempt``. ``Dataset.meta`` records how many rows FER+ dropped.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np

from ferviz import FER2013_CLASSES
from ferviz.data import Dataset, cache
from ferviz.data.archive import archive_kind, open_tree, suffix
from ferviz.data.csvfast import FERPLUS_COLUMNS, FERPLUS_TO_FER, parse_fer_csv, parse_ferplus
from ferviz.data.readers.common import CACHE_VERSION, check_options, existing, ordered, warn_changed, warn_skipped
from ferviz.data.sources import Reader
from ferviz.errors import DataError

#: Cap on a CSV's decompressed size inside an archive (FER2013's is about 300 MB).
MAX_CSV_BYTES = 2 * 2**30


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
        given = check_options(self.kind, options, self.options)
        skip_bad = bool(options.get("skip_bad", False))
        path = existing(location, self.kind)
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
                warn_skipped(extra.get("source", str(path)), "row", extra.get("bad", []), extra.get("skipped", 0))
                warn_changed(extra.get("source", str(path)), unsafe=extra.get("unsafe", 0))
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
            for name in ordered(split_names.tolist()):
                pick = np.flatnonzero(split_names == name)
                splits[name] = Dataset(images[pick], None if labels is None else labels[pick], class_names, name,
                                       source, ids=ids[pick], meta=dict(meta))
        if not splits or not any(len(d) for d in splits.values()):
            raise DataError(f"{source}: no images left")
        warn_skipped(source, "row", table.bad)
        warn_changed(source, unsafe=unsafe)
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
