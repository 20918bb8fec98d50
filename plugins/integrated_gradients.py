"""Integrated gradients, through Captum's ``IntegratedGradients``.

Sundararajan, Taly & Yan, "Axiomatic Attribution for Deep Networks" (ICML 2017):

    IG_i(x) = (x_i - x'_i) * integral_0^1 dS_t(x' + a (x - x')) / dx_i da

for a baseline image x'. Completeness: sum_i IG_i(x) = S_t(x) - S_t(x'); Captum's
convergence ``delta`` is the per-image error of that sum (small when ``steps`` is enough).
S_t is the target class's logit; pixels are on the 0-255 scale, attributions summed over
channels, so they are signed logit contributions per pixel.

Baselines: ``black`` (all pixels 0), ``mean`` (a flat image at the checkpoint's
standardisation mean, else the data set's mean, else the selected images' mean), ``blurred``
(each input blurred with a Gaussian of sigma ``blur_sigma`` pixels).

Example::

    ferviz explain --method integrated-gradients --checkpoint seed.pt --data synthetic \
        --per-class 1 -p steps=64 -p baseline=blurred --out out/ig

    >>> exp = run_explainer("integrated-gradients", model, images=faces, options={"steps": "32"})
    >>> exp.arrays["attributions"].sum(axis=(1, 2))   # ~ logit(x) - logit(baseline)
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import torch
from captum.attr import IntegratedGradients as CaptumIG

from ferviz.explain import (Explanation, MapExplainer, Option, Request, figure_options, folded, gaussian_blur,
                            mask_options, precision_option)
from ferviz.registry import hookimpl

BASELINES = ("black", "mean", "blurred")


def baseline_pixels(model, x: torch.Tensor, kind: str, request: Request, sigma: float) -> torch.Tensor:
    """The baseline x' for pixels `x` (N, C, H, W), same shape, 0-255 scale."""
    if kind == "black":
        return torch.zeros_like(x)
    if kind == "blurred":
        return gaussian_blur(x, sigma)
    prep = model.preprocessing
    if prep.mode == "standard":
        level = prep.mean
    elif request.dataset is not None:
        level = float(request.dataset.images.mean())
    else:
        level = float(np.mean(request.images))
    return torch.full_like(x, level)


class IntegratedGradients(MapExplainer):
    """Signed path attributions from a baseline to the face (Captum), with convergence deltas."""

    name = "integrated-gradients"
    summary = "Integrated gradients (Sundararajan et al. 2017) via Captum; signed map, completeness delta."
    needs = "images"
    map_title, map_name = "IG ({opts.baseline} baseline)", "IG"
    bf16_scope = "past-input"  # bf16 on the pixels themselves moves the map; past them, the steps average it out
    # how the report shows it (see Explainer.report_layout)
    report_layout, report_section, report_order = "attributions", "integrated-gradients", 30
    report_title = "Where does it look? Integrated gradients"
    report_lead = ("Integrated gradients (Sundararajan et al. 2017, via Captum) from a {baseline} baseline in {steps} "
                   "steps: signed contributions of each pixel to the predicted class's logit (red for, blue against).")
    report_caption = "face, signed integrated gradients (red for, blue against) and the face where they are high"
    report_columns = (("score_minus_baseline", "S(x) - S(x')", "{:.2f}", "logit minus the baseline's"),
                      ("delta", "delta", "{:+.3f}", "completeness error"))

    @classmethod
    def report_cost(cls, opts, images: int, input_size: int) -> int:
        return 3 * images * opts.steps  # a saliency pass per step

    @classmethod
    def report_findings(cls, explanation: Explanation) -> tuple[list[str], dict]:
        """Whether the path integral converged: Captum's completeness error against the score gaps."""
        delta = np.abs(explanation.arrays["delta"]).max()
        gap = np.abs(explanation.arrays["score_minus_baseline"]).max()
        converged = delta <= 0.05 * max(gap, 1e-9)
        return ([f"Completeness holds to within {delta:.3g} logits for score gaps up to {gap:.3g}: "
                 + ("the path integral has converged." if converged else
                    f"more steps would help (-p {cls.name}.steps=N).")],
                {"max_abs_delta": float(delta), "max_abs_score_gap": float(gap)})

    options = (
        Option("steps", int, 50, "integration steps (Gauss-Legendre)", min=2, max=10000),
        Option("baseline", str, "black", "reference image the path starts from", choices=BASELINES),
        Option("blur_sigma", float, 5.0, "Gaussian sigma in pixels for baseline=blurred", min=0.1, max=100.0),
        Option("internal_batch_size", int, 512, "images x steps per forward pass inside Captum", min=1),
        Option("batch_size", int, 32, "images attributed per Captum call", min=1),
        precision_option(bf16_scope),
        *mask_options(0.7, "zscore", 2.0),
        *figure_options(),
    )
    quick_options = {"steps": 8}

    @contextmanager
    def attributing(self, request: Request):
        self.fast = self.bf16_copy(folded(self.model, inplace_relu=True))  # BatchNorm folded, channels-last: same maps, less work
        self.ig = CaptumIG(self.fast)
        self.request = request  # baseline=mean on unstandardised pixels: the level of the whole request
        yield

    def attribute(self, batch: Request) -> dict[str, torch.Tensor]:
        """Attributions (B, H, W) summed over channels, Captum's delta (B,) and S(x) - S(x') (B,)."""
        x = self.model.pixels(batch.images)  # (B, C, H, W), 0-255
        base = baseline_pixels(self.model, x, self.opts.baseline, self.request, self.opts.blur_sigma)
        t = torch.as_tensor(batch.targets, dtype=torch.int64).to(x.device)
        attr, delta = self.ig.attribute(x, baselines=base, target=t, n_steps=self.opts.steps,
                                        internal_batch_size=self.opts.internal_batch_size,
                                        return_convergence_delta=True)
        with torch.no_grad():
            scores = self.fast(torch.cat([x, base])).gather(1, torch.cat([t, t]).view(-1, 1)).view(2, -1)
        return {"attributions": attr.sum(dim=1), "delta": delta, "score_minus_baseline": scores[0] - scores[1]}

    def records(self, request: Request, arrays: dict[str, np.ndarray]) -> list[dict]:
        records = super().records(request, arrays)
        for record, d, g in zip(records, arrays["delta"], arrays["score_minus_baseline"]):
            record.update(score_minus_baseline=round(float(g), 5), delta=round(float(d), 6))
        return records

    def summarise(self, arrays: dict[str, np.ndarray]) -> dict:
        return {"baseline": self.opts.baseline, "max_abs_delta": float(np.abs(arrays["delta"]).max())}


@hookimpl
def register_explainers(register):
    register(IntegratedGradients)
