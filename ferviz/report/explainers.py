"""The explainer sections of `ferviz report`: saliency, integrated gradients, filters, plugins.

Attribution sections explain the selected faces (N per true class, a seeded draw) for their
predicted class and measure where the maps sit on the face (share of the absolute mass in the
upper half: eyes and brows; lower half: nose and mouth). The filter section runs filter ascent
for each chosen layer from noise and from a face. Every other registered explainer gets a
generic section built from its figures and summary (:func:`plugin_section`).
"""

from __future__ import annotations

import traceback
from types import SimpleNamespace

import numpy as np

from ferviz.errors import FervizError, UnsupportedModelError
from ferviz.explain import Explanation, Request, describe_mask
from ferviz.explain.parallel import run_distributed
from ferviz.inputs.requests import request_for
from ferviz.report.sections import RIGHT, TITLES, WRONG, Section, Table, pct


# ----------------------------------------------------------------------------- 4. attributions
LEADS = {
    "saliency": "Vanilla saliency (Simonyan et al. 2014): |d score / d pixel| of the predicted class's logit, "
                "as a heat map and as a mask over the face (the {mask_rule}; the rest greyed out).",
    "integrated-gradients": "Integrated gradients (Sundararajan et al. 2017, via Captum) from a {baseline} "
                            "baseline in {steps} steps: signed contributions of each pixel to the predicted "
                            "class's logit (red for, blue against).",
}


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


def attribution_run(ctx, method: str, array: str, caption: str, cost: int) -> Section:
    """Saliency or integrated gradients on the selected faces, for their predicted class."""
    section = Section(method, TITLES[method])
    sel = ctx.selection
    if not len(sel.images):
        section.notes.append("no faces to explain")
        return section
    with ctx.work(cost, method) as progress:
        # the report's own figures are the original report's panels (its captions describe them)
        exp = run_distributed(ctx.explainer(method, defaults={"style": "panels"}), Request(  # spread over torchrun workers, if any
            images=sel.images, targets=sel.predicted, labels=sel.labels, ids=sel.ids, seed=ctx.config.seed,
            progress=progress))
    options = exp.meta["options"]
    mask_rule = describe_mask(SimpleNamespace(**options), "map") if "threshold" in options else ""
    section.lead = (LEADS[method].format(**options, mask_rule=mask_rule) + f" {ctx.config.per_class} face(s) per true class, drawn with "
                    f"seed {ctx.config.seed}; {RIGHT} marks a right prediction, {WRONG} a wrong one.")
    for name, figure in exp.figures.items():
        section.figures.append((ctx.save_figure(figure, name), caption))
    shares = upper_share(exp.arrays[array])
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
    section.findings.append(region_sentence(method.replace("-", " ").capitalize(), by_class))
    if method == "integrated-gradients":
        delta, gap = np.abs(exp.arrays["delta"]), np.abs(exp.arrays["score_minus_baseline"])
        section.numbers.update(max_abs_delta=float(delta.max()), max_abs_score_gap=float(gap.max()))
        converged = delta.max() <= 0.05 * max(gap.max(), 1e-9)
        section.findings.append(
            f"Completeness holds to within {delta.max():.3g} logits for score gaps up to {gap.max():.3g}: "
            + ("the path integral has converged." if converged else
               "more steps would help (-p integrated-gradients.steps=N)."))
        headers = ["face", "predicted", "p", "upper half", "S(x) - S(x')", "delta"]  # true: see the mark
        rows = [[row[0], *row[2:], f"{r['score_minus_baseline']:.2f}", f"{r['delta']:+.3f}"]
                for row, r in zip(rows, records)]
    caption = "the faces; upper half: share of the map's mass above the middle row"
    if method == "integrated-gradients":
        caption += "; S(x) - S(x'): logit minus the baseline's; delta: completeness error"
    section.tables.append(Table(headers, rows, caption=caption,
                                numeric=tuple(range(headers.index("p"), len(headers)))))
    return section


# ----------------------------------------------------------------------------- 5. filters
def filter_runs(ctx, cost_per_run: int) -> list[tuple[str, Explanation | str]]:
    """(start, explanation or error message) of filter ascent for each chosen layer, from noise and
    from a face; run once per report and kept on `ctx` (the filters section and the explorer share it)."""
    if ctx.filter_results is not None:
        return ctx.filter_results
    ctx.filter_results = []
    for _layer, explainer_noise, explainer_face in ctx.filter_explainers:
        for start, explainer in (("noise", explainer_noise), ("image", explainer_face)):
            label = f"{explainer.layer_name} from {'noise' if start == 'noise' else 'a face'}"
            try:
                with ctx.work(cost_per_run, f"filters {label}") as progress:
                    images = ctx.start_face if start == "image" else None
                    exp = explainer.run(Request(images=images, seed=ctx.config.seed, progress=progress))
            except FervizError as exc:
                exp = f"{label}: {exc}"
            ctx.filter_results.append((start, exp))
    return ctx.filter_results


def filters_section(ctx, cost_per_run: int) -> Section:
    section = Section("filters", TITLES["filters"],
                      lead="Gradient ascent on the input (Erhan et al. 2009): for each of the first filters of a "
                           "layer, the image that maximises its mean activation, started from white noise and from "
                           "a real face (the first rightly predicted selected face). Titles: filter, final mean "
                           "activation.")
    runs = {}
    for start, exp in filter_runs(ctx, cost_per_run):
        if isinstance(exp, str):
            section.errors.append(exp)
            continue
        s = exp.summary
        start_act, end_act = exp.arrays["activation_start"], exp.arrays["activation_end"]
        runs.setdefault(s["layer"], {})[start] = {
            "steps": s["steps"], "raised": s["raised"], "count": s["count"],
            "mean_activation_start": float(start_act.mean()), "mean_activation_end": float(end_act.mean()),
            "filters": s["filters"], "options": exp.meta["options"]}
        file = ctx.save_figure(exp.figures["filters"], f"filters-{s['layer']}-{start}")
        section.figures.append((file, f"{s['layer']}: {s['count']} filters, {s['steps']} ascent steps from "
                                      f"{'white noise' if start == 'noise' else 'the face ' + ctx.start_face_id}"))
    rows = []
    for layer, starts in runs.items():
        for start, r in starts.items():
            rows.append([layer, "noise" if start == "noise" else "face", str(r["steps"]), f"{r['raised']}/{r['count']}",
                         f"{r['mean_activation_start']:.3f}", f"{r['mean_activation_end']:.3f}"])
            section.findings.append(
                f"{layer} from {'noise' if start == 'noise' else 'a face'}: {r['raised']} of {r['count']} filters "
                f"raised their mean activation ({r['mean_activation_start']:.2f} -> {r['mean_activation_end']:.2f} "
                f"on average).")
    if rows:
        section.tables.append(Table(["layer", "start", "steps", "filters raised", "mean activation before",
                                     "after"], rows, numeric=(2, 3, 4, 5)))
    section.numbers = {"layers": runs, "start_face": ctx.start_face_id}
    return section


# ----------------------------------------------------------------------------- 6. other explainers
def contained_errors(name: str) -> type[Exception]:
    """What explainer `name` may raise without sinking the report (its failure shown in place).

    A third-party plugin is not ferviz code: whatever it raises, even a bug, is shown instead of
    sinking a report that may have run for ten minutes. ferviz's own plugins only have their
    FervizErrors shown; a bug in them raises (see the module docstring).
    """
    from ferviz import registry

    owner = registry.explainers().owner.get(name, "?")
    return FervizError if owner in registry.BUILTIN_PLUGINS else Exception


def plugin_section(ctx, name: str, cost: int) -> Section:
    """Any other registered explainer, run with its defaults (plus -p options) by what it needs."""
    from ferviz import registry

    cls = registry.explainers()[name]
    owner = registry.explainers().owner.get(name, "?")
    what = {"images": "the selected faces, for their predicted class", "dataset": "the whole split",
            "model": "the model alone"}[cls.needs]
    section = Section(f"plugin-{name}", f"What does {name} show?",
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
            files = [(ctx.save_figure(figure, f"plugin-{name}-{fig}"), f"{name}: {fig}")
                     for fig, figure in exp.figures.items()]
    except UnsupportedModelError as exc:  # a layer method on a compiled network: said in place, not a failure
        section.notes.append(str(exc))
        return section
    except contained_errors(name) as exc:  # noqa: BLE001 - see contained_errors
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        section.errors.append(f"{name} failed: {last}")
        return section
    section.figures.extend(files)
    section.numbers = {"summary": exp.summary, "options": exp.meta.get("options", {}),
                       "arrays": {k: {"shape": list(np.shape(v)), "dtype": str(np.asarray(v).dtype)}
                                  for k, v in exp.arrays.items()}}
    section.tables.extend(summary_tables(exp.summary))
    arrays = ", ".join(f"{k} {'x'.join(map(str, np.shape(v)))}" for k, v in exp.arrays.items())
    section.findings.append(f"{name} made {len(exp.figures)} figure(s)" + (f" and arrays {arrays}" if arrays else "")
                            + "; its summary is below and in report.json.")
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
