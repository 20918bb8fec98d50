"""What every section of `ferviz report` works with: the configuration, the selected faces, the context.

:class:`ReportConfig` is the report's input (the CLI fills it); :class:`ReportContext` holds the
loaded models, the data, the faces the image explainers explain (:class:`Selection`: N per
class, a seeded draw), the report folder and the one progress bar; each section builder takes it.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ferviz.explain.selection import pick_faces
from ferviz.report.sections import RIGHT, WRONG

FIGURE_DPI = 100


@dataclass
class ReportConfig:
    checkpoints: list[Path]
    data: str
    out: Path
    split: str | None = None
    per_class: int = 1
    layers: tuple[str, ...] | None = None  # None: the layer explainer's report_layers the model has, else auto
    study: Path | None = None
    seed: int = 0
    params: tuple[str, ...] = ()  # "explainer.key=value"
    skip: tuple[str, ...] = ()  # section keys or explainer names to leave out
    quick: bool = False  # each explainer's quick_options (fast previews), under any -p
    cell_faces: int = 1  # explorer: faces explained per confusion-matrix cell, besides the per-class ones
    explorer_only: bool = False  # ferviz explore: the explorer section alone
    overwrite: bool = False
    device: str = "cpu"
    load_options: dict = field(default_factory=dict)
    skip_bad: bool = False
    progress: bool = True
    command: str = ""


@dataclass
class Selection:
    """The faces explained by image explainers: N per class, chosen with a seed."""

    images: np.ndarray
    labels: np.ndarray | None
    ids: list[str]
    predicted: np.ndarray
    probability: np.ndarray
    correct: np.ndarray


def choose_faces(dataset, per_class: int, seed: int) -> np.ndarray:
    """Indices of `per_class` faces of each class (a seeded draw, in class order); unlabelled: any."""
    return pick_faces(dataset.labels, per_class=per_class, classes=len(dataset.class_names), size=len(dataset),
                      seed=seed)


def select(model, dataset, per_class: int, seed: int) -> Selection:
    index = choose_faces(dataset, per_class, seed)
    images = dataset.images[index]
    labels = None if dataset.labels is None else dataset.labels[index]
    proba = model.predict_proba(images).numpy()
    predicted = proba.argmax(axis=1).astype(np.int64)
    correct = predicted == labels if labels is not None else np.zeros(len(index), bool)
    base = [str(dataset.ids[i]) if dataset.ids is not None else f"{dataset.split}:{i}" for i in index]
    ids = base if labels is None else [f"{RIGHT if ok else WRONG} {b}" for b, ok in zip(base, correct)]
    return Selection(images, labels, ids, predicted, proba[np.arange(len(index)), predicted], correct)


class ReportContext:
    """What every section builder works with: models, data, selection, options, the folder, progress."""

    def __init__(self, config: ReportConfig, models, names, split, folder: Path, params: dict):
        self.config, self.models, self.names, self.folder, self.params = config, models, names, folder, params
        self.split = split  # as read; evaluate() matches labels by name itself
        self.dataset = split.relabelled(models[0].class_names)
        self.selection = select(models[0], self.dataset, config.per_class, config.seed)
        first_right = np.flatnonzero(self.selection.correct)
        i = int(first_right[0]) if len(first_right) else 0
        self.start_face = self.selection.images[i:i + 1]
        self.start_face_id = self.selection.ids[i] if len(self.selection.ids) else ""
        self.bar = None
        self.position = 0  # progress units done
        self.layer_runs = {}  # explainer name -> its filter-grid runs, shared by its section and the explorer

    def options(self, name: str) -> dict:
        from ferviz import registry

        cls = registry.explainers()[name]
        # A report is a batch job: explainers whose bf16 maps are tested against fp32 (those with a
        # precision option, tests/explain/test_bf16.py) run in bf16 where the hardware has it.
        batch = {"precision": "auto"} if any(o.name == "precision" for o in cls.options) else {}
        return {**batch, **(cls.quick_options if self.config.quick else {}), **self.params.get(name, {})}

    def explainer(self, name: str, defaults: dict | None = None, **fixed):
        """Explainer `name` on the first model: `defaults`, then the user's -p options, then `fixed`."""
        from ferviz import registry

        return registry.explainers()[name](self.models[0], **{**(defaults or {}), **self.options(name), **fixed})

    def save_figure(self, figure: Figure, name: str) -> str:
        filename = "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in name) + ".png"
        figure.savefig(self.folder / filename, format="png", dpi=FIGURE_DPI, bbox_inches="tight")
        return filename

    @contextmanager
    def work(self, units: int, label: str):
        """Advance the one progress bar by `units` over this block; yields a (done, total) callback.

        Blocks nest: a section's own block is the sum of the blocks inside it.
        """
        start = self.position
        if self.bar is not None:
            self.bar.set_status(label)

        def progress(done: int, total: int) -> None:
            self._advance_to(start + int(units * min(done, total) / max(total, 1)))

        try:
            yield progress
        finally:
            self._advance_to(start + units)

    def _advance_to(self, position: int) -> None:
        if position > self.position:
            if self.bar is not None:
                self.bar.update(position - self.position)
            self.position = position
