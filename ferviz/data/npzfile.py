"""ferviz's own data file: a data set (all its splits) in one ``.npz``.

`save_npz` writes it atomically (``ferviz data synth`` uses it); `load_npz` reads it back with
``allow_pickle=False`` and checks what it finds. The keys are described in `save_npz`.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import numpy as np

from ferviz.data import Dataset
from ferviz.errors import DataError

NPZ_FORMAT = "ferviz-npz"
NPZ_VERSION = 1


def save_npz(dataset_or_splits, path) -> Path:
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
    path.parent.mkdir(parents=True, exist_ok=True)
    # a temporary name beside the target, created with the usual permissions (umask), then renamed
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "xb") as f:
            np.savez_compressed(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def load_npz(path) -> dict[str, Dataset]:
    """Read a ferviz ``.npz`` (see `save_npz`) back into ``{split: Dataset}``."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            keys = set(npz.files)
            if "images" not in keys:
                raise DataError(f"{path}: not a ferviz data file (no 'images' array; it has {sorted(keys)})")
            images = npz["images"]
            labels = npz["labels"] if "labels" in keys else None
            class_names = tuple(str(c).lower() for c in npz["class_names"]) if "class_names" in keys else None
            masks = npz["masks"] if "masks" in keys else None
            ids = npz["ids"].astype(str) if "ids" in keys else None
            split = npz["split"] if "split" in keys else np.array("train")
            source = str(npz["source"]) if "source" in keys else ""
    except DataError:
        raise
    except (OSError, ValueError, EOFError, KeyError) as exc:
        raise DataError(f"{path}: not a readable ferviz .npz file ({exc})") from None
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.dtype != np.uint8 or images.ndim != 3:
        raise DataError(f"{path}: images must be (N, H, W) uint8, got {images.dtype} {images.shape}")
    n = len(images)
    if labels is not None:
        if class_names is None:
            raise DataError(f"{path}: has labels but no class_names; labels cannot be trusted without them")
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
            raise DataError(f"{path}: labels must be a 1-D integer array, got {labels.dtype} {labels.shape}")
        labels = labels.astype(np.int64)
        if n and (labels.min() < 0 or labels.max() >= len(class_names)):
            raise DataError(f"{path}: a label lies outside 0..{len(class_names) - 1}")
    if masks is not None:
        masks = masks.astype(bool)
    split = split.astype(str)
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
