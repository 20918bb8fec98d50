"""Map explainers: one (N, H, W) attribution map per image, computed one batch at a time.

The one contract of a per-image attribution explainer. Subclass :class:`MapExplainer`, declare
how the map is drawn, and implement :meth:`~MapExplainer.attribute` for one batch::

    class GradientNorm(MapExplainer):
        name = "gradient-norm"
        summary = "L2 norm of the input gradient of the target score."
        needs = "images"
        options = (Option("batch_size", int, 64, "images per forward/backward pass", min=1),
                   *mask_options(), *figure_options())
        signed, map_title = False, "|d score / d pixel|"

        def attribute(self, batch):          # batch: a Request of at most batch_size images
            x = self.model.pixels(batch.images).requires_grad_(True)
            score = self.model(x).gather(1, torch.as_tensor(batch.targets, device=x.device).view(-1, 1)).sum()
            (grad,) = torch.autograd.grad(score, x)
            return grad.norm(dim=1)          # (B, H, W)

The base class supplies the rest, the same for every map explainer:

- batching: :meth:`~MapExplainer.compute` cuts the request into batches of ``batch_size``
  images (:meth:`~MapExplainer.batch_images`), in order, reports progress after each, and
  concatenates what `attribute` returns (tensors or arrays; floats become float32);
- the split into ``compute`` (per-image arrays) and ``render`` (figures, summary), so every map
  explainer runs spread over processes under torchrun (:mod:`ferviz.explain.parallel`);
- ``precision``: with a :func:`~ferviz.explain.precision_option`, compute runs in bf16 autocast
  when asked for (figures never do); an explainer whose ``bf16_scope`` is narrower lowers its own
  copy of the network instead (:meth:`~ferviz.explain.Explainer.bf16_copy`);
- the figures, arrays and summary of :func:`~ferviz.explain.attribution_explanation`, from the
  class attributes below;
- :meth:`~MapExplainer.maps`, the (N, H, W) maps alone, which ``ferviz assess`` and its metrics use.

`attribute` returns the batch's (B, H, W) map, or a dict of per-image arrays that holds the map
under ``map_key`` beside extras (integrated gradients' convergence deltas, Grad-CAM's layer-grid
maps), which are saved beside it. Work that every batch shares (a folded copy of the model, a
Captum object, a seeded noise generator) goes into :meth:`~MapExplainer.attributing`.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import ClassVar

import numpy as np
import torch

from ferviz.explain.attribution import attribution_explanation, describe_mask
from ferviz.explain.base import Explainer, Explanation, Request
from ferviz.explain.records import image_records
from ferviz.explain.torchtools import chunks, explaining

#: Images per `attribute` call of a map explainer that declares no ``batch_size`` option.
DEFAULT_BATCH = 64


class MapExplainer(Explainer):
    """Base class of per-image attribution explainers: implement `attribute(batch)`, declare the drawing.

    ``map_title`` and ``map_name`` are ``str.format``-ed with ``self`` and ``opts`` (the option
    values): ``"IG ({opts.baseline} baseline)"``. Override ``signed`` with a property where the
    options decide it. The mask panel follows the ``threshold`` option (declare one, e.g. with
    :func:`~ferviz.explain.mask_options`).
    """

    needs: ClassVar[str] = "images"
    #: The map's name among the arrays (``arrays.npz``); a dict from `attribute` holds it under this key.
    map_key: ClassVar[str] = "attributions"
    #: Whether the map has a sign (drawn in diverging colours around 0) or is a magnitude.
    signed: ClassVar[bool] = True
    #: Whether the mask keeps only pixels whose (smoothed) map is above zero too.
    positive_mask: ClassVar[bool] = True
    #: Title of the map panel.
    map_title: ClassVar[str] = "attribution"
    #: What the mask panel's title calls the map: ``face where <map_name> >= 0.5 max``.
    map_name: ClassVar[str] = "map"

    def attribute(self, batch: Request) -> np.ndarray | torch.Tensor | dict:
        """The (B, H, W) maps of one batch (at most `batch_images` images), or a dict of per-image
        arrays holding them under ``map_key``. Runs with the model in eval mode and frozen."""
        raise NotImplementedError(f"{type(self).__name__} must implement attribute(batch)")

    def attributing(self, request: Request) -> AbstractContextManager:
        """The context every batch of `request` runs in; set up here what the batches share.

        Override with a ``@contextmanager`` generator: build a folded copy of the model or a
        Captum object (as attributes of ``self``), seed a generator, then ``yield``.
        """
        return nullcontext()

    def batch_images(self) -> int:
        """Images per `attribute` call: the ``batch_size`` option (DEFAULT_BATCH without one)."""
        return getattr(self.opts, "batch_size", DEFAULT_BATCH)

    def compute(self, request: Request) -> dict[str, np.ndarray]:
        """Every batch's arrays, concatenated in image order (the map under ``map_key``), no figures."""
        parts = []
        total = len(request.images)
        with self.autocast(), self.attributing(request):
            for part in chunks(total, self.batch_images()):
                parts.append(self._arrays(self.attribute(request.subset(part))))
                request.report(part.stop, total)
        return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]} if parts else {}

    def maps(self, request: Request) -> np.ndarray:
        """The (N, H, W) float32 maps of `request` alone, with the model in eval mode and frozen as in `run`."""
        self.check(request)
        with explaining(self.model):
            return self.compute(request)[self.map_key]

    def render(self, request: Request, arrays: dict[str, np.ndarray]) -> Explanation:
        """The standard attribution Explanation (:func:`~ferviz.explain.attribution_explanation`)."""
        extra = {key: value for key, value in arrays.items() if key != self.map_key}
        return attribution_explanation(
            self, request, arrays[self.map_key], key=self.map_key, signed=self.signed, positive=self.positive_mask,
            map_title=self._format(self.map_title), mask_title=describe_mask(self.opts, self._format(self.map_name)),
            arrays=extra, summary=self.summarise(arrays), records=self.records(request, arrays))

    def records(self, request: Request, arrays: dict[str, np.ndarray]) -> list[dict]:
        """One record per image for the summary and the figure titles; override to add per-image values."""
        return image_records(self.model, request)

    def summarise(self, arrays: dict[str, np.ndarray]) -> dict:
        """Entries of the summary besides the per-image records (none by default)."""
        return {}

    def _format(self, text: str) -> str:
        return text.format(self=self, opts=self.opts)

    def _arrays(self, out) -> dict[str, np.ndarray]:
        out = out if isinstance(out, dict) else {self.map_key: out}
        if self.map_key not in out:
            raise TypeError(f"{type(self).__name__}.attribute returned {', '.join(out)}, not its map {self.map_key!r}")
        return {key: _numpy(value) for key, value in out.items()}


def _numpy(value) -> np.ndarray:
    """A batch's tensor or array as numpy on the CPU; floats as float32."""
    if isinstance(value, torch.Tensor):
        value = value.detach()
        value = (value.float() if value.is_floating_point() else value).cpu().numpy()
    value = np.asarray(value)
    return value.astype(np.float32, copy=False) if value.dtype.kind == "f" else value
