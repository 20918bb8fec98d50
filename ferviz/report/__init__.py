"""`ferviz report`: the whole analysis of one or more checkpoints, rendered in one batch.

One call answers the questions of the original report, a heading each: the model and its
training curves; accuracy per class, per model and for the ensemble; optionally a
normalisation or augmentation study, read from its folder (:mod:`ferviz.train.results`); then
a section per registered explainer, shown as the explainer describes itself (its ``report_*``
attributes, :mod:`ferviz.report.describe`): the confusion matrix, saliency and integrated
gradients for N faces per class (chosen with a seed), filter-ascent grids for chosen layers
from noise and from a face, a generic section for every other one; last the explorer
(:mod:`ferviz.report.explorer`), which ``ferviz explore`` writes alone (``explorer_only``).

The modules: :mod:`~ferviz.report.context` (the configuration and what sections work with),
:mod:`~ferviz.report.planning` (the sections in order, the checks before any work),
:mod:`~ferviz.report.build` (the whole job), :mod:`~ferviz.report.sections` (the sections about
the model), :mod:`~ferviz.report.explainers` and :mod:`~ferviz.report.filters` (the explainer
layouts), :mod:`~ferviz.report.explorer` with :mod:`~ferviz.report.page`, and
:mod:`~ferviz.report.html` (the page).

The output folder holds ``index.html`` (self-contained: CSS and the explorer's script inline,
figures as PNG files next to it and in ``explorer/``, no network), the PNGs and ``report.json``
with every number shown and the time each section took. Everything is built in a temporary
folder beside ``--out`` and moved into place at the end, so a failed report leaves nothing
half-written.

Explanations (confusion, attributions, filters, plugins) use the first checkpoint; the
accuracy section scores every checkpoint and their ensemble.

    >>> build_report(ReportConfig(checkpoints=[Path("runs/a/best.pt")], data="synthetic",
    ...                           out=Path("report")))
    PosixPath('report/index.html')
"""

from ferviz.report.build import build_isolated, build_report
from ferviz.report.context import ReportConfig, ReportContext, Selection, choose_faces, select
from ferviz.report.planning import check_skip, parse_params, plan

__all__ = ["ReportConfig", "ReportContext", "Selection", "build_isolated", "build_report", "check_skip",
           "choose_faces", "parse_params", "plan", "select"]
