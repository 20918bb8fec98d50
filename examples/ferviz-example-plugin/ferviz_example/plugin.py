"""Gradient x input: a ferviz explainer in one small module.

Shrikumar, Greenside, Shcherbina & Kundaje, "Not Just a Black Box: Learning Important Features
Through Propagating Activation Differences" (2016):

    A_ij = sum_c (x_cij - b) * d S_t(x) / d x_cij

for the target logit S_t, pixels x on the 0-255 scale and a flat reference level b (option
``reference``, default 0 = black). For a linear model this is exactly each pixel's contribution
to S_t(x) - S_t(b); for a ReLU network it is the first-order Taylor term.

Example::

    ferviz explain --method gradient-x-input --checkpoint seed.pt --image face.png \
        -p reference=128 --out out/gxi
"""

from __future__ import annotations

import numpy as np
import torch

from ferviz.explain import (Explainer, Explanation, Option, Request, chunks, display_images,
                            image_records, record_title)
from ferviz.explain.figures import attribution_grid
from ferviz.registry import hookimpl


class GradientTimesInput(Explainer):
    """Signed per-pixel contributions (x - reference) * gradient of the target logit."""

    name = "gradient-x-input"
    summary = "Gradient x input (Shrikumar et al. 2016): signed first-order pixel contributions."
    needs = "images"
    options = (
        Option("reference", float, 0.0, "flat reference grey level b in (x - b) * gradient", min=0.0, max=255.0),
        Option("batch_size", int, 64, "images per forward/backward pass", min=1),
    )

    def explain(self, request: Request) -> Explanation:
        maps = []
        targets = torch.as_tensor(request.targets)
        for part in chunks(len(request.images), self.opts.batch_size):
            x = self.model.pixels(request.images[part]).requires_grad_(True)  # (B, C, H, W), 0-255
            logits = self.model(x)
            score = logits.gather(1, targets[part].to(logits.device).view(-1, 1)).sum()
            (grad,) = torch.autograd.grad(score, x)
            maps.append(((x.detach() - self.opts.reference) * grad).sum(dim=1).cpu())
        attributions = torch.cat(maps).numpy().astype(np.float32)  # (N, H, W) signed
        faces = display_images(self.model, request.images)
        masked = np.where(attributions > 0, faces, 0).astype(np.uint8)
        records = image_records(self.model, request)
        figure = attribution_grid(faces, attributions, masked, [record_title(r) for r in records],
                                  map_title="(x - b) * gradient", mask_title="positive evidence", signed=True)
        return Explanation(arrays={"attributions": attributions, "images": faces, "targets": request.targets},
                           figures={"gradient-x-input": figure},
                           summary={"images": records})


@hookimpl
def register_explainers(register):
    register(GradientTimesInput)
