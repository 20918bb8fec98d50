"""Explanation quality: metrics as plugins, and the runner that scores explainers with them.

A metric is a subclass of :class:`Metric` that declares its ``name``, a one-line ``summary``,
whether it ``needs_masks`` (ground-truth cue masks, synthetic faces only), its typed
``options``, the ``headline`` key of its result shown in the table and whether higher is
better, and overrides one method, :meth:`Metric.score`::

    class MapEntropy(Metric):
        name = "map-entropy"
        summary = "Entropy of the normalised positive map (lower: more concentrated)."
        headline, higher_is_better = "entropy", False

        def score(self, model, images, targets, maps, masks, *, explain_fn):
            p = np.clip(maps, 0, None).reshape(len(maps), -1) + 1e-12
            p /= p.sum(axis=1, keepdims=True)
            return {"entropy": -(p * np.log(p)).sum(axis=1)}   # (N,): one value per image

A result maps names to a number (data-set level), a per-image array (N,) (NaN where an image
was not scored), per-image curves (N, K), or JSON-able extras (``"layers": [...]``). The runner
averages per-image values (ignoring NaN), per class of the target too, and keeps the curves.
A key ``chance`` holds what a map independent of everything would score per image; the table
shows its mean as an "expected at chance" row.

:func:`assess` computes each explainer's maps once (plus a random-map baseline row), hands them
to every metric with an ``explain_fn(model, images, targets) -> (N, H, W) maps`` that recomputes
them on another model (for the randomisation sanity checks), and returns an
:class:`Assessment`; :mod:`ferviz.assess.output` turns it into Markdown, JSON and figures.

Conventions: ``images`` are the (N, H, W) uint8 faces, ``targets`` (N,) class indices (the class
each map explains), ``maps`` (N, S, S) float32 at the model's input size S, ``masks`` (N, S, S)
bool or None. Metrics run with the model in eval mode and frozen; they must not change it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Callable, ClassVar, Sequence

import numpy as np
import torch

from ferviz.errors import DataError, OptionError
from ferviz.explain import Explainer, Option, Request, explaining, get_explainer, parse_options

ExplainFn = Callable[[Any, np.ndarray, np.ndarray], np.ndarray]

#: The row key of the random-map baseline.
RANDOM_ROW = "random-map"
#: Array names an explainer's map is looked for under, in this order.
MAP_KEYS = ("attributions", "saliency", "map", "heatmap")


class Metric:
    """Base class of every explanation-quality metric. Subclass, declare, override `score`.

    ``self.opts`` holds the validated option values (``self.opts.steps``); ``self.seed`` the
    assessment's seed, for anything random.
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    needs_masks: ClassVar[bool] = False
    options: ClassVar[tuple[Option, ...]] = ()
    #: The result key whose mean over images is the table's cell.
    headline: ClassVar[str] = ""
    higher_is_better: ClassVar[bool] = True
    #: Options for a fast, low-quality run (tests, previews).
    quick_options: ClassVar[dict[str, Any]] = {}
    #: True when the metric works on the network's layers (re-initialises them by name), which
    #: only an eager PyTorch model exposes; refused on TorchScript and torch.export programs.
    needs_eager: ClassVar[bool] = False

    def __init__(self, *, seed: int = 0, **options):
        self.opts = SimpleNamespace(**parse_options(type(self), options))
        self.seed = seed

    def unavailable(self, *, has_masks: bool) -> str | None:
        """Why this metric cannot run on the given inputs (None: it can). Override to add reasons."""
        if self.needs_masks and not has_masks:
            return "needs ground-truth cue masks, which only synthetic faces have"
        return None

    @property
    def flag_above(self) -> float | None:
        """A headline mean above this flags the method (sanity checks); None: never flagged."""
        return None

    def score(self, model, images: np.ndarray, targets: np.ndarray, maps: np.ndarray, masks: np.ndarray | None,
              *, explain_fn: ExplainFn) -> dict[str, Any]:
        raise NotImplementedError(f"{type(self).__name__} must implement score(...)")


def get_metric(name: str) -> type[Metric]:
    """The registered metric class called `name` (UnknownNameError lists the known ones)."""
    from ferviz import registry

    return registry.metrics().get_or_raise(name)


def resolve_metrics(spec: str | Sequence[str], *, has_masks: bool, options: dict[str, dict] | None = None,
                    seed: int = 0) -> tuple[list[Metric], dict[str, str]]:
    """(metrics to run, {skipped name: reason}) for ``all`` or a list of names.

    With ``all`` a metric that cannot run here (no masks, no random-labels checkpoint) is skipped
    with its reason; named explicitly, it is an error.
    """
    from ferviz import registry

    options = options or {}
    explicit = not (spec == "all" or list(spec) == ["all"])
    names = _split(spec) if explicit else sorted(registry.metrics(), key=_metric_order)
    chosen, skipped = [], {}
    for name in names:
        metric = get_metric(name)(seed=seed, **options.get(name, {}))
        reason = metric.unavailable(has_masks=has_masks)
        if reason and explicit:
            raise DataError(f"metric {name} cannot run here: it {reason}")
        if reason:
            skipped[name] = reason
        else:
            chosen.append(metric)
    return chosen, skipped


def eager_only(model, methods: list[str], metrics: list[Metric]) -> dict[str, str]:
    """{name: reason} of the methods and metrics that need an eager model, when `model` is not one
    (TorchScript, torch.export): what ``all`` leaves out on such a model."""
    from ferviz.model.loaded import KINDS

    if getattr(model, "eager", True):
        return {}
    why = f"needs an eager PyTorch model (it hooks into the network's layers); this one is {KINDS[model.kind]}"
    return {**{name: why for name in methods if getattr(get_explainer(name), "needs_eager", False)},
            **{m.name: why for m in metrics if m.needs_eager}}


def resolve_methods(spec: str | Sequence[str]) -> list[str]:
    """Explainer names for ``all`` (every registered per-image explainer) or a list of names."""
    from ferviz import registry

    if spec == "all" or list(spec) == ["all"]:
        return sorted(n for n, cls in registry.explainers().items() if cls.needs == "images")
    names = _split(spec)
    for name in names:
        cls = get_explainer(name)
        if cls.needs != "images":
            raise OptionError(f"{name} is not a per-image explainer (it needs {cls.needs}); "
                              "only per-image attributions can be assessed")
    return names


def _split(spec: str | Sequence[str]) -> list[str]:
    items = spec.split(",") if isinstance(spec, str) else spec
    names = [s.strip() for s in items if s.strip()]
    if not names:
        raise OptionError("name at least one, or all")
    return list(dict.fromkeys(names))


_ORDER = ("pointing-game", "relevance-mass", "model-randomisation", "label-randomisation", "deletion", "insertion")


def _metric_order(name: str) -> tuple[int, str]:
    return (_ORDER.index(name) if name in _ORDER else len(_ORDER), name)


# ----------------------------------------------------------------------------- maps
def attribution_map(arrays: dict[str, np.ndarray], n: int, method: str) -> np.ndarray:
    """The (N, S, S) float map among an explanation's arrays: the first of MAP_KEYS present, else
    the only float (N, S, S) array. DataError when there is none (not an attribution method)."""
    for key in MAP_KEYS:
        if key in arrays:
            return np.asarray(arrays[key], dtype=np.float32)
    candidates = [k for k, a in arrays.items() if a.dtype.kind == "f" and a.ndim == 3 and len(a) == n]
    if len(candidates) == 1:
        return np.asarray(arrays[candidates[0]], dtype=np.float32)
    raise DataError(f"{method}: its explanation holds no per-image map (looked for {', '.join(MAP_KEYS)} "
                    f"or a single float (N, H, W) array; found {', '.join(arrays) or 'nothing'})")


def explainer_fn(cls: type[Explainer], options: dict | None = None, seed: int = 0) -> ExplainFn:
    """``explain_fn(model, images, targets) -> maps`` running explainer `cls` with `options`.

    Fast path: an explainer with an ``attribute(request)`` method returning the (N, S, S) maps (or a
    tuple whose first item they are) is called through it, with the model in eval mode and frozen
    as ``run`` would, and makes no figures. Any other explainer is ``run`` and its map picked from
    its arrays (:func:`attribution_map`).
    """

    def explain(model, images, targets):
        explainer = cls(model, **(options or {}))
        request = Request(images=images, targets=targets, seed=seed)
        if callable(getattr(explainer, "attribute", None)):
            with explaining(model):
                maps = explainer.attribute(request)
            maps = maps[0] if isinstance(maps, tuple) else maps
            if isinstance(maps, np.ndarray) and maps.shape == (len(images), model.input_size, model.input_size):
                return maps.astype(np.float32, copy=False)
        return attribution_map(explainer.run(request).arrays, len(images), cls.name)

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


# ----------------------------------------------------------------------------- results
@dataclass
class Assessment:
    """Every explainer (row) scored by every metric; built by :func:`assess`.

    results[row][metric] is the metric's raw result dict; maps[row] the (N, S, S) maps;
    seconds[row] {"maps": s, metric: s}.
    """

    rows: list[str]
    metrics: list[Metric]
    class_names: tuple[str, ...]
    targets: np.ndarray
    results: dict[str, dict[str, dict]] = field(default_factory=dict)
    maps: dict[str, np.ndarray] = field(default_factory=dict)
    seconds: dict[str, dict[str, float]] = field(default_factory=dict)
    method_options: dict[str, dict] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def metric(self, name: str) -> Metric:
        return next(m for m in self.metrics if m.name == name)

    def per_image(self, row: str, metric: str, key: str | None = None) -> np.ndarray | None:
        """The (N,) per-image values of `key` (default the headline), or None when it is a number."""
        value = self.results[row][metric].get(key or self.metric(metric).headline)
        if isinstance(value, np.ndarray) and value.ndim == 1 and len(value) == len(self.targets):
            return value.astype(np.float64)
        return None

    def value(self, row: str, metric: str, key: str | None = None) -> float:
        """The mean over images (NaN ignored) of `key` (default the headline); NaN when none."""
        values = self.per_image(row, metric, key)
        if values is None:
            raw = self.results[row][metric].get(key or self.metric(metric).headline)
            return float(raw) if raw is not None else float("nan")
        return _nanmean(values)

    def sem(self, row: str, metric: str) -> float:
        """Standard error of the headline mean (NaN for a single number)."""
        values = self.per_image(row, metric)
        if values is None:
            return float("nan")
        values = values[np.isfinite(values)]
        return float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else float("nan")

    def flagged(self, row: str, metric: str) -> bool:
        limit = self.metric(metric).flag_above
        value = self.value(row, metric)
        return limit is not None and np.isfinite(value) and value > limit

    def chance(self, metric: str) -> float:
        """Mean of the metric's ``chance`` values (the same for every row), NaN when it has none."""
        for row in self.rows:
            if "chance" in self.results[row][metric]:
                return self.value(row, metric, "chance")
        return float("nan")

    def per_class(self, row: str, metric: str, key: str | None = None) -> dict[str, float | None]:
        """Class name -> mean of `key` over the images explaining that class (None when none)."""
        values = self.per_image(row, metric, key)
        out: dict[str, float | None] = {}
        for c, name in enumerate(self.class_names):
            chosen = values[self.targets == c] if values is not None else np.empty(0)
            mean = _nanmean(chosen) if len(chosen) else float("nan")
            out[name] = None if not np.isfinite(mean) else mean
        return out

    def curves(self, row: str, metric: str) -> dict[str, np.ndarray]:
        """Key -> mean curve over images (NaN rows ignored), for every (N, K) result."""
        out = {}
        for key, value in self.results[row][metric].items():
            if isinstance(value, np.ndarray) and value.ndim == 2 and len(value) == len(self.targets):
                rows = value[np.isfinite(value).all(axis=1)]
                if len(rows):
                    out[key] = rows.mean(axis=0)
        return out


def _nanmean(values: np.ndarray) -> float:
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else float("nan")


# ----------------------------------------------------------------------------- the runner
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
