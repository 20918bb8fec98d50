"""Which images to explain, and for which class.

One picker, :func:`pick_faces`, serves every command that chooses faces from a split: ``ferviz
explain --per-class`` (the first N of each class, :func:`select_per_class`), ``ferviz report``
(N of each class in a seeded draw) and ``ferviz assess --count`` (N images, the classes in turn).
Each class is a queue of its images, in file order or, with a seed, in a seeded shuffle;
unlabelled images form one queue. :func:`resolve_targets` turns ``--target`` into one class per
image; :func:`predicted_classes` is the model's choice.
"""

from __future__ import annotations

import numpy as np

from ferviz.data import Dataset
from ferviz.errors import DataError, OptionError, UnknownNameError


def pick_faces(labels: np.ndarray | None, *, per_class: int | None = None, count: int | None = None,
               classes: int | None = None, size: int | None = None, seed: int | None = None) -> np.ndarray:
    """Indices of images balanced over the classes, reproducibly.

    Each class 0..`classes`-1 (by default: the labels present, in order) is a queue of its
    images, in file order, or with `seed` in a seeded shuffle of each class in turn; without
    labels the `size` images form one queue. Give one of:

    - `per_class`: the head of each queue, `per_class` images (without labels, per_class x
      `classes` from the one queue), grouped by class in class order, in file order within a class;
    - `count`: `count` images taking the queues in turn (the first of each class, then the
      second...), in file order.
    """
    if (per_class is None) == (count is None):
        raise TypeError("pick_faces: give per_class or count")
    rng = None if seed is None else np.random.default_rng(seed)
    if labels is None:
        queues = [np.arange(size if size is not None else 0)]
        if per_class is not None:
            per_class *= classes or 1
    else:
        labels = np.asarray(labels)
        present = range(classes) if classes is not None else np.unique(labels)
        queues = [np.flatnonzero(labels == c) for c in present]
    if rng is not None:
        queues = [rng.permutation(q) for q in queues]
    if per_class is not None:
        return np.concatenate([np.sort(q[:per_class]) for q in queues] or [np.empty(0)]).astype(np.int64)
    rank = np.concatenate([np.arange(len(q)) for q in queues] or [np.empty(0)])
    queue = np.concatenate([np.full(len(q), i) for i, q in enumerate(queues)] or [np.empty(0)])
    turns = np.lexsort((queue, rank))[:count]  # by place in the queue, then queue: the classes in turn
    return np.sort(np.concatenate(queues or [np.empty(0)])[turns]).astype(np.int64)


def select_per_class(dataset: Dataset, n: int) -> Dataset:
    """The first `n` images of each true class (in class order, then file order): reproducible."""
    if dataset.labels is None:
        raise DataError(f"{dataset.source}: --per-class needs labels, and split {dataset.split!r} has none")
    if n < 1:
        raise OptionError(f"--per-class must be at least 1, got {n}")
    return dataset.subset(pick_faces(dataset.labels, per_class=n, classes=len(dataset.class_names)))


def predicted_classes(model, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """(N,) int64 argmax class of `model` for uint8 images."""
    return model.predict_proba(images, batch_size=batch_size).argmax(dim=1).numpy().astype(np.int64)


def resolve_targets(model, spec: str, images: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
    """Target class per image: ``predicted``, ``true`` (labels in the model's order) or a class name."""
    spec = spec.strip().lower()
    if spec == "predicted":
        return predicted_classes(model, images)
    if spec == "true":
        if labels is None:
            raise DataError("--target true needs labelled images (--data with labels)")
        return np.asarray(labels, dtype=np.int64)
    if spec in model.class_names:
        return np.full(len(images), model.class_names.index(spec), dtype=np.int64)
    raise UnknownNameError("target", spec, ("predicted", "true", *model.class_names))
