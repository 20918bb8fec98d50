"""What an explainer says about itself to the report: its ``report_*`` attributes, read here.

The report names no plugin. Each explainer class declares how it is shown (the block "how the
report shows this explainer" in :class:`ferviz.explain.Explainer`): its section layout, id,
heading and place, its lead sentence and captions (``str.format`` templates), the columns it adds
to a face table, the layers a layer explainer runs on, its cost estimate and any findings of its
own (integrated gradients' convergence note). The defaults give any explainer, a third-party one
too, a generic section.
"""

from __future__ import annotations

from types import SimpleNamespace

from ferviz.errors import FervizError

#: Progress units for drawing and saving a section's figures (about a second of work).
FIGURE_COST = 300


def report_explainers() -> list[type]:
    """Every registered explainer class, in report order: by ``report_order``, then by name."""
    from ferviz import registry

    return sorted(registry.explainers().values(), key=lambda cls: (cls.report_order, cls.name))


def section_key(cls) -> str:
    """The id of the section that shows explainer `cls`."""
    return cls.report_section or f"plugin-{cls.name}"


def contained_errors(name: str) -> type[Exception]:
    """What explainer `name` may raise without sinking the report (its failure shown in place).

    A third-party plugin is not ferviz code: whatever it raises, even a bug, is shown instead of
    sinking a report that may have run for ten minutes. ferviz's own plugins only have their
    FervizErrors shown; a bug in them raises.
    """
    from ferviz import registry

    owner = registry.explainers().owner.get(name, "?")
    return FervizError if owner in registry.BUILTIN_PLUGINS else Exception


def options_of(ctx, cls) -> SimpleNamespace:
    """The validated options explainer `cls` runs with in this report (``--quick``, ``-p``)."""
    from ferviz.explain import parse_options

    return SimpleNamespace(**parse_options(cls, ctx.options(cls.name)))


def estimate(ctx, cls, images: int) -> int:
    """`cls`'s ``report_cost`` of one run on `images` images; a third-party estimate that fails counts 100."""
    try:
        return int(cls.report_cost(options_of(ctx, cls), images, ctx.models[0].input_size))
    except contained_errors(cls.name):  # noqa: BLE001 - its run shows the error, if there is one
        return 100


def lead(cls, options: dict) -> str:
    """`cls`'s lead sentence for a run with `options` ({mask_rule}: how its mask options pick pixels)."""
    from ferviz.explain import describe_mask

    mask_rule = describe_mask(SimpleNamespace(**options), "map") if "threshold" in options else ""
    return cls.report_lead.format_map({**options, "mask_rule": mask_rule})


def caption(cls, figure: str, options: dict, summary: dict, **fields) -> str:
    """`cls`'s caption of its figure `figure`, from the run's options and summary and the report's `fields`."""
    return cls.report_caption.format_map({**options, **summary, "name": cls.name, "figure": figure, **fields})
