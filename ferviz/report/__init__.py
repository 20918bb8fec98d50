"""`ferviz report`: the whole analysis of one or more checkpoints, rendered in one batch.

One call answers the questions of the original report, a heading each (the builders live in
:mod:`ferviz.report.sections`): the model and its training curves; accuracy per class, per
model and for the ensemble; the confusion matrix and the most confused pairs; saliency and
integrated gradients for N faces per class (chosen with a seed); filter-ascent grids for chosen
layers from noise and from a face; every other registered explainer; optionally a
normalisation or augmentation study (:mod:`ferviz.train.study`); last the explorer
(:mod:`ferviz.report.explorer`), which ``ferviz explore`` writes alone (``explorer_only``).

The output folder holds ``index.html`` (self-contained: CSS and the explorer's script inline,
figures as PNG files next to it and in ``explorer/``, no network), the PNGs and ``report.json``
with every number shown and the time each section took. Everything is built in a temporary folder beside ``--out`` and moved
into place at the end, so a failed report leaves nothing half-written.

Explanations (confusion, attributions, filters, plugins) use the first checkpoint; the
accuracy section scores every checkpoint and their ensemble.

    >>> build_report(ReportConfig(checkpoints=[Path("runs/a/best.pt")], data="synthetic",
    ...                           out=Path("report")))
    PosixPath('report/index.html')
"""

from __future__ import annotations

import json
import os
import shutil
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np
from matplotlib.figure import Figure

from ferviz import __version__
from ferviz.errors import FervizError, Interrupted, OptionError, ReportIncomplete, UnsupportedModelError
from ferviz.explain.selection import pick_faces
from ferviz.fileio import atomic_folder, check_target, jsonable
from ferviz.options import parse_key_values, parse_options
from ferviz.progress import progress_bar
from ferviz.report.explainers import attribution_run, filters_section, plugin_section
from ferviz.report.explorer import explorer_cost, explorer_section
from ferviz.report.sections import (RIGHT, TITLES, WRONG, Section, accuracy_section, confusion_section,
                                    model_section, study_section, training_section)

REPORT_FORMAT = "ferviz-report"
#: Explainers that have sections of their own; every other registered one gets a generic section.
BUILTIN_EXPLAINERS = ("confusion", "saliency", "integrated-gradients", "filter-ascent")
#: The layers the original report visualised, used when the model has them.
DEFAULT_LAYERS = ("features.conv2", "features.relu2")
#: Filter-ascent options the report sets itself (per layer and start).
REPORT_SET = {"filter-ascent": ("layer", "start")}
FIGURE_DPI = 100
#: Progress units for drawing and saving a section's figures (about a second of work).
FIGURE_COST = 300


@dataclass
class ReportConfig:
    checkpoints: list[Path]
    data: str
    out: Path
    split: str | None = None
    per_class: int = 1
    layers: tuple[str, ...] | None = None  # None: DEFAULT_LAYERS when the model has them, else auto
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


def parse_params(pairs) -> dict[str, dict[str, str]]:
    """``["saliency.threshold=0.5"]`` -> ``{"saliency": {"threshold": "0.5"}}``, checked by each explainer."""
    from ferviz import registry

    grouped: dict[str, dict[str, str]] = {}
    for key, value in parse_key_values(pairs).items():
        name, dot, option = key.rpartition(".")
        if not dot or not name:
            raise OptionError(f"-p {key}={value}: name the explainer, as in -p saliency.threshold=0.5")
        grouped.setdefault(name, {})[option] = value
    for name, given in grouped.items():
        cls = registry.explainers().get_or_raise(name)
        fixed = sorted(set(given) & set(REPORT_SET.get(name, ())))
        if fixed:
            raise OptionError(f"-p {name}.{fixed[0]}: the report sets it (use --layers for the layers; it runs "
                              "from noise and from a face)")
        parse_options(cls, given)
    return grouped


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
        self.filter_explainers = []
        self.filter_results = None  # filter ascent's runs, shared by the filters section and the explorer

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


# ----------------------------------------------------------------------------- planning
@dataclass
class Planned:
    key: str
    cost: int  # rough work units (one unit ~ one image through the network)
    build: Callable[[], Section]


def resolve_layers(ctx: ReportContext) -> list[str]:
    model = ctx.models[0]
    if ctx.config.layers:
        return list(ctx.config.layers)
    if not model.eager:
        return ["auto"]  # no layer names to look at; filter ascent itself says why it cannot run
    present = [name for name in DEFAULT_LAYERS if name in model.named_layers()]
    return present or ["auto"]


def plan(ctx: ReportContext) -> list[Planned]:
    """The sections in report order with their costs; explainers are built (options checked) here."""
    from ferviz import registry

    n, k, sel = len(ctx.split), len(ctx.models), len(ctx.selection.ids)
    skip = {*ctx.config.skip, *(f"plugin-{name}" for name in ctx.config.skip)}
    if "filter-ascent" in skip:
        skip.add("filters")
    ig_steps = int(ctx.explainer("integrated-gradients").opts.steps)
    refused = None  # filter ascent on a TorchScript or torch.export model: said in its section
    try:
        for layer in ([] if "filters" in skip else resolve_layers(ctx)):
            ctx.filter_explainers.append((layer, ctx.explainer("filter-ascent", layer=layer, start="noise"),
                                          ctx.explainer("filter-ascent", layer=layer, start="image")))
    except UnsupportedModelError as exc:
        refused = exc
    ctx.explainer("saliency")  # options that depend on the model are checked now, before any work
    ctx.explainer("confusion")
    fa = ctx.filter_explainers[0][1] if ctx.filter_explainers else None
    fa_cost = max(1, fa.opts.steps * len(fa.filters) * 6 // 5) if fa else 1  # a filter's step ~ 1.2 images
    filters_cost = 2 * len(ctx.filter_explainers) * fa_cost
    planned = [
        Planned("model", 1, lambda: model_section(ctx)),
        Planned("training", k, lambda: training_section(ctx)),
        Planned("accuracy", n * k * (2 if k > 1 else 1), lambda: accuracy_section(ctx)),
    ]
    if ctx.config.study is not None:
        planned.append(Planned("study", 1, lambda: study_section(ctx)))
    planned += [
        Planned("confusion", n, lambda: confusion_section(ctx)),
        Planned("saliency", 3 * sel + FIGURE_COST, lambda: attribution_run(
            ctx, "saliency", "saliency", "face, |d score / d pixel| and the face where saliency is high", 3 * sel)),
        Planned("integrated-gradients", 3 * sel * ig_steps + FIGURE_COST, lambda: attribution_run(
            ctx, "integrated-gradients", "attributions", "face, signed integrated gradients (red for, blue against) "
            "and the face where they are high", 3 * sel * ig_steps)),
        Planned("filters", filters_cost,
                lambda: filters_section(ctx, fa_cost) if refused is None else _raise(refused)),
    ]
    for name, cls in sorted(registry.explainers().items()):
        if name in BUILTIN_EXPLAINERS:
            continue
        cost = {"images": 3 * sel, "dataset": n}.get(cls.needs, 100)
        planned.append(Planned(f"plugin-{name}", cost + FIGURE_COST,
                               lambda name=name, cost=cost: plugin_section(ctx, name, cost)))
    planned.append(Planned("explorer", explorer_cost(ctx, skip) + (filters_cost if ctx.config.explorer_only else 0),
                           lambda: explorer_section(ctx, skip, fa_cost)))
    if ctx.config.explorer_only:  # ferviz explore: the explorer alone (it runs filter ascent itself)
        return planned[-1:]
    return [p for p in planned if p.key not in skip]


def _raise(exc: Exception):
    raise exc


def check_skip(names, study: bool) -> None:
    """Every --skip name must be a section or a registered explainer."""
    from ferviz import registry
    from ferviz.errors import UnknownNameError

    known = {"model", "training", "accuracy", "confusion", "saliency", "integrated-gradients", "filters", "explorer",
             *(["study"] if study else []), *registry.explainers()}
    for name in names:
        if name not in known:
            raise UnknownNameError("section", name, known)


# ----------------------------------------------------------------------------- the whole job
def build_report(config: ReportConfig, log: Callable[[str], None] = lambda message: None) -> Path:
    """Render the report into ``config.out`` (atomically); returns the path of index.html.

    Every section is isolated (:func:`build_isolated`): when one fails, the others still render
    and the report is written, then ReportIncomplete names the failed sections.
    """
    from ferviz.model.checkpoint import load_checkpoint
    from ferviz.data.sources import Holdout, describe_split, open_source, select_split
    from ferviz.model.evaluation import check_same_classes
    from ferviz.report.html import render_html
    from ferviz.train.study import load_study

    started = time.perf_counter()
    out = check_target(config.out, folder=True, overwrite=config.overwrite, owner="report.json")
    params = parse_params(config.params)
    check_skip(config.skip, config.study is not None)
    if config.study is not None:
        load_study(config.study)  # a bad --study fails before any work
    models = [load_checkpoint(path, device=config.device, **config.load_options) for path in config.checkpoints]
    check_same_classes(models)
    names = [str(path) for path in config.checkpoints]
    split = select_split(open_source(config.data, skip_bad=config.skip_bad), config.split, config.data,
                         Holdout.of_model(models[0]))
    loading = time.perf_counter() - started

    with atomic_folder(out, overwrite=config.overwrite, owner="report.json") as tmp:
        ctx = ReportContext(config, models, names, split, tmp, params)
        planned = plan(ctx)
        log(f"report: {len(planned)} sections on {len(split)} images ({config.data}, split {describe_split(split)}), "
            f"{len(models)} checkpoint(s), {len(ctx.selection.ids)} faces explained")
        sections, tracebacks = [], {}
        with progress_bar(sum(p.cost for p in planned), "report", config.progress) as bar:
            ctx.bar = bar
            for item in planned:
                bar.set_status(item.key)
                start = time.perf_counter()
                with ctx.work(item.cost, item.key):
                    section = build_isolated(item, tmp, tracebacks)
                section.seconds = time.perf_counter() - start
                sections.append(section)
        total = time.perf_counter() - started
        other = total - loading - sum(s.seconds for s in sections)  # choosing faces, building explainers
        timings = {"loading": round(loading, 3), **{s.key: round(s.seconds, 3) for s in sections},
                   "other": round(other, 3), "total": round(total, 3)}
        meta = {"format": REPORT_FORMAT, "version": 1, "ferviz_version": __version__,
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "command": config.command,
                "inputs": {"checkpoints": names, "data": config.data, "split": split.split,
                           "split_description": describe_split(split), "images": len(split),
                           "per_class": config.per_class, "layers": resolve_layers(ctx), "seed": config.seed,
                           "quick": config.quick, "params": params, "device": config.device,
                           "study": str(config.study) if config.study else None},
                "explained_with": names[0]}
        report = {**meta, "sections": {s.key: s.to_dict() for s in sections}, "timings_s": timings,
                  **({"tracebacks": tracebacks} if tracebacks else {})}
        (tmp / "report.json").write_text(json.dumps(report, indent=1, default=partial(jsonable, fallback=repr)))
        (tmp / "index.html").write_text(render_html(meta, sections, timings, tmp), encoding="utf-8")
    failed = {s.key: s.errors for s in sections if s.errors}
    if failed:
        raise ReportIncomplete(
            f"report written to {out}, but {len(failed)} of {len(sections)} sections failed, each error shown in its "
            "section: " + "; ".join(f"{key} ({_clip(errors[0])})" for key, errors in failed.items()),
            index=out / "index.html", failed=failed)
    return out / "index.html"


def build_isolated(item: Planned, folder: Path, tracebacks: dict[str, str]) -> Section:
    """`item`'s section, whatever happens in it: the other sections must still render.

    A refusal (UnsupportedModelError: a layer method on a compiled network) becomes a note; any
    other failure an error shown in place, with the files the section wrote removed; an
    unexpected exception (a bug) also leaves its traceback in `tracebacks` (report.json).
    Ctrl-C still stops the report.
    """
    before = set(os.listdir(folder))
    title = TITLES.get(item.key, item.key)
    try:
        return item.build()
    except Interrupted:
        raise
    except UnsupportedModelError as exc:
        return Section(item.key, title, notes=[str(exc)])
    except FervizError as exc:  # bad input for this one analysis (an unlabelled split...)
        error = str(exc)
    except Exception as exc:  # noqa: BLE001  one section's failure must not sink the others
        lines = str(exc).strip().splitlines()
        error = f"{item.key} failed: {type(exc).__name__}" + (f": {lines[0]}" if lines else "")
        tracebacks[item.key] = traceback.format_exc()
    for name in set(os.listdir(folder)) - before:  # a failed section's half-made figures
        path = folder / name
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    return Section(item.key, title, errors=[error])


def _clip(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " ..."
