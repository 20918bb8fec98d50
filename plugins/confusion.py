"""Confusion analysis of a labelled data set: where the model goes wrong, in numbers and words.

Uses :func:`ferviz.model.evaluation.evaluate`, so labels are matched to the model's outputs by class
name. C[i, j] counts images of true class i predicted as j; the figure shows the row-normalised
matrix R[i, j] = C[i, j] / sum_j C[i, j] (each cell: share and count) beside per-class
accuracy R[i, i]; the summary names the most confused pairs as the report did
("sad -> neutral 24 %").

Example::

    ferviz explain --method confusion --checkpoint seed.pt --data fer2013.csv --split private-test \
        --out out/confusion

    >>> exp = run_explainer("confusion", model, dataset=test_split)
    >>> exp.summary["most_confused"][0]["text"]
    'sad -> neutral 24 %'
"""

from __future__ import annotations

import numpy as np

from ferviz.model.evaluation import evaluate
from ferviz.explain import Explainer, Explanation, Option, Request
from ferviz.explain.figures import confusion_figure
from ferviz.registry import hookimpl


class Confusion(Explainer):
    """Row-normalised confusion matrix, per-class accuracy and the most confused pairs."""

    name = "confusion"
    summary = "Row-normalised confusion matrix, per-class accuracy and the most confused pairs."
    needs = "dataset"
    # how the report shows it (see Explainer.report_layout)
    report_layout, report_section, report_order = "confusion-matrix", "confusion", 10
    report_title = "Which expressions does it confuse?"
    report_lead = ("Row-normalised confusion matrix: row = true class, column = prediction, each cell the share of "
                   "its row and the count; beside it the per-class accuracy (the diagonal).")
    report_caption = "row-normalised confusion matrix of {checkpoint} and its per-class accuracy"
    options = (
        Option("top", int, 5, "how many confused pairs to name", min=1, max=100),
        Option("batch_size", int, 512, "images per forward pass", min=1),
    )

    def explain(self, request: Request) -> Explanation:
        result = evaluate(self.model, request.dataset, batch_size=self.opts.batch_size)
        per_class = result.per_class_accuracy
        pairs = [{"true": t, "predicted": p, "share": round(s, 4), "count": c, "text": f"{t} -> {p} {s * 100:.0f} %"}
                 for t, p, s, c in result.most_confused(self.opts.top)]
        scored = {c: a for c, a in per_class.items() if a is not None}
        figure = confusion_figure(result.row_normalised(), result.confusion, result.class_names, per_class,
                                  result.accuracy)
        return Explanation(
            arrays={"confusion": result.confusion.astype(np.int64),
                    "row_normalised": result.row_normalised().astype(np.float64)},
            figures={"confusion": figure},
            summary={
                "n": result.n,
                "accuracy": result.accuracy,
                "class_names": list(result.class_names),
                "per_class_accuracy": per_class,
                "best_class": max(scored, key=scored.get) if scored else None,
                "worst_class": min(scored, key=scored.get) if scored else None,
                "most_confused": pairs,
            },
        )


@hookimpl
def register_explainers(register):
    register(Confusion)
