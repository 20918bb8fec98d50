"""Occlusion, through Captum's ``Occlusion``.

Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks" (ECCV 2014). A square
patch slides over the face with a stride; each position is replaced by a baseline and the drop
in the target logit is credited to the patch's pixels, averaged over the windows that cover a
pixel:

    O_ij = mean_{windows W containing ij} [ S_t(x) - S_t(x with W set to the baseline) ]

Positive values: hiding the pixel lowers the class score (evidence for it). The baseline is the
image's own mean grey (default), black, or a Gaussian-blurred copy of the face. ``stride`` must
tile the face: (input size - patch) divisible by it, so that no border row is left out.

Cost: one forward pass per window position and image, ((48 - patch) / stride + 1)^2 of them:
121 for the default 8/4 (a patch about the size of an eye or half a mouth), batched
``batch_size`` at a time. No gradients are needed, so the map measures what hiding a region
does to this model, not a local linearisation.

Example::

    ferviz explain --method occlusion --checkpoint seed.pt --data synthetic --per-class 2 \
        -p patch=6 -p stride=3 --out out/occlusion

    >>> exp = run_explainer("occlusion", model, images=faces, options={"patch": "12", "stride": "6"})
    >>> exp.arrays["attributions"].shape     # (N, 48, 48) float32
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import torch
from captum.attr import Occlusion as CaptumOcclusion

from ferviz.errors import OptionError
from ferviz.explain import MapExplainer, Option, Request, figure_options, folded, gaussian_blur, precision_option
from ferviz.registry import hookimpl

BASELINES = ("mean", "black", "blurred")


class Occlusion(MapExplainer):
    """The drop of the target logit when a sliding patch of the face is hidden."""

    name = "occlusion"
    summary = "Occlusion (Zeiler & Fergus 2014) via Captum: logit drop when a sliding patch is hidden."
    needs = "images"
    map_title, map_name = "occlusion {opts.patch}px / {opts.stride} ({opts.baseline})", "drop"

    # the report: a generic section (Explainer.report_layout); what one run costs
    @classmethod
    def report_cost(cls, opts, images: int, input_size: int) -> int:
        side = max(0, input_size - opts.patch) // opts.stride + 1
        return images * (side * side + 1)  # a forward pass per patch position, and the unhidden face

    options = (
        Option("patch", int, 8, "side of the square patch in pixels", min=1),
        Option("stride", int, 4, "step between patch positions in pixels", min=1),
        Option("baseline", str, "mean", "what hides a patch: the image's mean grey, black, or a blurred copy",
               choices=BASELINES),
        Option("blur_sigma", float, 5.0, "Gaussian sigma in pixels for baseline=blurred", min=0.1, max=100.0),
        Option("batch_size", int, 256, "occluded images per forward pass", min=1),
        precision_option(),
        Option("threshold", float, 0.5, "mask keeps pixels whose map is >= threshold x the maximum",
               min=0.0, max=1.0),
        *figure_options(),
    )
    quick_options = {"patch": 16, "stride": 8}  # tiles inputs of 48, 56, 64, 96, 112, 128... pixels

    def check_model(self) -> None:
        size, patch, stride = self.model.input_size, self.opts.patch, self.opts.stride
        if patch > size:
            raise OptionError(f"occlusion: patch={patch} is larger than the {size}x{size} input")
        if (size - patch) % stride:
            fits = [s for s in range(1, size - patch + 1) if (size - patch) % s == 0] or [1]
            raise OptionError(f"occlusion: stride={stride} does not tile a {size}-pixel input with patch={patch} "
                              f"(the last {(size - patch) % stride} rows and columns would never be hidden); "
                              f"strides that fit: {', '.join(map(str, fits))}")

    def baseline(self, x: torch.Tensor) -> torch.Tensor:
        """What replaces a hidden patch, broadcastable to `x` (B, C, H, W)."""
        if self.opts.baseline == "mean":
            return x.mean(dim=(1, 2, 3), keepdim=True)
        if self.opts.baseline == "black":
            return torch.zeros_like(x[:, :, :1, :1])
        return gaussian_blur(x, self.opts.blur_sigma)

    def batch_images(self) -> int:
        return max(1, min(64, self.opts.batch_size))  # images per Captum call

    @contextmanager
    def attributing(self, request: Request):
        self.occlusion = CaptumOcclusion(folded(self.model))  # BatchNorm folded: same maps, less work
        yield

    def attribute(self, batch: Request) -> torch.Tensor:
        """(B, H, W), summed over channels."""
        o = self.opts
        c = self.model.in_channels
        positions = ((self.model.input_size - o.patch) // o.stride + 1) ** 2
        x = self.model.pixels(batch.images)  # (B, C, H, W), 0-255
        attr = self.occlusion.attribute(
            x, sliding_window_shapes=(c, o.patch, o.patch), strides=(c, o.stride, o.stride),
            baselines=self.baseline(x), target=torch.as_tensor(batch.targets, dtype=torch.int64).to(x.device),
            perturbations_per_eval=max(1, min(positions, o.batch_size // len(x))))
        return attr.detach().sum(dim=1)

    def summarise(self, arrays: dict[str, np.ndarray]) -> dict:
        return {"patch": self.opts.patch, "stride": self.opts.stride, "baseline": self.opts.baseline}


@hookimpl
def register_explainers(register):
    register(Occlusion)
