"""The standard options, mask and figures of a per-image attribution map.

An attribution explainer declares ``*mask_options()`` (the mask panel's ``threshold``, ``mask``
rule and ``smooth`` blur), ``*figure_options()`` (``style``, ``opacity``, ``cmap``) and, where a
test shows its bf16 maps keep the fp32 ones, ``precision_option()``; :func:`attribution_explanation`
turns its (N, H, W) maps into the standard :class:`~ferviz.explain.Explanation` (arrays, one figure
page per 8 faces, one record per image). :class:`~ferviz.explain.MapExplainer` calls it for
every map explainer; an explainer with its own ``explain`` may call it too.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch

from ferviz.device import PRECISIONS
from ferviz.errors import OptionError
from ferviz.explain.base import Explanation, Request
from ferviz.explain.records import display_images, image_records, record_title
from ferviz.explain.torchtools import gaussian_blur
from ferviz.options import Option

if TYPE_CHECKING:
    from ferviz.explain.base import Explainer

#: Mask rules of attribution figures. "zscore" (the Keras-era saliency recipe): standardise the
#: (smoothed) map, v = clip(0.5 + 0.1 z, 0, 1), keep v >= threshold (0.7: two standard deviations
#: above the face's mean), which keeps a region on a spiky gradient map; "max": keep
#: map >= threshold x the maximum.
MASK_RULES = ("zscore", "max")
GREY_OUT = 0.25  # contrast kept outside the mask: the face stays visible, greyed out


def mask_options(threshold: float = 0.7, rule: str = "zscore", smooth: float = 2.0) -> tuple[Option, ...]:
    """The `threshold`, `mask` and `smooth` options of an attribution explainer's mask panel."""
    return (
        Option("threshold", float, threshold, "mask threshold: on 0.5 + 0.1 z (mask=zscore) or as a share of "
               "the maximum (mask=max)", min=0.0, max=1.0),
        Option("mask", str, rule, "zscore: keep pixels whose standardised map 0.5 + 0.1 z reaches the "
               "threshold; max: keep pixels at or above threshold x the maximum", choices=MASK_RULES),
        Option("smooth", float, smooth, "Gaussian blur (sigma, pixels) of the map before thresholding; "
               "the mask only, never the saved map", min=0.0, max=16.0),
    )


def in_precision(method: Callable) -> Callable:
    """Decorate an explainer's map computation (``attribute``) to run in its ``precision`` option."""

    @functools.wraps(method)
    def wrapped(self, *args, **kwargs):
        with self.autocast():
            return method(self, *args, **kwargs)
    return wrapped


#: What ``precision=bf16`` means, by the explainer's ``bf16_scope`` (:mod:`ferviz.explain.precision`).
BF16_HELP = {
    "all": "bf16: the forward and backward passes in bf16 autocast",
    "past-input": "bf16: the forward and backward passes in bf16 autocast, except the first layer, which reads the "
                  "pixels in fp32",
    "backward": "bf16: the forward pass in fp32, the input gradients of the conv and linear layers in bf16",
}


def precision_option(scope: str = "all") -> Option:
    """The ``precision`` option of a map explainer whose ``bf16_scope`` is `scope`: fp32 by default.

    tests/explain/test_bf16.py checks every explainer that offers it: on the shipped FER2013 model
    its bf16 maps match its fp32 maps (Spearman >= 0.99 per face, top-10% pixels overlapping >= 0.9).
    """
    return Option("precision", str, "fp32", f"fp32: the reference arithmetic; {BF16_HELP[scope]} (faster where the "
                  "hardware computes bf16 natively; maps checked against fp32 in the tests); auto: bf16 where "
                  "native, else fp32", choices=PRECISIONS)


def figure_options(opacity: float = 0.5) -> tuple[Option, ...]:
    """The `style`, `opacity` and `cmap` options of an attribution explainer's figures."""
    from ferviz.explain.figures import COLOUR_MAPS, STYLES

    return (
        Option("style", str, "overlay", "overlay: the map blended over the face, mask outlined; panels: the "
               "face, the raw map and the masked face side by side", choices=STYLES),
        Option("opacity", float, opacity, "overlay: how strongly the map covers the face (0: not at all)",
               min=0.0, max=1.0),
        Option("cmap", str, "auto", "overlay colour map; auto: diverging RdBu_r around 0 for signed maps, "
               "sequential inferno for unsigned ones", choices=COLOUR_MAPS),
    )


def region_mask(maps: np.ndarray, threshold: float, *, rule: str = "max", smooth: float = 0.0,
                positive: bool = False) -> np.ndarray:
    """(N, H, W) bool: where each map is high, by `rule` (see MASK_RULES), after a `smooth` blur.

    `positive` also requires the (smoothed) map to be above zero (signed maps): a signed map
    alternates sign pixel by pixel, so the raw sign would break the region up again.
    """
    if rule not in MASK_RULES:
        raise OptionError(f"mask rule must be one of {', '.join(MASK_RULES)}, got {rule!r}")
    m = torch.as_tensor(maps, dtype=torch.float32).unsqueeze(1)
    m = gaussian_blur(m, smooth)[:, 0].numpy() if smooth > 0 else maps.astype(np.float32)
    flat = m.reshape(len(m), -1)
    if rule == "max":
        mask = m >= threshold * flat.max(axis=1).reshape(-1, 1, 1)
    else:
        std = flat.std(axis=1).reshape(-1, 1, 1)
        z = (m - flat.mean(axis=1).reshape(-1, 1, 1)) / np.where(std > 0, std, 1.0)
        mask = (np.clip(0.5 + 0.1 * z, 0.0, 1.0) >= threshold) & (std > 0)
    return mask & (m > 0) if positive else mask


def describe_mask(opts, what: str = "map") -> str:
    """How the mask panel was made, in a few words (every mask figure says which rule it used)."""
    rule, t, smooth = getattr(opts, "mask", "max"), opts.threshold, getattr(opts, "smooth", 0.0)
    blurred = f"{what} blurred σ{smooth:g}" if smooth > 0 else what
    if rule == "zscore":
        return f"face where 0.5+0.1z({blurred}) >= {t:g}"
    return f"face where {blurred} >= {t:g} max"


def greyed_out(faces: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The faces, kept where `mask` holds and greyed out (low contrast around mid-grey) elsewhere."""
    grey = 128.0 + (faces.astype(np.float32) - 128.0) * GREY_OUT
    return np.where(mask, faces, grey.round()).astype(np.uint8)


def attribution_explanation(explainer: Explainer, request: Request, maps: np.ndarray, *, signed: bool,
                            map_title: str, mask_title: str | None = None, key: str = "attributions",
                            positive: bool = True, arrays: dict | None = None, summary: dict | None = None,
                            records: list[dict] | None = None) -> Explanation:
    """The standard result of a per-image attribution map (N, H, W).

    The mask follows the explainer's ``threshold`` option and, where it declares them (see
    :func:`mask_options`), its ``mask`` rule and ``smooth`` blur; with `positive` only pixels
    whose map is above zero. The figures, named after the explainer, are pages of one row per
    face: by default (``style`` option overlay, see :func:`figure_options`) the face and the map
    blended over it with the mask outlined; with ``style=panels`` the face, the raw map and the
    face kept where the mask holds and greyed out elsewhere.
    Arrays: `key` (the maps), ``mask``, ``images``, ``targets`` and `arrays`; summary:
    `summary` plus one record per image; meta: ``attribution`` (which array is the map, whether it
    is signed, its title), which :mod:`ferviz.explain.compare` reads to set methods side by side.
    """
    from ferviz.explain.figures import attribution_grid, overlay_grid, page_names

    opts = explainer.opts
    faces = display_images(explainer.model, request.images)
    mask = region_mask(maps, opts.threshold, rule=getattr(opts, "mask", "max"),
                       smooth=getattr(opts, "smooth", 0.0), positive=positive)
    records = image_records(explainer.model, request) if records is None else records
    mask_title = mask_title or describe_mask(opts)
    figures = {}
    for name, part in page_names(explainer.name, len(faces)):
        titles = [record_title(r) for r in records[part]]
        if getattr(opts, "style", "overlay") == "panels":
            figures[name] = attribution_grid(faces[part], maps[part], greyed_out(faces[part], mask[part]), titles,
                                             signed=signed, map_title=map_title, mask_title=mask_title)
        else:
            figures[name] = overlay_grid(faces[part], maps[part], mask[part], titles, signed=signed,
                                         map_title=map_title, mask_title=mask_title,
                                         cmap=getattr(opts, "cmap", "auto"), opacity=getattr(opts, "opacity", 0.5))
    return Explanation(
        arrays={key: maps, **(arrays or {}), "mask": mask, "images": faces, "targets": request.targets},
        figures=figures,
        summary={**(summary or {}), "images": records},
        meta={"attribution": {"array": key, "signed": signed, "title": map_title}},
    )
