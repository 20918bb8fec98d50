"""An on-disk cache of decoded data sources, so that a second load takes a fraction of a second.

Entries are uncompressed ``.npz`` files under ``$FERVIZ_CACHE_DIR`` (default
``$XDG_CACHE_HOME/ferviz`` or ``~/.cache/ferviz``). An entry's file name is a hash of what was
read and how (reader kind, resolved path, options that change the result); its stored ``key``
also holds what identifies the file's content (size and modification time, of the FER+ file
too, or of every file of a folder), so an edited source replaces its old entry instead of piling
up beside it. Entries are written atomically (:func:`ferviz.fileio.atomic_file`); a corrupt,
unreadable or foreign entry is ignored and rebuilt. ``FERVIZ_NO_CACHE=1`` (or the source option
``cache=0``) turns the cache off; a cache folder that cannot be written is silently not used;
sources of fewer than `MIN_IMAGES` images are not cached.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from ferviz.data import Dataset
from ferviz.errors import OutputError
from ferviz.fileio import atomic_file

FORMAT = "ferviz-cache"
VERSION = 1
FALSE = {"0", "false", "no", "off"}
#: Sources with fewer images are not cached: they read fast anyway, and test suites that make
#: many small files would otherwise fill the cache folder.
MIN_IMAGES = 2000


def cache_dir() -> Path:
    env = os.environ.get("FERVIZ_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ferviz"


def enabled(options: dict | None = None) -> bool:
    if os.environ.get("FERVIZ_NO_CACHE", "").strip().lower() not in ("", *FALSE):
        return False
    value = (options or {}).get("cache", True)
    return str(value).strip().lower() not in FALSE


def file_stamp(path: Path) -> list:
    """[resolved path, size, mtime_ns] of a file."""
    st = os.stat(path)
    return [str(Path(path).resolve()), st.st_size, st.st_mtime_ns]


def entry_path(identity: dict) -> Path:
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:24]
    return cache_dir() / f"{identity.get('kind', 'data')}-{digest}.npz"


def load(identity: dict, key) -> tuple[dict[str, Dataset], dict] | None:
    """The cached splits and the stored extra info for ``identity`` if its key matches, else None."""
    path = entry_path(identity)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            meta = json.loads(str(npz["__meta__"]))
            if meta.get("format") != FORMAT or meta.get("version") != VERSION:
                return None
            if meta.get("key") != json.loads(json.dumps(key)):
                return None
            splits = {}
            for i, s in enumerate(meta["splits"]):
                labels = npz[f"{i}.labels"] if s["labelled"] else None
                ids = npz[f"{i}.ids"] if s["ids"] else None
                splits[s["name"]] = Dataset(
                    images=npz[f"{i}.images"],
                    labels=labels,
                    class_names=tuple(meta["class_names"]),
                    split=s["name"],
                    source=meta["source"],
                    ids=ids,
                    meta=dict(s.get("meta", {})),
                )
            return splits, meta.get("extra", {})
    # a cache entry is never trusted: anything wrong with it means "rebuild"
    except Exception:  # noqa: BLE001
        return None


def store(identity: dict, key, splits: dict[str, Dataset], extra: dict | None = None) -> Path | None:
    """Write an entry atomically. Returns its path, or None when the cache cannot be written
    (or the source is smaller than `MIN_IMAGES`)."""
    if sum(len(d) for d in splits.values()) < MIN_IMAGES:
        return None
    path = entry_path(identity)
    first = next(iter(splits.values()))
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "identity": identity,
        "key": key,
        "class_names": list(first.class_names),
        "source": first.source,
        "extra": extra or {},
        "splits": [
            {"name": name, "labelled": d.labels is not None, "ids": d.ids is not None, "meta": d.meta}
            for name, d in splits.items()
        ],
    }
    try:
        arrays = {"__meta__": np.array(json.dumps(meta))}
        for i, d in enumerate(splits.values()):
            arrays[f"{i}.images"] = d.images
            if d.labels is not None:
                arrays[f"{i}.labels"] = d.labels
            if d.ids is not None:
                arrays[f"{i}.ids"] = np.asarray(d.ids).astype(str)
        with atomic_file(path) as f:
            np.savez(f, **arrays)
        return path
    except (OutputError, OSError, TypeError, ValueError):  # a cache that cannot be written is not used
        return None
