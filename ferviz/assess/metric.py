"""Metrics and what to run: the Metric base class, and resolving metric and method names.

A metric is a subclass of :class:`Metric` that declares its ``name``, ``summary``, whether it
``needs_masks``, its typed ``options``, its ``headline`` key and whether higher is better, and
overrides :meth:`Metric.score` (see :mod:`ferviz.assess` for an example). :func:`resolve_metrics`
and :func:`resolve_methods` turn ``all`` or a list of names into what the runner scores;
:func:`eager_only` says which of them a compiled network cannot run.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Callable, ClassVar, Sequence

import numpy as np

from ferviz.errors import DataError, OptionError
from ferviz.explain import get_explainer
from ferviz.options import Option, parse_options

ExplainFn = Callable[[Any, np.ndarray, np.ndarray], np.ndarray]


class Metric:
    """Base class of every explanation-quality metric. Subclass, declare, override `score`.

    ``self.opts`` holds the validated option values (``self.opts.steps``); ``self.seed`` the
    assessment's seed, for anything random.
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    needs_masks: ClassVar[bool] = False
    options: ClassVar[tuple[Option, ...]] = ()
    #: The result key whose mean over images is the table's cell.
    headline: ClassVar[str] = ""
    higher_is_better: ClassVar[bool] = True
    #: Options for a fast, low-quality run (tests, previews).
    quick_options: ClassVar[dict[str, Any]] = {}
    #: True when the metric works on the network's layers (re-initialises them by name), which
    #: only an eager PyTorch model exposes; refused on TorchScript and torch.export programs.
    needs_eager: ClassVar[bool] = False

    def __init__(self, *, seed: int = 0, **options):
        self.opts = SimpleNamespace(**parse_options(type(self), options))
        self.seed = seed

    def unavailable(self, *, has_masks: bool) -> str | None:
        """Why this metric cannot run on the given inputs (None: it can). Override to add reasons."""
        if self.needs_masks and not has_masks:
            return "needs ground-truth cue masks, which only synthetic faces have"
        return None

    @property
    def flag_above(self) -> float | None:
        """A headline mean above this flags the method (sanity checks); None: never flagged."""
        return None

    def score(self, model, images: np.ndarray, targets: np.ndarray, maps: np.ndarray, masks: np.ndarray | None,
              *, explain_fn: ExplainFn) -> dict[str, Any]:
        raise NotImplementedError(f"{type(self).__name__} must implement score(...)")


def get_metric(name: str) -> type[Metric]:
    """The registered metric class called `name` (UnknownNameError lists the known ones)."""
    from ferviz import registry

    return registry.metrics().get_or_raise(name)


def resolve_metrics(spec: str | Sequence[str], *, has_masks: bool, options: dict[str, dict] | None = None,
                    seed: int = 0) -> tuple[list[Metric], dict[str, str]]:
    """(metrics to run, {skipped name: reason}) for ``all`` or a list of names.

    With ``all`` a metric that cannot run here (no masks, no random-labels checkpoint) is skipped
    with its reason; named explicitly, it is an error.
    """
    from ferviz import registry

    options = options or {}
    explicit = not (spec == "all" or list(spec) == ["all"])
    names = _split(spec) if explicit else sorted(registry.metrics(), key=_metric_order)
    chosen, skipped = [], {}
    for name in names:
        metric = get_metric(name)(seed=seed, **options.get(name, {}))
        reason = metric.unavailable(has_masks=has_masks)
        if reason and explicit:
            raise DataError(f"metric {name} cannot run here: it {reason}")
        if reason:
            skipped[name] = reason
        else:
            chosen.append(metric)
    return chosen, skipped


def eager_only(model, methods: list[str], metrics: list[Metric]) -> dict[str, str]:
    """{name: reason} of the methods and metrics that need an eager model, when `model` is not one
    (TorchScript, torch.export): what ``all`` leaves out on such a model."""
    from ferviz.model.loaded import KINDS

    if getattr(model, "eager", True):
        return {}
    why = f"needs an eager PyTorch model (it hooks into the network's layers); this one is {KINDS[model.kind]}"
    return {**{name: why for name in methods if getattr(get_explainer(name), "needs_eager", False)},
            **{m.name: why for m in metrics if m.needs_eager}}


def resolve_methods(spec: str | Sequence[str]) -> list[str]:
    """Explainer names for ``all`` (every registered per-image explainer) or a list of names."""
    from ferviz import registry

    if spec == "all" or list(spec) == ["all"]:
        return sorted(n for n, cls in registry.explainers().items() if cls.needs == "images")
    names = _split(spec)
    for name in names:
        cls = get_explainer(name)
        if cls.needs != "images":
            raise OptionError(f"{name} is not a per-image explainer (it needs {cls.needs}); "
                              "only per-image attributions can be assessed")
    return names


def _split(spec: str | Sequence[str]) -> list[str]:
    items = spec.split(",") if isinstance(spec, str) else spec
    names = [s.strip() for s in items if s.strip()]
    if not names:
        raise OptionError("name at least one, or all")
    return list(dict.fromkeys(names))


_ORDER = ("pointing-game", "relevance-mass", "model-randomisation", "label-randomisation", "deletion", "insertion")


def _metric_order(name: str) -> tuple[int, str]:
    return (_ORDER.index(name) if name in _ORDER else len(_ORDER), name)
