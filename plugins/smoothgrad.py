"""SmoothGrad, through Captum's ``NoiseTunnel`` over saliency or integrated gradients.

Smilkov, Thorat, Kim, Viegas & Wattenberg, "SmoothGrad: removing noise by adding noise" (2017):

    M(x) = 1/n sum_{k=1..n} A(x + e_k),    e_k ~ N(0, stdev^2)

for a base attribution A: ``saliency`` (|d S_t / d x|, Captum ``Saliency``) or
``integrated-gradients`` (Captum ``IntegratedGradients`` from a flat baseline). ``stdev`` is in
grey levels on the 0-255 scale: the paper's useful range, 10-20 % of the input range, is 25-50;
the default 38 is 15 %. ``noise_type=smoothgrad_sq`` averages squared attributions and
``vargrad`` takes their variance (Adebayo et al. 2018). Noise is drawn from a generator seeded
by the request's seed, so a run is reproducible (for the same ``batch_size`` and, under
torchrun, the same number of processes: each process draws its own share's noise).

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

from ferviz.explain import MapExplainer, Option, Request, figure_options, folded, precision_option
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


class SmoothGrad(MapExplainer):
    """The average attribution over noisy copies of each face (saliency or integrated gradients)."""

    name = "smoothgrad"
    summary = "SmoothGrad (Smilkov et al. 2017): Captum NoiseTunnel over saliency or integrated gradients."
    needs = "images"
    map_title = "{opts.noise_type} over {opts.base} ({opts.samples}x, sd {opts.stdev:g})"

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

    @property
    def signed(self) -> bool:
        return self.opts.base == "integrated-gradients" and self.opts.noise_type == "smoothgrad"

    def batch_images(self) -> int:
        return max(1, self.opts.batch_size // self.opts.samples)  # images per Captum call

    @contextmanager
    def attributing(self, request: Request):
        fast = folded(self.model)  # BatchNorm folded: same maps, less work
        self.tunnel = NoiseTunnel(Saliency(fast) if self.opts.base == "saliency" else IntegratedGradients(fast))
        with seeded(request.seed, self.model.device):  # one noise stream over all the batches
            yield

    def attribute(self, batch: Request) -> torch.Tensor:
        """(B, H, W): saliency-based maps are max |.| over channels, IG-based summed over channels."""
        o = self.opts
        extra = ({"abs": True} if o.base == "saliency"
                 else {"n_steps": o.steps, "baselines": 0.0, "internal_batch_size": o.batch_size})
        x = self.model.pixels(batch.images)  # (B, C, H, W), 0-255
        attr = self.tunnel.attribute(x, nt_type=o.noise_type, nt_samples=o.samples,
                                     nt_samples_batch_size=min(o.samples, o.batch_size), stdevs=float(o.stdev),
                                     target=torch.as_tensor(batch.targets, dtype=torch.int64).to(x.device),
                                     **extra).detach().float()
        return attr.abs().amax(dim=1) if o.base == "saliency" else attr.sum(dim=1)

    def summarise(self, arrays: dict[str, np.ndarray]) -> dict:
        return {"base": self.opts.base, "noise_type": self.opts.noise_type}


@hookimpl
def register_explainers(register):
    register(SmoothGrad)
