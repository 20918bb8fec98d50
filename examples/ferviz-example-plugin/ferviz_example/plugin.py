"""Gradient x input: a ferviz explainer in one small module.

Shrikumar, Greenside, Shcherbina & Kundaje, "Not Just a Black Box: Learning Important Features
Through Propagating Activation Differences" (2016):

    A_ij = sum_c (x_cij - b) * d S_t(x) / d x_cij

for the target logit S_t, pixels x on the 0-255 scale and a flat reference level b (option
``reference``, default 0 = black). For a linear model this is exactly each pixel's contribution
to S_t(x) - S_t(b); for a ReLU network it is the first-order Taylor term.

A map explainer: it computes the maps of one batch (``attribute``); ferviz batches the images,
draws the standard figures, saves the arrays, spreads the work under torchrun and hands the maps
to ``ferviz assess``.

Example::

    ferviz explain --method gradient-x-input --checkpoint seed.pt --image face.png \
        -p reference=128 --out out/gxi
"""

from __future__ import annotations

import torch

from ferviz.explain import MapExplainer, Option, Request, figure_options, mask_options
from ferviz.registry import hookimpl


class GradientTimesInput(MapExplainer):
    """Signed per-pixel contributions (x - reference) * gradient of the target logit."""

    name = "gradient-x-input"
    summary = "Gradient x input (Shrikumar et al. 2016): signed first-order pixel contributions."
    needs = "images"
    options = (
        Option("reference", float, 0.0, "flat reference grey level b in (x - b) * gradient", min=0.0, max=255.0),
        Option("batch_size", int, 64, "images per forward/backward pass", min=1),
        *mask_options(),
        *figure_options(),
    )
    map_title = "(x - {opts.reference:g}) * gradient"  # signed, under the key "attributions": the defaults

    def attribute(self, batch: Request) -> torch.Tensor:
        x = self.model.pixels(batch.images).requires_grad_(True)  # (B, C, H, W), 0-255
        logits = self.model(x)  # (B, classes)
        score = logits.gather(1, torch.as_tensor(batch.targets, device=logits.device).view(-1, 1)).sum()
        (grad,) = torch.autograd.grad(score, x)
        return ((x.detach() - self.opts.reference) * grad).sum(dim=1)  # (B, H, W), signed


@hookimpl
def register_explainers(register):
    register(GradientTimesInput)
