"""The ``folder`` reader: labelled image folders, ``ROOT/<split>/<class>/*.jpg|png`` or
``ROOT/<class>/*`` (split "train"), a directory or a .zip / .tar.gz / .tgz read in place
(:mod:`ferviz.data.archive`).

Options ``limit=N`` (at most N images per split and class, in name order) and ``cache=0``; what was
decoded is kept in the cache of :mod:`ferviz.data.cache` (keyed by every file's name, size and
mtime, or the archive's). Class names are the folder names, lower case, in alphabetical order.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from ferviz.data import Dataset, cache
from ferviz.data.archive import DirTree, MemberError, TarTree, archive_kind, open_tree
from ferviz.data.imagefolder import decode_image, find_layout, is_image_name, looks_labelled
from ferviz.data.readers.common import (CACHE_VERSION, check_options, existing, fail_or_note, ordered, warn_changed,
                                        warn_skipped)
from ferviz.data.sources import Reader
from ferviz.errors import DataError


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
        given = check_options(self.kind, options, self.options)
        skip_bad = bool(options.get("skip_bad", False))
        limit = given.get("limit")
        if limit is not None:
            try:
                limit = int(str(limit))
                if limit < 1:
                    raise ValueError
            except ValueError:
                raise DataError(f"folder: option limit must be a positive integer, got {limit!r}") from None
        path = existing(location, self.kind)
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
                warn_skipped(str(path), "file", extra.get("bad", []), extra.get("skipped", 0))
                warn_changed(str(path), extra.get("transparent", 0), extra.get("transparent_first"),
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
        warn_skipped(str(path), "file", bad)
        first = transparent[0] if transparent else None
        warn_changed(str(path), len(transparent), first, unsafe)
        if use_cache:
            cache.store(identity, key, splits, {"skipped": len(bad), "bad": bad[:1], "unsafe": unsafe,
                                                "transparent": len(transparent), "transparent_first": first})
        return splits




def read_layout(tree, members, source: str, *, skip_bad: bool = False, limit: int | None = None,
                transparent: list[str] | None = None):
    """Decode every image of a split/class tree. Returns ({split: Dataset}, bad messages).

    Images whose transparent pixels were composited over black are listed in `transparent`."""
    layout = find_layout(members)
    bad: list[str] = []
    for name, reason in layout.bad:
        fail_or_note(f"{source}: {name}: {reason}", skip_bad, bad)
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
                fail_or_note(str(data), skip_bad, bad)
                continue
            try:
                decoded[name] = decode_image(data, f"{source}: {name}", transparent=transparent)
            except DataError as exc:
                fail_or_note(str(exc), skip_bad, bad)
    except DataError as exc:  # a truncated archive: nothing after this point can be read
        if not skip_bad or isinstance(exc, MemberError):
            raise
        missing = len(wanted) - len(decoded) - len(bad)
        bad.append(f"{exc} ({missing} images after it not read)")
    splits: dict[str, Dataset] = {}
    for split in ordered(files):
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
