"""Data sets: the one in-memory form every source is turned into.

Data flows one way: source (synthetic, CSV, image folder, archive) -> `Dataset` -> training
or explaining. Images stay uint8 until a batch is made.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ferviz.errors import DataError


@dataclass(frozen=True)
class Dataset:
    """One split of a data source.

    images: (N, H, W) uint8 grayscale faces.
    labels: (N,) int64 indices into `class_names`, or None when the source has no labels.
    class_names: class names in label order (lower case).
    split: name of the split ("train", "val", "public-test", ...).
    source: a human-readable description of where the data came from.
    masks: optional (N, H, W) bool ground-truth cue masks (synthetic faces only).
    ids: optional (N,) str identifiers (file names, CSV rows) used by `predict`.
    """

    images: np.ndarray
    labels: np.ndarray | None
    class_names: tuple[str, ...]
    split: str = "train"
    source: str = ""
    masks: np.ndarray | None = None
    ids: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.images.dtype != np.uint8 or self.images.ndim != 3:
            raise DataError(
                f"{self.source or 'data set'}: images must be (N, H, W) uint8, "
                f"got {self.images.dtype} {self.images.shape}"
            )
        n = len(self.images)
        for name in ("labels", "masks", "ids"):
            value = getattr(self, name)
            if value is not None and len(value) != n:
                raise DataError(f"{self.source}: {name} has {len(value)} rows for {n} images")
        if self.labels is not None and n and (self.labels.min() < 0 or self.labels.max() >= len(self.class_names)):
            raise DataError(f"{self.source}: a label lies outside 0..{len(self.class_names) - 1}")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def labelled(self) -> bool:
        return self.labels is not None

    def subset(self, index, split: str | None = None) -> "Dataset":
        """The rows at `index` (an index array or boolean mask), optionally renamed."""
        pick = lambda a: None if a is None else a[index]  # noqa: E731
        return replace(
            self,
            images=self.images[index],
            labels=pick(self.labels),
            masks=pick(self.masks),
            ids=pick(self.ids),
            split=split or self.split,
        )

    def class_counts(self) -> dict[str, int]:
        if self.labels is None:
            return {}
        counts = np.bincount(self.labels, minlength=len(self.class_names))
        return {name: int(c) for name, c in zip(self.class_names, counts)}

    def relabelled(self, class_names) -> "Dataset":
        """The same data with labels re-indexed into `class_names`, matching by name.

        Raises DataError when a class of this set does not exist in `class_names`.
        """
        class_names = tuple(class_names)
        if self.labels is None or class_names == self.class_names:
            return replace(self, class_names=class_names) if self.labels is None else self
        missing = [c for c in self.class_names if c not in class_names]
        if missing:
            raise DataError(
                f"{self.source}: classes {missing} are not among the model's classes {list(class_names)}"
            )
        mapping = np.array([class_names.index(c) for c in self.class_names], dtype=np.int64)
        return replace(self, labels=mapping[self.labels], class_names=class_names)


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (keep, held_out): `fraction` of each class held out, reproducibly from `seed`."""
    if not 0.0 < fraction < 1.0:
        raise DataError(f"validation fraction must lie in (0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    keep, held = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        k = int(round(len(idx) * fraction))
        if len(idx) > 1:
            k = min(max(k, 1), len(idx) - 1)
        held.append(idx[:k])
        keep.append(idx[k:])
    return np.sort(np.concatenate(keep)), np.sort(np.concatenate(held))
