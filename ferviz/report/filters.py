"""The filter-grid layout of `ferviz report`: a layer explainer run per layer, from noise and from a face.

An explainer with ``report_layout = "filter-grids"`` (filter ascent) is a model explainer with a
``layer`` and a ``start`` option, which the report sets itself (:data:`SETS`): it runs on each
``--layers`` layer (by default its ``report_layers`` that the model has, else its own ``auto``),
once from white noise and once from a real face (the first rightly predicted selected face). The
runs are made once per report and kept on the context: the section and the explorer share them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ferviz.errors import FervizError
from ferviz.explain import Explanation, Request
from ferviz.report.describe import caption, estimate, lead, options_of, report_explainers, section_key
from ferviz.report.sections import Section, Table

LAYOUT = "filter-grids"
#: The options the layout sets itself (a -p that gives one is refused), and what to say then.
SETS = ("layer", "start")
SETS_WHY = "use --layers for the layers; it runs from noise and from a face"


@dataclass
class LayerRuns:
    """One layer explainer's runs in this report: (layer, from noise, from a face) explainers, built at planning."""

    explainers: list[tuple] = field(default_factory=list)
    cost: int = 1  # progress units of one run
    results: list[tuple[str, Explanation | str]] | None = None  # (start, explanation or error), once run


def resolve_layers(ctx, cls) -> list[str]:
    """The layers explainer `cls` runs on: --layers, else its report_layers the model has, else "auto"."""
    model = ctx.models[0]
    if ctx.config.layers:
        return list(ctx.config.layers)
    if not model.eager:
        return ["auto"]  # no layer names to look at; the explainer itself says why it cannot run
    present = [name for name in cls.report_layers if name in model.named_layers()]
    return present or ["auto"]


def report_layers(ctx) -> list[str]:
    """The layers of the report's layer sections (report.json's inputs): the first layer explainer's."""
    layered = [cls for cls in report_explainers() if cls.report_layout == LAYOUT]
    return resolve_layers(ctx, layered[0]) if layered else list(ctx.config.layers or ())


def plan_filters(ctx, cls):
    runs = ctx.layer_runs[cls.name] = LayerRuns()
    for layer in resolve_layers(ctx, cls):  # a refusal (a compiled model) is said in the section
        runs.explainers.append((layer, ctx.explainer(cls.name, layer=layer, start="noise"),
                                ctx.explainer(cls.name, layer=layer, start="image")))
    runs.cost = max(1, estimate(ctx, cls, 0))
    return 2 * len(runs.explainers) * runs.cost, lambda: filters_section(ctx, cls)


def filter_runs(ctx, name: str) -> list[tuple[str, Explanation | str]]:
    """(start, explanation or error message) of explainer `name` on each chosen layer, from noise and from
    a face; run once per report (the filters section and the explorer share them)."""
    runs = ctx.layer_runs[name]
    if runs.results is not None:
        return runs.results
    runs.results = []
    for _layer, explainer_noise, explainer_face in runs.explainers:
        for start, explainer in (("noise", explainer_noise), ("image", explainer_face)):
            label = f"{explainer.layer_name} from {'noise' if start == 'noise' else 'a face'}"
            try:
                with ctx.work(runs.cost, f"filters {label}") as progress:
                    images = ctx.start_face if start == "image" else None
                    exp = explainer.run(Request(images=images, seed=ctx.config.seed, progress=progress))
            except FervizError as exc:
                exp = f"{label}: {exc}"
            runs.results.append((start, exp))
    return runs.results


def origin(ctx, start: str) -> str:
    return "white noise" if start == "noise" else f"the face {ctx.start_face_id}"


def filters_section(ctx, cls) -> Section:
    section = Section(section_key(cls), cls.report_title, lead=lead(cls, vars(options_of(ctx, cls))))
    runs = {}
    for start, exp in filter_runs(ctx, cls.name):
        if isinstance(exp, str):
            section.errors.append(exp)
            continue
        s = exp.summary
        start_act, end_act = exp.arrays["activation_start"], exp.arrays["activation_end"]
        runs.setdefault(s["layer"], {})[start] = {
            "steps": s["steps"], "raised": s["raised"], "count": s["count"],
            "mean_activation_start": float(start_act.mean()), "mean_activation_end": float(end_act.mean()),
            "filters": s["filters"], "options": exp.meta["options"]}
        for figure_name, figure in exp.figures.items():
            file = ctx.save_figure(figure, f"{figure_name}-{s['layer']}-{start}")
            section.figures.append((file, caption(cls, figure_name, exp.meta["options"], s, checkpoint=ctx.names[0],
                                                  origin=origin(ctx, start))))
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
