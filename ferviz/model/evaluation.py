"""Accuracy, per-class accuracy and confusion of one model or an ensemble.

Labels are matched to the model's outputs by class name, never by position: FER2013's CSV
order and the image-folder version's alphabetical order differ.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ferviz.data import Dataset
from ferviz.errors import DataError


@dataclass
class EvalResult:
    class_names: tuple[str, ...]
    confusion: np.ndarray  # (K, K) counts; rows true class, columns predicted
    probabilities: np.ndarray  # (N, K)

    @property
    def n(self) -> int:
        return int(self.confusion.sum())

    @property
    def accuracy(self) -> float:
        return float(np.trace(self.confusion) / max(self.n, 1))

    @property
    def per_class_accuracy(self) -> dict[str, float | None]:
        rows = self.confusion.sum(axis=1)
        return {c: (float(self.confusion[i, i] / rows[i]) if rows[i] else None)
                for i, c in enumerate(self.class_names)}

    @property
    def predictions(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)

    def row_normalised(self) -> np.ndarray:
        rows = self.confusion.sum(axis=1, keepdims=True)
        return np.divide(self.confusion, rows, out=np.zeros(self.confusion.shape), where=rows > 0)

    def most_confused(self, top: int = 5) -> list[tuple[str, str, float, int]]:
        """(true, predicted, share of the true class's row, count), largest share first."""
        norm = self.row_normalised()
        pairs = [(norm[i, j], self.confusion[i, j], i, j)
                 for i in range(len(norm)) for j in range(len(norm)) if i != j and self.confusion[i, j]]
        pairs.sort(key=lambda p: (-p[0], -p[1]))
        return [(self.class_names[i], self.class_names[j], float(s), int(c)) for s, c, i, j in pairs[:top]]

    def to_dict(self) -> dict:
        return {
            "n": self.n,
            "accuracy": self.accuracy,
            "per_class_accuracy": self.per_class_accuracy,
            "class_names": list(self.class_names),
            "confusion": self.confusion.tolist(),
            "most_confused": [
                {"true": t, "predicted": p, "share": s, "count": c} for t, p, s, c in self.most_confused()
            ],
        }


def check_same_classes(models) -> tuple[str, ...]:
    """The class names shared by all models (in the first model's order)."""
    names = tuple(models[0].class_names)
    for m in models[1:]:
        if set(m.class_names) != set(names):
            raise DataError(f"ensemble members disagree on classes: {list(names)} vs {list(m.class_names)}")
    return names


#: Test-time augmentations: name -> the views of a batch (N, H, W) whose probabilities are averaged.
TTA = {
    "none": lambda images: [images],
    "flip": lambda images: [images, images[..., ::-1]],  # faces are near-symmetric; expressions are too
}


def ensemble_proba(models, images: np.ndarray, batch_size: int = 512, tta: str = "none") -> np.ndarray:
    """Mean class probabilities of `models` on uint8 images, in the first model's class order.

    ``tta="flip"`` also averages over the horizontally mirrored images (test-time augmentation).
    """
    if tta not in TTA:
        raise DataError(f"unknown test-time augmentation {tta!r}; choose one of {', '.join(TTA)}")
    names = check_same_classes(models)
    views = [np.ascontiguousarray(v) for v in TTA[tta](images)]
    total = None
    for m in models:
        p = sum(m.predict_proba(v, batch_size=batch_size) for v in views) / len(views)
        order = [m.class_names.index(c) for c in names]
        p = p[:, order]
        total = p if total is None else total + p
    return (total / len(models)).numpy()


def evaluate(models, dataset: Dataset, batch_size: int = 512, tta: str = "none") -> EvalResult:
    """Evaluate one model (or the mean-probability ensemble of several) on a labelled set.

    ``tta="flip"`` scores the mean of each face's and its mirror image's probabilities.
    """
    models = list(models) if isinstance(models, (list, tuple)) else [models]
    if dataset.labels is None:
        raise DataError(f"{dataset.source}: split {dataset.split!r} has no labels to evaluate against")
    names = check_same_classes(models)
    data = dataset.relabelled(names)
    proba = ensemble_proba(models, data.images, batch_size, tta)
    k = len(names)
    confusion = np.bincount(data.labels * k + proba.argmax(axis=1), minlength=k * k).reshape(k, k)
    return EvalResult(names, confusion, proba)


