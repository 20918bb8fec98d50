"""The assessment runner: each explainer's maps computed once, then scored by every metric.

:func:`assess` gets each method's (N, S, S) maps through :func:`explainer_fn` (a
:class:`~ferviz.explain.MapExplainer`'s ``maps``; any other per-image explainer is run and its
declared attribution array taken), adds a random-map baseline row, and hands the maps to every
metric with the same ``explain_fn`` to recompute them on another model.
"""

from __future__ import annotations

import time
from typing import Callable, Sequence

import numpy as np
import torch

from ferviz.assess.metric import ExplainFn, Metric, get_metric
from ferviz.assess.result import Assessment
from ferviz.errors import DataError
from ferviz.explain import Explainer, Explanation, MapExplainer, Request, explaining, get_explainer

#: The row key of the random-map baseline.
RANDOM_ROW = "random-map"


def attribution_map(explanation: Explanation, method: str) -> np.ndarray:
    """The (N, S, S) float map an explanation declares (``meta["attribution"]["array"]``, as
    :func:`~ferviz.explain.attribution_explanation` sets it). DataError when it declares none."""
    key = explanation.meta.get("attribution", {}).get("array")
    if key not in explanation.arrays:
        raise DataError(f"{method}: its explanation holds no per-image map (it declares none: make the explainer a "
                        "MapExplainer, or return attribution_explanation(...) from explain)")
    return np.asarray(explanation.arrays[key], dtype=np.float32)


def explainer_fn(cls: type[Explainer], options: dict | None = None, seed: int = 0) -> ExplainFn:
    """``explain_fn(model, images, targets) -> (N, S, S) maps`` of explainer `cls` with `options`.

    A :class:`~ferviz.explain.MapExplainer` gives its maps alone (:meth:`~ferviz.explain.MapExplainer.maps`:
    no figures). Any other per-image explainer is ``run`` and its declared map taken
    (:func:`attribution_map`).
    """

    def explain(model, images, targets):
        explainer = cls(model, **(options or {}))
        request = Request(images=images, targets=targets, seed=seed)
        if isinstance(explainer, MapExplainer):
            maps = explainer.maps(request)
        else:
            maps = attribution_map(explainer.run(request), cls.name)
        if maps.shape != (len(images), model.input_size, model.input_size):
            raise DataError(f"{cls.name}: its maps are {maps.shape}, not one {model.input_size}x{model.input_size} "
                            "map per image")
        return maps.astype(np.float32, copy=False)

    return explain


def random_fn(seed: int = 0) -> ExplainFn:
    """Uniform noise maps, fresh on every call: the baseline of every metric."""
    rng = np.random.default_rng([seed, 0x5EED])

    def explain(model, images, targets):
        return rng.random((len(images), model.input_size, model.input_size), dtype=np.float32)

    return explain


def fit_masks(masks: np.ndarray | None, size: int) -> np.ndarray | None:
    """Masks at the model's input size (nearest neighbour), as bool."""
    if masks is None:
        return None
    masks = np.asarray(masks, dtype=bool)
    if masks.shape[-1] == size and masks.shape[-2] == size:
        return masks
    t = torch.nn.functional.interpolate(torch.as_tensor(masks, dtype=torch.float32).unsqueeze(1), size=(size, size),
                                        mode="nearest")
    return t[:, 0].numpy() > 0.5


def assess(model, images: np.ndarray, targets: np.ndarray, *, masks: np.ndarray | None = None,
           methods: Sequence[str | type[Explainer]] = ("saliency",), metrics: Sequence[str | Metric] = (),
           method_options: dict[str, dict] | None = None, metric_options: dict[str, dict] | None = None,
           baseline: bool = True, seed: int = 0, log: Callable[[str], None] | None = None) -> Assessment:
    """Score each explainer in `methods` with each metric; a random-map baseline row when `baseline`.

    Each explainer's maps are computed once, on all images, and handed to every metric. `metrics`
    are names (built with `metric_options`) or Metric instances. `log` receives progress lines.

    >>> result = assess(model, faces.images, faces.labels, masks=faces.masks,
    ...                 methods=["saliency", "grad-cam"], metrics=["pointing-game", "deletion"])
    >>> result.value("grad-cam", "pointing-game"), result.chance("pointing-game")
    """
    log = log or (lambda _message: None)
    images = np.asarray(images)
    targets = np.asarray(targets, dtype=np.int64).reshape(-1)
    if images.dtype != np.uint8 or images.ndim != 3 or not len(images):
        raise DataError(f"assess: images must be a non-empty (N, H, W) uint8 array, got {images.dtype} {images.shape}")
    if len(targets) != len(images):
        raise DataError(f"assess: {len(targets)} targets for {len(images)} images")
    masks = fit_masks(masks, model.input_size)
    if masks is not None and len(masks) != len(images):
        raise DataError(f"assess: {len(masks)} masks for {len(images)} images")
    method_options, metric_options = method_options or {}, metric_options or {}
    built = [m if isinstance(m, Metric) else get_metric(m)(seed=seed, **metric_options.get(m, {})) for m in metrics]
    for metric in built:
        reason = metric.unavailable(has_masks=masks is not None)
        if reason:
            raise DataError(f"metric {metric.name} cannot run here: it {reason}")
        if metric.needs_eager and hasattr(model, "require_eager"):
            model.require_eager(f"metric {metric.name}")
    fns: dict[str, ExplainFn] = {}
    options: dict[str, dict] = {}
    for method in methods:
        cls = get_explainer(method) if isinstance(method, str) else method
        options[cls.name] = dict(vars(cls(model, **method_options.get(cls.name, {})).opts))  # validated up front
        fns[cls.name] = explainer_fn(cls, method_options.get(cls.name, {}), seed)
    if baseline:
        fns[RANDOM_ROW] = random_fn(seed)
        options[RANDOM_ROW] = {}
    result = Assessment(rows=list(fns), metrics=built, class_names=tuple(model.class_names), targets=targets,
                        method_options=options)
    for row, fn in fns.items():
        started = time.perf_counter()
        result.maps[row] = fn(model, images, targets)
        result.seconds[row] = {"maps": time.perf_counter() - started}
        log(f"{row}: maps of {len(images)} images in {result.seconds[row]['maps']:.1f} s")
        result.results[row] = {}
        for metric in built:
            started = time.perf_counter()
            with explaining(model):
                result.results[row][metric.name] = metric.score(model, images, targets, result.maps[row], masks,
                                                                explain_fn=fn)
            result.seconds[row][metric.name] = time.perf_counter() - started
            log(f"{row}: {metric.name} = {result.value(row, metric.name):.3f} "
                f"({result.seconds[row][metric.name]:.1f} s)")
    return result
