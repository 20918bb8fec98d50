"""The explainer layouts of `ferviz report`: attributions, the confusion matrix, the generic section.

Each explainer picks its layout (``report_layout``; :mod:`ferviz.report.describe` reads the
rest of what it says about itself, :mod:`ferviz.report.filters` holds the filter-grid layout).
A layout's ``plan_*`` function builds the explainer before any work (options that depend on the
model are checked then) and returns the section's cost and its builder.

Attributions explain the selected faces (N per true class, a seeded draw) for their predicted
class and measure where the maps sit on the face (share of the absolute mass in the upper half:
eyes and brows; lower half: nose and mouth). The confusion matrix shows a data-set explainer's
confusion summary (``per_class_accuracy``, ``best_class``, ``worst_class``, ``most_confused``).
Every other explainer gets a generic section built from its figures and summary
(:func:`plugin_section`).
"""

from __future__ import annotations

import traceback

import numpy as np

from ferviz.errors import FervizError, UnsupportedModelError
from ferviz.explain import Request
from ferviz.explain.parallel import run_distributed
from ferviz.inputs.requests import request_for
from ferviz.report.describe import FIGURE_COST, caption, contained_errors, estimate, lead, section_key
from ferviz.report.sections import RIGHT, WRONG, Section, Table, pct


# ----------------------------------------------------------------------------- attributions
def plan_attributions(ctx, cls):
    ctx.explainer(cls.name)  # options that depend on the model are checked now, before any work
    cost = estimate(ctx, cls, len(ctx.selection.ids))
    return cost + FIGURE_COST, lambda: attribution_run(ctx, cls, cost)


def upper_share(maps: np.ndarray) -> np.ndarray:
    """(N,) share of each map's absolute mass in the upper half of the image (eyes, brows)."""
    maps = np.abs(maps.astype(np.float64))
    half = maps.shape[1] // 2
    total = maps.sum(axis=(1, 2))
    return np.divide(maps[:, :half].sum(axis=(1, 2)), total, out=np.full(len(maps), 0.5), where=total > 0)


def region_sentence(method: str, shares: dict[str, float]) -> str:
    """Which class the maps put lowest on the face (mouth) and which highest (eyes, brows)."""
    if not shares:
        return ""
    low = min(shares, key=shares.get)
    high = max(shares, key=shares.get)
    text = (f"{method} sits lowest on the face (nose, mouth) for {low}, with {pct(1 - shares[low])} of its mass in "
            f"the lower half")
    if high != low:
        text += f", and highest (eyes, brows) for {high}, with {pct(shares[high])} in the upper half"
    return text + "."


def attribution_run(ctx, cls, cost: int) -> Section:
    """A per-image attribution explainer on the selected faces, for their predicted class."""
    name = cls.name
    section = Section(section_key(cls), cls.report_title)
    sel = ctx.selection
    if not len(sel.images):
        section.notes.append("no faces to explain")
        return section
    # the report's own figures are the original report's panels (its captions describe them)
    panels = {"style": "panels"} if any(o.name == "style" for o in cls.options) else {}
    with ctx.work(cost, name) as progress:
        exp = run_distributed(ctx.explainer(name, defaults=panels), Request(  # spread over torchrun workers, if any
            images=sel.images, targets=sel.predicted, labels=sel.labels, ids=sel.ids, seed=ctx.config.seed,
            progress=progress))
    options = exp.meta["options"]
    section.lead = (lead(cls, options) + f" {ctx.config.per_class} face(s) per true class, drawn with seed "
                    f"{ctx.config.seed}; {RIGHT} marks a right prediction, {WRONG} a wrong one.")
    for figure_name, figure in exp.figures.items():
        section.figures.append((ctx.save_figure(figure, figure_name),
                                caption(cls, figure_name, options, exp.summary, checkpoint=ctx.names[0])))
    if "attribution" not in exp.meta:
        raise FervizError(f"{name}: its explanation names no map (meta['attribution']), which an attributions "
                          "section shows")
    shares = upper_share(exp.arrays[exp.meta["attribution"]["array"]])
    names = ctx.models[0].class_names
    by_class = {names[c]: float(shares[sel.predicted == c].mean()) for c in sorted(set(sel.predicted.tolist()))}
    records = exp.summary["images"]
    for record, share in zip(records, shares):
        record["upper_half_share"] = float(share)
    section.numbers = {"options": options, "images": records, "upper_half_share_by_predicted_class": by_class}
    headers = ["face", "true", "predicted", "p", "upper half"]
    rows = [[r["id"], r.get("true", "-"), r["predicted"], f"{r['target_probability']:.2f}",
             pct(r["upper_half_share"])] for r in records]
    if sel.labels is not None:
        right = int(sel.correct.sum())
        section.numbers.update(right=right, wrong=len(sel.ids) - right)
        section.findings.append(f"{right} of the {len(sel.ids)} selected faces are predicted correctly, "
                                f"{len(sel.ids) - right} wrongly.")
    section.findings.append(region_sentence(name.replace("-", " ").capitalize(), by_class))
    findings, numbers = cls.report_findings(exp)
    section.numbers.update(numbers)
    section.findings.extend(findings)
    table_caption = "the faces; upper half: share of the map's mass above the middle row"
    if cls.report_columns:  # the explainer's own columns take the place of "true" (the face's mark says it)
        headers = [headers[0], *headers[2:], *(header for _, header, _, _ in cls.report_columns)]
        rows = [[row[0], *row[2:], *(form.format(r[key]) for key, _, form, _ in cls.report_columns)]
                for row, r in zip(rows, records)]
        table_caption += "".join(f"; {header}: {meaning}" for _, header, _, meaning in cls.report_columns)
    section.tables.append(Table(headers, rows, caption=table_caption,
                                numeric=tuple(range(headers.index("p"), len(headers)))))
    return section


# ----------------------------------------------------------------------------- confusion matrix
def plan_confusion(ctx, cls):
    ctx.explainer(cls.name)  # options checked before any work
    cost = estimate(ctx, cls, len(ctx.dataset))
    return cost, lambda: confusion_section(ctx, cls, cost)


def confusion_section(ctx, cls, cost: int) -> Section:
    """A data-set explainer's confusion summary on the split: its figures, the most confused pairs, a sentence."""
    section = Section(section_key(cls), cls.report_title)
    with ctx.work(cost, cls.name) as progress:
        exp = ctx.explainer(cls.name).run(Request(dataset=ctx.dataset, seed=ctx.config.seed, progress=progress))
    s, options = exp.summary, exp.meta["options"]
    section.lead = lead(cls, options)
    for figure_name, figure in exp.figures.items():
        section.figures.append((ctx.save_figure(figure, figure_name),
                                caption(cls, figure_name, options, s, checkpoint=ctx.names[0])))
    section.numbers = {**s, **{key: np.asarray(array).tolist() for key, array in exp.arrays.items()},
                       "options": options}
    section.tables.append(Table(["true", "predicted as", "share of the true class", "faces"],
                                [[p["true"], p["predicted"], pct(p["share"]), str(p["count"])]
                                 for p in s["most_confused"]],
                                caption="most confused pairs", numeric=(2, 3)))
    section.findings.append(confusion_sentence(s))
    findings, numbers = cls.report_findings(exp)
    section.numbers.update(numbers)
    section.findings.extend(findings)
    return section


def confusion_sentence(summary: dict) -> str:
    """'happy is the best recognised class (0.91), angry the worst (0.52); the most confused pair is ...'."""
    per_class = summary["per_class_accuracy"]
    best, worst = summary.get("best_class"), summary.get("worst_class")
    parts = []
    if best is not None:
        parts.append(f"{best} is the best recognised class ({per_class[best]:.2f}), {worst} the worst "
                     f"({per_class[worst]:.2f})")
    pairs = summary["most_confused"]
    if pairs:
        text = f"the most confused pair is {pairs[0]['true']} -> {pairs[0]['predicted']} ({pct(pairs[0]['share'])})"
        if len(pairs) > 1:
            text += ", then " + ", ".join(f"{p['true']} -> {p['predicted']} ({pct(p['share'])})" for p in pairs[1:3])
        parts.append(text)
    else:
        parts.append("no face is confused with another class")
    sentence = "; ".join(parts)
    return sentence[0].upper() + sentence[1:] + "."


# ----------------------------------------------------------------------------- every other explainer
def plan_generic(ctx, cls):
    images = {"images": len(ctx.selection.ids), "dataset": len(ctx.dataset)}.get(cls.needs, 0)
    cost = estimate(ctx, cls, images)
    return cost + FIGURE_COST, lambda: plugin_section(ctx, cls, cost)


def plugin_section(ctx, cls, cost: int) -> Section:
    """Any other registered explainer, run with its defaults (plus -p options) by what it needs."""
    from ferviz import registry

    name = cls.name
    owner = registry.explainers().owner.get(name, "?")
    what = {"images": "the selected faces, for their predicted class", "dataset": "the whole split",
            "model": "the model alone"}[cls.needs]
    section = Section(section_key(cls), cls.report_title or f"What does {name} show?",
                      lead=f"{cls.summary} Explainer {name!r} from plugin {owner!r}, run with its default options "
                           f"on {what}.")
    sel = ctx.selection
    try:
        with ctx.work(cost, name) as progress:
            explainer = ctx.explainer(name)
            # the selected faces go to per-image explainers only: a model-level one runs on the model alone
            request = request_for(cls.needs, images=sel.images if cls.needs == "images" else None,
                                  targets=sel.predicted, labels=sel.labels, ids=sel.ids, dataset=ctx.dataset,
                                  seed=ctx.config.seed, progress=progress)
            exp = explainer.run(request)
            options = exp.meta.get("options", {})
            if cls.report_lead:
                section.lead = lead(cls, options)
            files = [(ctx.save_figure(figure, f"plugin-{name}-{fig}"),
                      caption(cls, fig, options, exp.summary, checkpoint=ctx.names[0]))
                     for fig, figure in exp.figures.items()]
            findings, numbers = cls.report_findings(exp)
    except UnsupportedModelError as exc:  # a layer method on a compiled network: said in place, not a failure
        section.notes.append(str(exc))
        return section
    except contained_errors(name) as exc:  # noqa: BLE001 - see contained_errors
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        section.errors.append(f"{name} failed: {last}")
        return section
    section.figures.extend(files)
    section.numbers = {"summary": exp.summary, "options": options,
                       "arrays": {k: {"shape": list(np.shape(v)), "dtype": str(np.asarray(v).dtype)}
                                  for k, v in exp.arrays.items()}, **numbers}
    section.tables.extend(summary_tables(exp.summary))
    arrays = ", ".join(f"{k} {'x'.join(map(str, np.shape(v)))}" for k, v in exp.arrays.items())
    section.findings.append(f"{name} made {len(exp.figures)} figure(s)" + (f" and arrays {arrays}" if arrays else "")
                            + "; its summary is below and in report.json.")
    section.findings.extend(findings)
    return section


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(_cell, value[:8])) + (f", ... ({len(value)} values)" if len(value) > 8 else "")
    if isinstance(value, dict):
        return ", ".join(f"{k} {_cell(v)}" for k, v in list(value.items())[:8])
    return "-" if value is None else str(value)


def summary_tables(summary: dict) -> list[Table]:
    """A plugin's summary as tables: its scalars (key, value), and each list of records as rows."""
    scalars, tables = [], []
    for key, value in summary.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            columns = list(dict.fromkeys(k for record in value for k in record))
            rows = [[_cell(record.get(c)) for c in columns] for record in value[:50]]
            numeric = tuple(i for i, c in enumerate(columns) if isinstance(value[0].get(c), (int, float)))
            tables.append(Table(columns, rows, caption=key + (f" (first 50 of {len(value)})" if len(value) > 50
                                                              else ""), numeric=numeric))
        else:
            scalars.append([str(key), _cell(value)])
    return ([Table(["summary", "value"], scalars)] if scalars else []) + tables
