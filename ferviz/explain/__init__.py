"""The plugin-author API: everything one explainer needs, importable from ``ferviz.explain``.

Two kinds of explainer, one base class each:

- a per-image attribution map: subclass :class:`MapExplainer` and implement
  ``attribute(batch) -> maps`` for one batch; batching, the compute/render split (so it runs
  under torchrun), bf16 ``precision``, the standard figures and what ``ferviz assess`` needs
  come from the base class (:mod:`ferviz.explain.maps`);
- anything else (a data-set analysis such as ``confusion``, a model-level visualisation such as
  ``filter-ascent``): subclass :class:`Explainer` and override ``explain(request) -> Explanation``
  (:mod:`ferviz.explain.base`).

Where the parts live: :mod:`~ferviz.explain.base` (Request, Explanation, Explainer, looking
explainers up and running them), :mod:`~ferviz.explain.maps` (MapExplainer),
:mod:`~ferviz.explain.attribution` (mask, figure and precision options; the standard attribution
result), :mod:`~ferviz.explain.torchtools` (eval-and-frozen runs, folded copies, layer hooks,
batching, blur), :mod:`~ferviz.explain.selection` (which faces, which classes),
:mod:`~ferviz.explain.records` (per-image records and titles), :mod:`~ferviz.explain.saving`
(writing an explanation), :mod:`~ferviz.explain.figures` (the figures), and for commands
:mod:`~ferviz.explain.parallel` (torchrun) and :mod:`~ferviz.explain.compare` (methods side by
side). Typed options are :mod:`ferviz.options`, shared with metrics and the report.
"""

from ferviz.explain.attribution import (GREY_OUT, MASK_RULES, attribution_explanation, describe_mask, figure_options,
                                        greyed_out, in_precision, mask_options, precision_option, region_mask)
from ferviz.explain.base import NEEDS, Explainer, Explanation, Request, get_explainer, run_explainer
from ferviz.explain.maps import MapExplainer
from ferviz.explain.records import display_images, image_records, record_title
from ferviz.explain.saving import MANIFEST_FORMAT, save
from ferviz.explain.selection import pick_faces, predicted_classes, resolve_targets, select_per_class
from ferviz.explain.torchtools import (LayerReached, capture_output, channels_last_works, chunks, explaining, folded,
                                       forward_to, gaussian_blur)
from ferviz.fileio import jsonable
from ferviz.options import Option, parse_key_values, parse_options

__all__ = [
    # the explainer interface
    "Explainer", "MapExplainer", "Explanation", "Request", "Option", "NEEDS",
    "get_explainer", "run_explainer", "parse_options", "parse_key_values",
    # attribution maps: options, masks, the standard result
    "attribution_explanation", "mask_options", "figure_options", "precision_option", "in_precision",
    "region_mask", "describe_mask", "greyed_out", "MASK_RULES", "GREY_OUT",
    # torch helpers
    "explaining", "folded", "channels_last_works", "capture_output", "forward_to", "LayerReached", "chunks",
    "gaussian_blur",
    # inputs and records
    "pick_faces", "select_per_class", "predicted_classes", "resolve_targets", "display_images", "image_records",
    "record_title",
    # saving
    "save", "jsonable", "MANIFEST_FORMAT",
]
