"""What `ferviz report` will run, in order, with its cost; and the checks made before any work.

The sections: the model, its training, its accuracy and, with ``--study``, the study (the
builders of :mod:`ferviz.report.sections`); then one section per registered explainer, in
``report_order`` (then by name), laid out as the explainer says (``report_layout``: the
``plan_*`` functions of :mod:`ferviz.report.explainers` and :mod:`ferviz.report.filters`); last the
explorer (:mod:`ferviz.report.explorer`). ``-p`` options and ``--skip`` names are checked here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ferviz.errors import OptionError, UnsupportedModelError
from ferviz.options import parse_key_values, parse_options
from ferviz.report.explainers import plan_attributions, plan_confusion, plan_generic
from ferviz.report.filters import LAYOUT as FILTER_GRIDS, SETS, SETS_WHY, plan_filters
from ferviz.report.describe import report_explainers, section_key
from ferviz.report.explorer import explorer_cost, explorer_section
from ferviz.report.sections import (TITLES, Section, accuracy_section, model_section, study_section,
                                    training_section)

#: Section layout (an explainer's ``report_layout``) -> its plan function: (ctx, cls) -> (cost, builder).
LAYOUTS = {"generic": plan_generic, "attributions": plan_attributions, "confusion-matrix": plan_confusion,
           FILTER_GRIDS: plan_filters}
#: Layout -> the options it sets itself (refused in -p) and what to say then.
LAYOUT_SETS = {FILTER_GRIDS: (SETS, SETS_WHY)}
#: The sections that show no explainer (the study's only with --study).
OWN_SECTIONS = ("model", "training", "accuracy", "study", "explorer")


@dataclass
class Planned:
    key: str
    cost: int  # rough work units (one unit ~ one image through the network)
    build: Callable[[], Section]
    title: str = ""  # the heading a failure is shown under ("": the key)


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
        sets, why = LAYOUT_SETS.get(cls.report_layout, ((), ""))
        fixed = sorted(set(given) & set(sets))
        if fixed:
            raise OptionError(f"-p {name}.{fixed[0]}: the report sets it ({why})")
        parse_options(cls, given)
    return grouped


def check_skip(names, study: bool) -> None:
    """Every --skip name must be a section or a registered explainer."""
    from ferviz import registry
    from ferviz.errors import UnknownNameError

    known = {*(key for key in OWN_SECTIONS if study or key != "study"), *registry.explainers(),
             *(cls.report_section for cls in report_explainers() if cls.report_section)}
    for name in names:
        if name not in known:
            raise UnknownNameError("section", name, known)


def skipped(names) -> set[str]:
    """The section keys and explainer names --skip leaves out: an explainer's name also skips its section."""
    from ferviz import registry

    known = registry.explainers()
    return {*names, *(section_key(known[name]) for name in names if name in known)}


def plan(ctx) -> list[Planned]:
    """The sections in report order with their costs; explainers are built (options checked) here."""
    n, k = len(ctx.split), len(ctx.models)
    skip = skipped(ctx.config.skip)
    planned = [
        Planned("model", 1, lambda: model_section(ctx), TITLES["model"]),
        Planned("training", k, lambda: training_section(ctx), TITLES["training"]),
        Planned("accuracy", n * k * (2 if k > 1 else 1), lambda: accuracy_section(ctx), TITLES["accuracy"]),
    ]
    if ctx.config.study is not None:
        planned.append(Planned("study", 1, lambda: study_section(ctx)))
    for cls in report_explainers():
        key = section_key(cls)
        if key not in skip:
            planned.append(plan_explainer(ctx, cls, key))
    layer_cost = sum(2 * len(runs.explainers) * runs.cost for runs in ctx.layer_runs.values())
    planned.append(Planned("explorer", explorer_cost(ctx, skip) + (layer_cost if ctx.config.explorer_only else 0),
                           lambda: explorer_section(ctx, skip)))
    if ctx.config.explorer_only:  # ferviz explore: the explorer alone (it runs the layer explainers itself)
        return planned[-1:]
    return [p for p in planned if p.key not in skip]


def plan_explainer(ctx, cls, key: str) -> Planned:
    """Explainer `cls`'s section as its layout plans it; a refusal (a layer method on a compiled model) is
    shown in the section, an unknown layout is an error there."""
    layout = LAYOUTS.get(cls.report_layout)
    if layout is None:
        error = OptionError(f"{cls.name}: unknown report_layout {cls.report_layout!r}; one of {', '.join(LAYOUTS)}")
        return Planned(key, 1, lambda: _raise(error), cls.report_title)
    try:
        cost, build = layout(ctx, cls)
    except UnsupportedModelError as exc:
        return Planned(key, 1, lambda refused=exc: _raise(refused), cls.report_title)
    return Planned(key, cost, build, cls.report_title)


def _raise(exc: Exception):
    raise exc
