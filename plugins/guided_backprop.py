"""Guided backpropagation, through Captum's ``GuidedBackprop``.

Springenberg, Dosovitskiy, Brox & Riedmiller, "Striving for Simplicity: The All Convolutional
Net" (ICLR 2015 workshop). The input gradient of the target logit S_t, except that every ReLU
passes back only positive gradients, and only where its input was positive:

    R_l = 1[A_l > 0] * 1[R_{l+1} > 0] * R_{l+1}

Captum hooks every ``nn.ReLU`` module (the loaded models use non-inplace ReLU modules, as it
requires); a functional ``torch.relu`` inside a third-party network is not guided, and a
TorchScript or torch.export network is refused (its ReLUs are compiled code, so the map would be
plain gradients). The map is
signed (summed over channels), on the 0-255 pixel scale like saliency. Adebayo et al. (2018)
found guided backpropagation nearly insensitive to the model's weights: ``ferviz assess``
with the ``model-randomisation`` metric checks that on your checkpoint.

Example::

    ferviz explain --method guided-backprop --checkpoint seed.pt --data synthetic --per-class 2 \
        --out out/guided

    >>> exp = run_explainer("guided-backprop", model, images=faces)
    >>> exp.arrays["attributions"].shape     # (N, 48, 48) float32
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager

import torch
from captum.attr import GuidedBackprop as CaptumGuidedBackprop

from ferviz.explain import MapExplainer, Option, Request, figure_options, folded, precision_option
from ferviz.registry import hookimpl


@contextmanager
def quiet_relu_hooks():
    """Silence Captum's per-call notice that it hooks the ReLUs (it removes the hooks itself)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU", category=UserWarning)
        yield


class GuidedBackprop(MapExplainer):
    """The input gradient with only positive signals passed back through each ReLU."""

    name = "guided-backprop"
    summary = "Guided backpropagation (Springenberg et al. 2015) via Captum; signed, fine-grained map."
    needs = "images"
    map_title = "guided backprop"
    needs_eager = True  # backward hooks on the nn.ReLU modules; compiled code has none to hook
    options = (
        Option("batch_size", int, 64, "images per forward/backward pass", min=1),
        precision_option(),
        Option("threshold", float, 0.3, "mask keeps pixels whose map is >= threshold x the maximum",
               min=0.0, max=1.0),
        *figure_options(),
    )

    @contextmanager
    def attributing(self, request: Request):
        self.guided = CaptumGuidedBackprop(folded(self.model))  # BatchNorm folded: same maps, less work
        yield

    def attribute(self, batch: Request) -> torch.Tensor:
        """(B, H, W) maps summed over channels."""
        x = self.model.pixels(batch.images).requires_grad_(True)  # (B, C, H, W), 0-255
        with quiet_relu_hooks():
            attr = self.guided.attribute(x, target=torch.as_tensor(batch.targets, dtype=torch.int64).to(x.device))
        return attr.detach().sum(dim=1)


@hookimpl
def register_explainers(register):
    register(GuidedBackprop)
