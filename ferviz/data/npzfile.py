"""ferviz's own data file: a data set (all its splits) in one ``.npz``.

`save_npz` writes it atomically (``ferviz data synth`` uses it); `load_npz` reads it back with
``allow_pickle=False`` and checks what it finds. The keys are described in `save_npz`.
"""

from __future__ import annotations

import math
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ferviz.data import Dataset
from ferviz.errors import DataError
from ferviz.fileio import atomic_file

NPZ_FORMAT = "ferviz-npz"
NPZ_VERSION = 1
#: Cap on the decompressed size of all arrays of one file (a 100,000-image set with masks is
#: about 0.5 GB): numpy would inflate a compressed "npz bomb" whole.
MAX_NPZ_BYTES = 4 * 2**30


def save_npz(dataset_or_splits, path, *, overwrite: bool = True) -> Path:
    """Write a Dataset, or ``{split: Dataset}``, as ferviz ``.npz``, atomically.

    Keys: ``images`` (N,H,W) uint8, ``labels`` (N,) int64 (absent when unlabelled),
    ``class_names`` (C,) str, ``split`` (N,) str (each row's split), ``masks`` (N,H,W) bool
    (only if every split has masks), ``ids`` (N,) str (only if every split has ids), ``source``,
    ``format`` and ``version``. Splits must share class names and image size.
    """
    splits = ({dataset_or_splits.split: dataset_or_splits} if isinstance(dataset_or_splits, Dataset)
              else dict(dataset_or_splits))
    if not splits:
        raise DataError("save_npz: nothing to save")
    parts = list(splits.values())
    first = parts[0]
    for d in parts[1:]:
        if d.class_names != first.class_names:
            raise DataError(f"save_npz: splits have different class names: {first.class_names} vs {d.class_names}")
        if d.images.shape[1:] != first.images.shape[1:]:
            raise DataError(f"save_npz: splits have different image sizes: {first.images.shape[1:]} vs {d.images.shape[1:]}")
        if (d.labels is None) != (first.labels is None):
            raise DataError("save_npz: some splits are labelled and others are not")
    with_masks = [d.masks is not None for d in parts]
    if any(with_masks) and not all(with_masks):
        raise DataError("save_npz: some splits have cue masks and others do not")
    arrays = {
        "format": np.array(NPZ_FORMAT),
        "version": np.array(NPZ_VERSION),
        "images": np.concatenate([d.images for d in parts]),
        "class_names": np.array(first.class_names, dtype=str),
        "split": np.concatenate([np.full(len(d), name, dtype=object) for name, d in splits.items()]).astype(str),
        "source": np.array(first.source),
    }
    if first.labels is not None:
        arrays["labels"] = np.concatenate([d.labels for d in parts]).astype(np.int64)
    if all(with_masks):
        arrays["masks"] = np.concatenate([d.masks for d in parts]).astype(bool)
    if all(d.ids is not None for d in parts):
        arrays["ids"] = np.concatenate([np.asarray(d.ids).astype(str) for d in parts])
    path = Path(path)
    with atomic_file(path, overwrite=overwrite) as fh:
        np.savez_compressed(fh, **arrays)
    return path


def _check_members(path: Path) -> None:
    """Before numpy reads a .npz: bounded total size, no object arrays, and no array header that
    declares more data than its member holds (numpy would allocate the declared size first)."""
    from numpy.lib import format as npy

    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        total = sum(info.file_size for info in infos)
        if total > MAX_NPZ_BYTES:
            raise DataError(f"{path}: its arrays hold {total:,} bytes decompressed, more than the "
                            f"{MAX_NPZ_BYTES:,} byte limit; refused")
        for info in infos:
            if not info.filename.endswith(".npy"):
                continue
            with zf.open(info) as f:
                version = npy.read_magic(f)
                if version == (1, 0):
                    shape, _, dtype = npy.read_array_header_1_0(f)
                elif version == (2, 0):
                    shape, _, dtype = npy.read_array_header_2_0(f)
                else:  # 3.0: 2.0 with a UTF-8 header
                    read_header = getattr(npy, "_read_array_header", None)
                    shape, _, dtype = (read_header(f, version) if read_header else npy.read_array_header_2_0(f))
                held = info.file_size - f.tell()
            name = info.filename[:-4]
            if dtype.hasobject:
                raise DataError(f"{path}: not a readable ferviz .npz file (array {name!r} holds Python "
                                f"objects, which ferviz never unpickles)")
            declared = dtype.itemsize * math.prod(shape)
            if declared > held:
                raise DataError(f"{path}: not a readable ferviz .npz file (array {name!r} declares shape "
                                f"{shape}, {declared:,} bytes, but holds {held:,} bytes)")


def _strings(a: np.ndarray, what: str, path: Path) -> np.ndarray:
    """`a` as a str array; DataError unless it holds text (or integers)."""
    if a.dtype.kind not in "USiu":
        raise DataError(f"{path}: {what} must be text, got {a.dtype}")
    try:
        return a.astype(str)
    except (UnicodeDecodeError, ValueError, TypeError):
        raise DataError(f"{path}: {what} holds bytes that are not ASCII text") from None


def load_npz(path) -> dict[str, Dataset]:
    """Read a ferviz ``.npz`` (see `save_npz`) back into ``{split: Dataset}``."""
    path = Path(path)
    try:
        if not zipfile.is_zipfile(path):  # np.load would take a bare .npy, or try to unpickle
            raise DataError(f"{path}: not a readable ferviz .npz file (not a zip archive of arrays)")
        _check_members(path)
        with np.load(path, allow_pickle=False) as npz:
            keys = set(npz.files)
            if "images" not in keys:
                raise DataError(f"{path}: not a ferviz data file (no 'images' array; it has {sorted(keys)})")
            images = npz["images"]
            labels = npz["labels"] if "labels" in keys else None
            class_names = npz["class_names"] if "class_names" in keys else None
            masks = npz["masks"] if "masks" in keys else None
            ids = npz["ids"] if "ids" in keys else None
            split = npz["split"] if "split" in keys else np.array("train")
            source = str(npz["source"]) if "source" in keys else ""
    except DataError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error, NotImplementedError,
            RuntimeError, struct.error, IndexError, OverflowError, MemoryError) as exc:
        raise DataError(f"{path}: not a readable ferviz .npz file ({str(exc)[:200] or type(exc).__name__})") from None
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.dtype != np.uint8 or images.ndim != 3:
        nonfinite = ""
        if images.dtype.kind in "fc" and not np.isfinite(images).all():
            nonfinite = " (and it holds NaN or infinite values)"
        raise DataError(f"{path}: images must be (N, H, W) uint8, got {images.dtype} {images.shape}{nonfinite}")
    n = len(images)
    if n and 0 in images.shape[1:]:
        raise DataError(f"{path}: images of size {images.shape[1]}x{images.shape[2]}")
    if class_names is not None:
        if class_names.ndim != 1:
            raise DataError(f"{path}: class_names must be a 1-D array of names, got shape {class_names.shape}")
        class_names = tuple(str(c).lower() for c in _strings(class_names, "class_names", path))
    if ids is not None:
        if ids.shape != (n,):
            raise DataError(f"{path}: ids must have shape ({n},), got {ids.shape}")
        ids = _strings(ids, "ids", path)
    if labels is not None:
        if class_names is None:
            raise DataError(f"{path}: has labels but no class_names; labels cannot be trusted without them")
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
            raise DataError(f"{path}: labels must be a 1-D integer array, got {labels.dtype} {labels.shape}")
        if len(labels) != n:
            raise DataError(f"{path}: labels has {len(labels)} rows for {n} images")
        labels = labels.astype(np.int64)
        if n and (labels.min() < 0 or labels.max() >= len(class_names)):
            raise DataError(f"{path}: a label lies outside 0..{len(class_names) - 1}")
    if masks is not None:
        if masks.shape != images.shape:
            raise DataError(f"{path}: masks have shape {masks.shape}, the images {images.shape}")
        if masks.dtype.kind not in "biuf" or (masks.dtype.kind == "f" and not np.isfinite(masks).all()):
            raise DataError(f"{path}: masks must be boolean (got {masks.dtype}"
                            f"{', with NaN or infinite values' if masks.dtype.kind == 'f' else ''})")
        masks = masks.astype(bool)
    if split.ndim > 1:
        raise DataError(f"{path}: 'split' must be one name per image, got shape {split.shape}")
    split = _strings(split, "'split'", path)
    if split.ndim == 0:
        split = np.full(n, str(split))
    if len(split) != n:
        raise DataError(f"{path}: 'split' has {len(split)} rows for {n} images")
    source = source or str(path)
    out: dict[str, Dataset] = {}
    for name in list(dict.fromkeys(split.tolist())):
        pick = np.flatnonzero(split == name)
        take = lambda a: None if a is None else a[pick]  # noqa: E731
        out[name] = Dataset(images[pick], take(labels), class_names or (), name, source,
                            masks=take(masks), ids=take(ids))
    if not out:
        raise DataError(f"{path}: holds no images")
    return out
