"""Explanation quality: metrics as plugins, and the runner that scores explainers with them.

A metric is a subclass of :class:`Metric` that declares its ``name``, a one-line ``summary``,
whether it ``needs_masks`` (ground-truth cue masks, synthetic faces only), its typed
``options``, the ``headline`` key of its result shown in the table and whether higher is
better, and overrides one method, :meth:`Metric.score`::

    class MapEntropy(Metric):
        name = "map-entropy"
        summary = "Entropy of the normalised positive map (lower: more concentrated)."
        headline, higher_is_better = "entropy", False

        def score(self, model, images, targets, maps, masks, *, explain_fn):
            p = np.clip(maps, 0, None).reshape(len(maps), -1) + 1e-12
            p /= p.sum(axis=1, keepdims=True)
            return {"entropy": -(p * np.log(p)).sum(axis=1)}   # (N,): one value per image

A result maps names to a number (data-set level), a per-image array (N,) (NaN where an image
was not scored), per-image curves (N, K), or JSON-able extras (``"layers": [...]``). The runner
averages per-image values (ignoring NaN), per class of the target too, and keeps the curves.
A key ``chance`` holds what a map independent of everything would score per image; the table
shows its mean as an "expected at chance" row.

:func:`assess` computes each explainer's maps once (a :class:`~ferviz.explain.MapExplainer`'s
``maps``; plus a random-map baseline row), hands them to every metric with an
``explain_fn(model, images, targets) -> (N, H, W) maps`` that recomputes them on another model
(for the randomisation sanity checks), and returns an :class:`Assessment`;
:mod:`ferviz.assess.output` turns it into Markdown, JSON and figures.

Where the parts live: :mod:`~ferviz.assess.metric` (Metric, choosing metrics and methods),
:mod:`~ferviz.assess.runner` (maps and the runner), :mod:`~ferviz.assess.result` (Assessment),
:mod:`~ferviz.assess.tools` (what the built-in metrics compute with), :mod:`~ferviz.assess.output`
(the files).

Conventions: ``images`` are the (N, H, W) uint8 faces, ``targets`` (N,) class indices (the class
each map explains), ``maps`` (N, S, S) float32 at the model's input size S, ``masks`` (N, S, S)
bool or None. Metrics run with the model in eval mode and frozen; they must not change it.
"""

from ferviz.assess.metric import (ExplainFn, Metric, eager_only, get_metric, resolve_methods,
                                  resolve_metrics)
from ferviz.assess.result import Assessment
from ferviz.assess.runner import RANDOM_ROW, assess, attribution_map, explainer_fn, fit_masks, random_fn

__all__ = ["Metric", "ExplainFn", "get_metric", "resolve_metrics", "resolve_methods", "eager_only", "Assessment",
           "assess", "explainer_fn", "attribution_map", "random_fn", "fit_masks", "RANDOM_ROW"]
