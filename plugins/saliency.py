"""Vanilla saliency: the absolute gradient of the target class score with respect to the pixels.

Simonyan, Vedaldi & Zisserman, "Deep Inside Convolutional Networks: Visualising Image
Classification Models and Saliency Maps" (2014):

    M(x)_ij = max_c | d S_t(x) / d x_cij |

where S_t is the target class's logit (before softmax) and x the input pixels (0-255 scale, so
the map is in logit units per grey level). As in the original report, the figure shows the face,
the map, and the face kept where the map is high, greyed out elsewhere. The report's mask
("saliency >= 0.7 of the maximum") keeps a handful of isolated pixels on a real face, because a
raw gradient map is spiky; by default the mask here blurs the map (sigma 2 px), standardises it
as Keras-era saliency code did (0.5 + 0.1 z, clipped to [0, 1]) and keeps it at 0.7 and above, a
region two standard deviations above the face's mean. ``-p mask=max -p smooth=0`` gives the
report's rule exactly. The saved map is never smoothed.

Example::

    ferviz explain --method saliency --checkpoint seed.pt --data synthetic --per-class 2 \
        -p threshold=0.7 -p mask=zscore --out out/saliency

    >>> exp = run_explainer("saliency", model, images=faces)
    >>> exp.arrays["saliency"].shape      # (N, 48, 48) float32
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import torch

from ferviz.explain import MapExplainer, Option, Request, figure_options, folded, mask_options, precision_option
from ferviz.registry import hookimpl


def input_gradients(model, pixels: torch.Tensor, targets: np.ndarray) -> torch.Tensor:
    """d logit[target] / d pixels of one batch, (B, C, H, W)."""
    x = pixels.requires_grad_(True)
    logits = model(x)  # (B, classes)
    score = logits.gather(1, torch.as_tensor(targets, dtype=torch.int64).to(logits.device).view(-1, 1)).sum()
    (grad,) = torch.autograd.grad(score, x)
    return grad


class Saliency(MapExplainer):
    """|d score / d pixel|, max over channels, with a thresholded mask over the face."""

    name = "saliency"
    summary = "Vanilla gradient saliency |d score / d pixel| (Simonyan et al. 2014), heatmap and mask."
    needs = "images"
    map_key, signed, positive_mask = "saliency", False, False
    map_title, map_name = "|d score / d pixel|", "saliency"
    bf16_scope = "backward"  # a bf16 forward reroutes the gradient; the backward alone keeps the map
    # how the report shows it (see Explainer.report_layout)
    report_layout, report_section, report_order = "attributions", "saliency", 20
    report_title = "Where does it look? Saliency"
    report_lead = ("Vanilla saliency (Simonyan et al. 2014): |d score / d pixel| of the predicted class's logit, as a "
                   "heat map and as a mask over the face (the {mask_rule}; the rest greyed out).")
    report_caption = "face, |d score / d pixel| and the face where saliency is high"
    options = (
        *mask_options(0.7, "zscore", 2.0),
        *figure_options(),
        Option("batch_size", int, 32, "images per forward/backward pass", min=1),
        precision_option(bf16_scope),
    )

    @contextmanager
    def attributing(self, request: Request):
        self.fast = self.bf16_copy(folded(self.model, inplace_relu=True))  # BatchNorm folded, channels-last: same maps, less work
        yield

    def attribute(self, batch: Request) -> torch.Tensor:
        """(B, H, W) saliency maps."""
        grad = input_gradients(self.fast, self.fast.pixels(batch.images), batch.targets)
        return grad.detach().float().cpu().abs().amax(dim=1)


@hookimpl
def register_explainers(register):
    register(Saliency)
