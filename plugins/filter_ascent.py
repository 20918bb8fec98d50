"""Filter visualisation by gradient ascent on the input.

Erhan, Bengio, Courville & Vincent, "Visualizing Higher-Layer Features of a Deep Network" (2009),
as in Keras's "How convolutional neural networks see the world" and the original report: start
from white noise ``uniform(0, 1) * 20 + 128`` (0-255 scale, seeded) or from a face, then repeat

    g = d mean_hw(A_f(x)) / dx;   x <- clip(step(x, g), 0, 255)

where A_f is filter f's activation map in the chosen layer (a conv or its ReLU). The step is
Adam's (``optimizer=adam``, the default: 40 steps of ``lr`` 4 grey levels), or the Keras recipe
the original report used (``optimizer=normalised``: ``x + step_size * g / (rms(g) + 1e-12)``, 100
steps). Measured on the shipped FER2013 model, for the report's two layers (conv2, relu2) from
noise and from a face, 32 filters each: 40 Adam steps reached a higher mean activation than 100
normalised steps in all four runs, no filter fell short by more than 5% of the largest, and the
ascent took about a third of the time; tests/explain/test_filter_ascent.py checks it. In the
normalised recipe the gradient is normalised per image as in the Keras examples; their epsilon
(1e-5) is lowered to 1e-12 because gradients per grey level (0-255 scale) are far smaller and
1e-5 would stall the ascent. All selected filters are optimised together as one batch: image i
only sees the loss of its own filter.
Optional regularisers: ``jitter`` (random roll of up to J pixels each step), ``blur`` (Gaussian
of sigma pixels every ``blur_every`` steps) and ``tv`` (total-variation penalty weight).

``precision=auto`` runs the ascent's forward and backward passes in bf16 (autocast) where the
hardware computes bf16 natively, and in fp32 elsewhere; the pixels, the step and the reported
activations stay fp32. The ascent only needs the gradient's direction, and on the shipped
FER2013 model bf16 reached the same activations (per filter within a few percent, the mean
equal) about 4x faster on an AMX CPU; tests/explain/test_filter_ascent.py checks it.

Example::

    ferviz explain --method filter-ascent --checkpoint seed.pt -p layer=features.relu2 \
        -p filters=0-31 --out out/filters
    ferviz explain --method filter-ascent --checkpoint seed.pt -p optimizer=normalised -p steps=100 --out out/keras

    >>> exp = run_explainer("filter-ascent", model, options={"filters": "8", "steps": "50"})
    >>> exp.arrays["activation_end"] > exp.arrays["activation_start"]
"""

from __future__ import annotations

import numpy as np
import torch

from ferviz.device import PRECISIONS, resolve_precision
from ferviz.errors import OptionError
from ferviz.explain import (Explainer, Explanation, Option, Request, capture_output, forward_to,
                            gaussian_blur)
from ferviz.explain.figures import image_grid
from ferviz.registry import hookimpl


#: How each step moves the pixels (the ``optimizer`` option).
OPTIMIZERS = ("adam", "normalised")


def parse_filters(spec: str, available: int) -> list[int]:
    """``"32"`` -> the first 32 (or all, when fewer); ``"0-7,12"`` -> [0..7, 12]; bounds checked."""
    spec = spec.strip()
    if spec.isdigit():
        count = int(spec)
        if count < 1:
            raise OptionError("filter-ascent: filters must select at least one filter")
        return list(range(min(count, available)))
    chosen: list[int] = []
    for part in spec.split(","):
        low, dash, high = part.strip().partition("-")
        try:
            first, last = int(low), int(high if dash else low)
        except ValueError:
            raise OptionError(f"filter-ascent: bad filters={spec!r}: give a count (32), a range (0-31) "
                              "or a list (1,5,9-12)") from None
        if not 0 <= first <= last < available:
            raise OptionError(f"filter-ascent: filters {part.strip()!r} out of range; the layer has "
                              f"filters 0-{available - 1}")
        chosen.extend(i for i in range(first, last + 1) if i not in chosen)
    return chosen


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between neighbouring pixels on the 0-1 scale, per image: (N,)."""
    x = x / 255.0
    dh = (x[..., 1:, :] - x[..., :-1, :]).abs().mean(dim=(1, 2, 3))
    dw = (x[..., :, 1:] - x[..., :, :-1]).abs().mean(dim=(1, 2, 3))
    return dh + dw


class FilterAscent(Explainer):
    """Images that maximise the mean activation of each selected filter of one layer."""

    name = "filter-ascent"
    summary = "What each filter responds to: gradient ascent on the input (Erhan et al. 2009)."
    needs = "model"
    needs_eager = True  # a forward hook on the chosen layer
    # how the report shows it (see Explainer.report_layout)
    report_layout, report_section, report_order = "filter-grids", "filters", 40
    report_title = "What do its filters respond to?"
    report_lead = ("Gradient ascent on the input (Erhan et al. 2009): for each of the first filters of a layer, the "
                   "image that maximises its mean activation, started from white noise and from a real face (the "
                   "first rightly predicted selected face). Titles: filter, final mean activation.")
    report_caption = "{layer}: {count} filters, {steps} ascent steps from {origin}"
    report_layers = ("features.conv2", "features.relu2")  # the layers the original report visualised

    @classmethod
    def report_cost(cls, opts, images: int, input_size: int) -> int:
        return max(1, opts.steps * len(parse_filters(opts.filters, 1 << 16)) * 6 // 5)  # a filter's step ~ 1.2 images

    options = (
        Option("layer", str, "auto", "layer name (ferviz models layers CKPT); auto = features.conv2 "
               "when the model has it, else its second convolution"),
        Option("filters", str, "32", "a count (the first N), a range 0-31 or a list 1,5,9-12"),
        Option("steps", int, 40, "gradient-ascent steps", min=1, max=100000),
        Option("optimizer", str, "adam", "adam: Adam steps of lr grey levels (40 reach the activations that 100 "
               "normalised steps reach); normalised: the Keras recipe the original report used, "
               "x += step_size * g / rms(g) (use it with steps=100)", choices=OPTIMIZERS),
        Option("lr", float, 4.0, "optimizer=adam: Adam's learning rate in grey levels", min=0.0),
        Option("step_size", float, 1.0, "optimizer=normalised: step in grey levels per unit of normalised gradient",
               min=0.0),
        Option("start", str, "noise", "noise (seeded) or image (the first given image)", choices=("noise", "image")),
        Option("jitter", int, 0, "random roll of up to this many pixels each step", min=0, max=16),
        Option("blur", float, 0.0, "Gaussian sigma in pixels applied every blur_every steps (0: off)",
               min=0.0, max=10.0),
        Option("blur_every", int, 4, "steps between blurs", min=1),
        Option("tv", float, 0.0, "weight of the total-variation penalty (mean |neighbour difference| on the "
               "0-1 scale) subtracted from the mean activation; 0: off", min=0.0),
        Option("precision", str, "auto", "auto: bf16 steps where the hardware computes bf16 natively, else fp32; "
               "activations are always measured in fp32", choices=PRECISIONS),
    )
    quick_options = {"filters": "4", "steps": 5}

    def check_model(self) -> None:
        self.layer_name = self._resolve_layer(self.opts.layer)
        self.layer = self.model.layer(self.layer_name)
        probe = torch.full((1, self.model.in_channels, self.model.input_size, self.model.input_size), 128.0,
                           device=self.model.device)
        with capture_output(self.layer, stop=True) as store, torch.no_grad():
            was_training = self.model.training
            self.model.eval()
            try:
                out = forward_to(self.model, probe, store)
            finally:
                self.model.train(was_training)
        if out is None:
            raise OptionError(f"filter-ascent: layer {self.layer_name!r} is never run by the model's forward pass")
        if not isinstance(out, torch.Tensor) or out.ndim != 4:
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise OptionError(f"filter-ascent: layer {self.layer_name!r} gives {shape}, not (N, C, H, W) "
                              "maps; choose a conv or ReLU layer")
        self.filters = parse_filters(self.opts.filters, out.shape[1])

    def _resolve_layer(self, name: str) -> str:
        layers = self.model.named_layers()
        if name != "auto":
            self.model.layer(name)  # UnknownNameError lists the layers
            return name
        if "features.conv2" in layers:
            return "features.conv2"
        convs = [n for n, m in layers.items() if isinstance(m, torch.nn.Conv2d)]
        if not convs:
            raise OptionError("filter-ascent: the model has no Conv2d layer; name one with -p layer=NAME")
        return convs[1] if len(convs) > 1 else convs[0]

    def _start(self, request: Request, count: int) -> torch.Tensor:
        c, s = self.model.in_channels, self.model.input_size
        if self.opts.start == "image":
            if request.images is None or not len(request.images):
                raise OptionError("filter-ascent: start=image needs an image (--image FILE or --data)")
            return self.model.pixels(request.images[:1]).expand(count, -1, -1, -1).clone()
        generator = torch.Generator().manual_seed(request.seed)
        return (torch.rand((count, c, s, s), generator=generator) * 20 + 128).to(self.model.device)

    def ascend(self, request: Request) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
        """(final pixels (F, C, H, W), start activations (F,), end activations (F,))."""
        o = self.opts
        index = torch.as_tensor(self.filters, device=self.model.device)
        rows = torch.arange(len(self.filters), device=self.model.device)
        x = self._start(request, len(self.filters))  # (F, C, H, W)
        rng = np.random.default_rng(request.seed)
        device = self.model.device
        bf16 = resolve_precision(o.precision, device) == "bf16"
        with capture_output(self.layer, stop=True) as store:  # layers after it are not run

            def activation(pixels: torch.Tensor, fast: bool = False) -> torch.Tensor:
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=fast):
                    maps = forward_to(self.model, pixels, store)  # (F, K, h, w)
                return maps[rows, index].float().mean(dim=(1, 2))  # (F,): each image's own filter

            with torch.no_grad():
                start = activation(x).float().cpu().numpy()
            x.requires_grad_(True)  # the one leaf that every step updates in place
            adam = torch.optim.Adam([x], lr=o.lr, maximize=True) if o.optimizer == "adam" else None
            for step in range(o.steps):
                shifted = x
                if o.jitter:
                    dy, dx = (int(v) for v in rng.integers(-o.jitter, o.jitter + 1, size=2))
                    shifted = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
                objective = activation(shifted, bf16).sum()
                if o.tv:
                    objective = objective - o.tv * total_variation(x).sum()
                (grad,) = torch.autograd.grad(objective, x)
                with torch.no_grad():
                    if adam is not None:
                        x.grad = grad
                        adam.step()
                    else:
                        x.add_(o.step_size * grad / (grad.pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt() + 1e-12))
                    x.clamp_(0, 255)
                    if o.blur and (step + 1) % o.blur_every == 0:
                        x.copy_(gaussian_blur(x, o.blur).clamp_(0, 255))
                request.report(step + 1, o.steps)
            with torch.no_grad():
                end = activation(x).float().cpu().numpy()
        return x.detach(), start, end

    def explain(self, request: Request) -> Explanation:
        o = self.opts
        x, start, end = self.ascend(request)
        images = x.float().cpu().numpy()
        images = images[:, 0] if images.shape[1] == 1 else images.mean(axis=1)  # (F, H, W)
        titles = [f"{f}: {a:.2f}" for f, a in zip(self.filters, end)]
        figure = image_grid(images, titles, suptitle=f"{self.layer_name}: {o.steps} {o.optimizer} steps from {o.start} "
                                                     "(title: filter, mean activation)")
        return Explanation(
            arrays={"images": images.astype(np.float32), "filters": np.asarray(self.filters, dtype=np.int64),
                    "activation_start": start.astype(np.float32), "activation_end": end.astype(np.float32)},
            figures={"filters": figure},
            summary={"layer": self.layer_name, "start": o.start, "steps": o.steps, "optimizer": o.optimizer,
                     "precision": resolve_precision(o.precision, self.model.device),
                     "raised": int((end > start).sum()), "count": len(self.filters),
                     "filters": [{"filter": f, "start": float(a), "end": float(b)}
                                 for f, a, b in zip(self.filters, start, end)]},
        )


@hookimpl
def register_explainers(register):
    register(FilterAscent)
