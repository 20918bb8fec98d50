"""SmoothGrad, through Captum's ``NoiseTunnel`` over saliency or integrated gradients.

Smilkov, Thorat, Kim, Viegas & Wattenberg, "SmoothGrad: removing noise by adding noise" (2017):

    M(x) = 1/n sum_{k=1..n} A(x + e_k),    e_k ~ N(0, stdev^2)

for a base attribution A: ``saliency`` (|d S_t / d x|, Captum ``Saliency``) or
``integrated-gradients`` (Captum ``IntegratedGradients`` from a flat baseline). ``stdev`` is in
grey levels on the 0-255 scale: the paper's useful range, 10-20 % of the input range, is 25-50;
the default 38 is 15 %. ``noise_type=smoothgrad_sq`` averages squared attributions and
``vargrad`` takes their variance (Adebayo et al. 2018). Noise is drawn from a generator seeded
by the request's seed, so a run is reproducible (for the same ``batch_size``).

Cost: ``samples`` backward passes per image (times ``steps`` with integrated gradients).

Example::

    ferviz explain --method smoothgrad --checkpoint seed.pt --data synthetic --per-class 2 \
        -p samples=32 -p stdev=25 --out out/smoothgrad
    ferviz explain --method smoothgrad ... -p base=integrated-gradients -p steps=16

    >>> exp = run_explainer("smoothgrad", model, images=faces, options={"samples": "16"})
    >>> exp.arrays["attributions"].shape     # (N, 48, 48) float32
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import torch
from captum.attr import IntegratedGradients, NoiseTunnel, Saliency

from ferviz.explain import (Explainer, Explanation, Option, Request, attribution_explanation, chunks, figure_options,
                            folded, in_precision, precision_option)
from ferviz.registry import hookimpl

BASES = ("saliency", "integrated-gradients")
NOISE_TYPES = ("smoothgrad", "smoothgrad_sq", "vargrad")


@contextmanager
def seeded(seed: int, device: torch.device):
    """Torch's global generators (CPU, and `device`'s when CUDA) seeded, restored afterwards."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


class SmoothGrad(Explainer):
    """The average attribution over noisy copies of each face (saliency or integrated gradients)."""

    name = "smoothgrad"
    summary = "SmoothGrad (Smilkov et al. 2017): Captum NoiseTunnel over saliency or integrated gradients."
    needs = "images"

    # the report: a generic section (Explainer.report_layout); what one run costs
    @classmethod
    def report_cost(cls, opts, images: int, input_size: int) -> int:
        return 3 * images * opts.samples * (opts.steps if opts.base == "integrated-gradients" else 1)

    options = (
        Option("base", str, "saliency", "attribution averaged over the noisy copies", choices=BASES),
        Option("samples", int, 20, "noisy copies per image", min=1, max=10000),
        Option("stdev", float, 38.0, "noise standard deviation in grey levels (0-255 scale)", min=0.0, max=255.0),
        Option("noise_type", str, "smoothgrad", "mean (smoothgrad), mean of squares, or variance (vargrad)",
               choices=NOISE_TYPES),
        Option("steps", int, 16, "integration steps per noisy copy (base=integrated-gradients)", min=2, max=10000),
        Option("batch_size", int, 128, "noisy images per forward/backward pass (inputs x samples, or x steps)",
               min=1),
        precision_option(),
        Option("threshold", float, 0.5, "mask keeps pixels whose map is >= threshold x the maximum",
               min=0.0, max=1.0),
        *figure_options(),
    )
    quick_options = {"samples": 3, "steps": 4}

    @in_precision
    def attribute(self, request: Request) -> np.ndarray:
        """(N, H, W) float32: saliency-based maps are max |.| over channels, IG-based summed over channels."""
        o = self.opts
        fast = folded(self.model)  # BatchNorm folded: same maps, less work
        base = Saliency(fast) if o.base == "saliency" else IntegratedGradients(fast)
        tunnel = NoiseTunnel(base)
        extra = ({"abs": True} if o.base == "saliency"
                 else {"n_steps": o.steps, "baselines": 0.0, "internal_batch_size": o.batch_size})
        targets = torch.as_tensor(request.targets, dtype=torch.int64)
        per_call = max(1, o.batch_size // o.samples)  # images per Captum call
        maps = []
        with seeded(request.seed, self.model.device):
            for part in chunks(len(request.images), per_call):
                x = self.model.pixels(request.images[part])  # (B, C, H, W), 0-255
                attr = tunnel.attribute(x, nt_type=o.noise_type, nt_samples=o.samples,
                                        nt_samples_batch_size=min(o.samples, o.batch_size), stdevs=float(o.stdev),
                                        target=targets[part].to(x.device), **extra).detach().float()
                maps.append((attr.abs().amax(dim=1) if o.base == "saliency" else attr.sum(dim=1)).cpu())
                request.report(part.stop, len(request.images))
        return torch.cat(maps).numpy().astype(np.float32)

    def explain(self, request: Request) -> Explanation:
        o = self.opts
        signed = o.base == "integrated-gradients" and o.noise_type == "smoothgrad"
        return attribution_explanation(
            self, request, self.attribute(request), signed=signed,
            map_title=f"{o.noise_type} over {o.base} ({o.samples}x, sd {o.stdev:g})",
            summary={"base": o.base, "noise_type": o.noise_type})


@hookimpl
def register_explainers(register):
    register(SmoothGrad)
