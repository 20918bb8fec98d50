"""Grad-CAM and Guided Grad-CAM, through Captum's ``LayerGradCam`` and ``GuidedGradCam``.

Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based
Localization" (ICCV 2017). For the activations A (K, h, w) of one convolutional layer:

    alpha_k = mean_ij d S_t / d A_kij          L = ReLU(sum_k alpha_k A_k)       (h, w)

where S_t is the target class's logit. L is upsampled to the input size with Captum's
``LayerAttribution.interpolate`` (bilinear by default). The layer is named with ``-p layer=NAME``
(``ferviz models layers CKPT`` lists them); ``auto`` takes the last ``Conv2d`` the forward pass
runs: ``features.conv6`` (8x8) on the seed VGG. For a residual network the last conv may sit on a
skip branch; name the block instead (``-p layer=features.block3``).

Guided Grad-CAM multiplies guided backpropagation (see ``guided-backprop``) by the upsampled
Grad-CAM map: the fine detail of the one with the class selectivity of the other.

Example::

    ferviz explain --method grad-cam --checkpoint seed.pt --data synthetic --per-class 2 \
        -p layer=features.conv4 --out out/gradcam

    >>> exp = run_explainer("grad-cam", model, images=faces)
    >>> exp.arrays["attributions"].shape, exp.arrays["cam"].shape    # (N, 48, 48), (N, 8, 8)
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import torch
from captum.attr import GuidedGradCam as CaptumGuidedGradCam
from captum.attr import LayerAttribution, LayerGradCam
from torch import nn

from ferviz.model import layer_outputs
from ferviz.errors import OptionError
from ferviz.explain import MapExplainer, Option, Request, figure_options
from ferviz.plugins.guided_backprop import quiet_relu_hooks
from ferviz.registry import hookimpl

UPSAMPLING = ("bilinear", "nearest", "bicubic")


def resolve_conv_layer(model, name: str, owner: str) -> tuple[str, tuple[int, ...]]:
    """The layer to take activations from: `name`, or for ``auto`` the last Conv2d run.

    Raises OptionError when the layer is never run or does not give (N, K, h, w) maps.
    """
    outputs = layer_outputs(model)
    if name == "auto":
        convs = [(n, s) for n, s in outputs if isinstance(model.layer(n), nn.Conv2d) and len(s) == 4]
        if not convs:
            raise OptionError(f"{owner}: the model has no Conv2d layer; name a layer with -p layer=NAME")
        return convs[-1]
    model.layer(name)  # UnknownNameError lists the layers
    shape = dict(outputs).get(name)
    if shape is None:
        raise OptionError(f"{owner}: layer {name!r} is never run by the model's forward pass")
    if len(shape) != 4:
        raise OptionError(f"{owner}: layer {name!r} gives {shape}, not (N, K, h, w) maps; choose a conv layer "
                          "or a block that ends in one")
    return name, shape


class _LayerExplainer(MapExplainer):
    """Shared by Grad-CAM and Guided Grad-CAM: layer resolution, and the layer in the summary."""

    needs_eager = True  # forward hooks on a named layer (and ReLU hooks for the guided one)
    map_name = "{self.name}"

    def check_model(self) -> None:
        self.layer_name, self.layer_shape = resolve_conv_layer(self.model, self.opts.layer, self.name)
        self.layer = self.model.layer(self.layer_name)

    def summarise(self, arrays: dict[str, np.ndarray]) -> dict:
        return {"layer": self.layer_name, "layer_shape": list(self.layer_shape[1:])}


def _layer_options(default_threshold: float) -> tuple[Option, ...]:
    return (
        Option("layer", str, "auto", "conv layer (or block) whose activations are weighted; auto = the last "
               "Conv2d the forward pass runs (ferviz models layers CKPT lists them)"),
        Option("upsample", str, "bilinear", "interpolation from the layer's grid to the input",
               choices=UPSAMPLING),
        Option("batch_size", int, 64, "images per forward/backward pass", min=1),
        Option("threshold", float, default_threshold, "mask keeps pixels whose map is >= threshold x the maximum",
               min=0.0, max=1.0),
        *figure_options(),
    )


class GradCam(_LayerExplainer):
    """Class-discriminative localisation from one conv layer's gradient-weighted activations."""

    name = "grad-cam"
    summary = "Grad-CAM (Selvaraju et al. 2017) on a conv layer via Captum, upsampled to the input."
    needs = "images"
    map_title = "Grad-CAM @ {self.layer_name}"
    options = _layer_options(0.5) + (
        Option("relu", bool, True, "keep only positive evidence (the paper's ReLU); false shows signed maps"),
    )

    @property
    def signed(self) -> bool:
        return not self.opts.relu

    @contextmanager
    def attributing(self, request: Request):
        self.gradcam = LayerGradCam(self.model, self.layer)
        yield

    def attribute(self, batch: Request) -> dict[str, torch.Tensor]:
        """Maps (B, H, W) upsampled to the input, and the cams (B, h, w) at the layer's grid."""
        size = (self.model.input_size, self.model.input_size)
        x = self.model.pixels(batch.images)  # (B, C, H, W), 0-255
        cam = self.gradcam.attribute(x, target=torch.as_tensor(batch.targets, dtype=torch.int64).to(x.device),
                                     relu_attributions=self.opts.relu)
        up = LayerAttribution.interpolate(cam, size, interpolate_mode=self.opts.upsample)  # (B, 1, H, W)
        if self.opts.relu:
            up = up.clamp(min=0)  # bicubic overshoots below zero
        return {"attributions": up.detach()[:, 0], "cam": cam.detach()[:, 0]}


class GuidedGradCam(_LayerExplainer):
    """Guided backpropagation times the upsampled Grad-CAM map (Captum ``GuidedGradCam``)."""

    name = "guided-grad-cam"
    summary = "Guided Grad-CAM (Selvaraju et al. 2017): guided backprop x upsampled Grad-CAM, via Captum."
    needs = "images"
    map_title = "guided Grad-CAM @ {self.layer_name}"
    options = _layer_options(0.3)

    @contextmanager
    def attributing(self, request: Request):
        self.guided = CaptumGuidedGradCam(self.model, self.layer)
        yield

    def attribute(self, batch: Request) -> torch.Tensor:
        """(B, H, W) maps summed over channels."""
        x = self.model.pixels(batch.images).requires_grad_(True)
        with quiet_relu_hooks():
            attr = self.guided.attribute(x, target=torch.as_tensor(batch.targets, dtype=torch.int64).to(x.device),
                                         interpolate_mode=self.opts.upsample)
        return attr.detach().sum(dim=1)


@hookimpl
def register_explainers(register):
    register(GradCam)
    register(GuidedGradCam)
