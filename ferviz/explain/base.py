"""The explainer interface: one shape for per-image, model-level and data-set-level work.

An explainer is a subclass of :class:`Explainer` that declares its ``name``, a one-line
``summary``, what it ``needs`` (``"images"``, ``"dataset"`` or ``"model"``) and its typed
``options``. A per-image attribution explainer subclasses :class:`~ferviz.explain.MapExplainer`
and implements ``attribute(batch)`` (see :mod:`ferviz.explain.maps`); any other explainer
(a data-set analysis, a model-level visualisation) overrides :meth:`Explainer.explain`::

    class Brightness(Explainer):
        name = "brightness"
        summary = "Mean grey level of each face."
        needs = "images"

        def explain(self, request):
            return Explanation(arrays={"mean": request.images.mean(axis=(1, 2))})

Options are validated when the explainer is built (``Brightness(model, scale="8")``), before
any work starts; an unknown key or a bad value raises :class:`OptionError` that lists what is
valid. :meth:`Explainer.run` checks the request against ``needs`` and runs ``explain`` with the
model in eval mode and its parameters frozen (both restored after).

Pixel convention: explainers feed the :class:`~ferviz.model.LoadedModel` plain pixels,
float on the 0-255 scale, (N, C, H, W), made from uint8 images with ``model.pixels(images)``;
the model applies the checkpoint's preprocessing itself.

An :class:`Explanation` holds named arrays (saved to ``arrays.npz``), named matplotlib figures
(one file each) and a JSON-able summary; :func:`ferviz.explain.save` writes them with a
``manifest.json``, atomically.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Callable, ClassVar

import numpy as np
from matplotlib.figure import Figure

from ferviz.data import Dataset
from ferviz.device import autocast, resolve_precision
from ferviz.errors import DataError
from ferviz.explain.precision import bf16_scoped
from ferviz.explain.selection import predicted_classes
from ferviz.explain.torchtools import explaining
from ferviz.options import Option, parse_options

NEEDS = ("images", "dataset", "model")


# ----------------------------------------------------------------------------- request / result
@dataclass
class Request:
    """What an explainer works on.

    images: (N, H, W) uint8 faces, or None. targets: (N,) int64 class indices into the model's
    ``class_names`` (the class to explain for each image). labels: (N,) int64 true classes in the
    model's order, or None. ids: N names for titles. dataset: a labelled :class:`Dataset` for
    data-set-level explainers. seed: for anything random (noise starts, jitter). progress: an
    optional ``(done, total)`` callback; explainers report through :meth:`report`.
    """

    images: np.ndarray | None = None
    targets: np.ndarray | None = None
    labels: np.ndarray | None = None
    ids: list[str] | None = None
    dataset: Dataset | None = None
    seed: int = 0
    progress: Callable[[int, int], None] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        if self.images is not None:
            self.images = np.asarray(self.images)
            if self.images.dtype != np.uint8 or self.images.ndim != 3:
                raise DataError(f"request images must be (N, H, W) uint8, got {self.images.dtype} "
                                f"{self.images.shape}")
            n = len(self.images)
            for name in ("targets", "labels"):
                value = getattr(self, name)
                if value is not None:
                    value = np.asarray(value, dtype=np.int64).reshape(-1)
                    if len(value) != n:
                        raise DataError(f"request {name} has {len(value)} entries for {n} images")
                    setattr(self, name, value)
            if self.ids is None:
                self.ids = [f"#{i}" for i in range(n)]
            elif len(self.ids) != n:
                raise DataError(f"request ids has {len(self.ids)} entries for {n} images")
            self.ids = [str(i) for i in self.ids]

    def report(self, done: int, total: int) -> None:
        """Tell the caller how far the work is (`done` of `total` units); silent without a listener."""
        if self.progress is not None:
            self.progress(done, total)

    def subset(self, index: slice | np.ndarray) -> Request:
        """The images at `index` (a slice or indices) with their targets, labels and ids, and the seed.

        No data set and no progress listener: a batch of a map explainer, or one process's share
        of the images under torchrun (:mod:`ferviz.explain.parallel`).
        """
        pick = lambda a: None if a is None else a[index]  # noqa: E731
        ids = self.ids[index] if isinstance(index, slice) else [self.ids[i] for i in index]
        return Request(images=self.images[index], targets=pick(self.targets), labels=pick(self.labels), ids=ids,
                       seed=self.seed)


@dataclass
class Explanation:
    """What an explainer returns.

    arrays: name -> numpy array (saved to ``arrays.npz``). figures: name -> matplotlib Figure
    (one file each). summary: JSON-able numbers and words (saved to ``summary.json`` and the
    manifest). meta: filled by :meth:`Explainer.run` (method, options, checkpoint, seed).
    """

    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    figures: dict[str, Figure] = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------- the base class
class Explainer:
    """Base class of every explainer. Subclass, declare the class attributes, override `explain`
    (a per-image attribution explainer subclasses :class:`~ferviz.explain.MapExplainer` instead).

    ``self.model`` is the :class:`~ferviz.model.LoadedModel`; ``self.opts`` holds the
    validated option values as attributes (``self.opts.steps``). Override
    :meth:`check_model` to validate options that depend on the model (a layer name); it runs
    in ``__init__``, before any work.
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    needs: ClassVar[str] = "images"
    options: ClassVar[tuple[Option, ...]] = ()
    #: Options for a fast, low-quality run (used by the shared contract test and previews).
    quick_options: ClassVar[dict[str, Any]] = {}
    #: True when the explainer hooks into the network's layers (forward hooks, ReLU backward
    #: hooks, layer names), which only an eager PyTorch model exposes: on a TorchScript file or a
    #: torch.export program it refuses in one line (UnsupportedModelError) before any work.
    needs_eager: ClassVar[bool] = False
    #: What its ``precision`` option's bf16 runs in bf16 (:mod:`ferviz.explain.precision`): ``"all"``
    #: (`compute` in autocast), or ``"past-input"`` / ``"backward"``, which :meth:`bf16_copy` applies
    #: to the explainer's own frozen copy of the network.
    bf16_scope: ClassVar[str] = "all"

    # --- how the report shows this explainer (ferviz.report reads only these; the defaults give a generic section)
    #: The section layout: "generic" (its figures and summary tables), "attributions" (per-image maps of the
    #: selected faces and where they sit on the face), "confusion-matrix" (a data set's confusion summary) or
    #: "filter-grids" (a layer explainer run on each --layers layer from noise and from a face).
    report_layout: ClassVar[str] = "generic"
    #: The section's id and heading; "" gives "plugin-NAME" and "What does NAME show?".
    report_section: ClassVar[str] = ""
    report_title: ClassVar[str] = ""
    #: Place among the explainer sections and the explorer's explainers: lower first, ties by name.
    report_order: ClassVar[int] = 100
    #: The sentence under the heading, a str.format template of the run's options and {mask_rule} (the mask
    #: options' rule); "" gives the generic lead ("SUMMARY Explainer 'NAME' from plugin ...").
    report_lead: ClassVar[str] = ""
    #: Each figure's caption, a template of the options, the summary's entries, {name}, {figure} (its key),
    #: {checkpoint} and, in filter grids, {origin} (white noise or the face).
    report_caption: ClassVar[str] = "{name}: {figure}"
    #: Attributions: entries of the per-image records the face table adds, as (key, header, format, meaning
    #: for the caption); they take the place of the "true" column (each face's mark says it).
    report_columns: ClassVar[tuple[tuple[str, str, str, str], ...]] = ()
    #: Filter grids: the layers run when the model has them and --layers names none (else "auto").
    report_layers: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def report_cost(cls, opts: SimpleNamespace, images: int, input_size: int) -> int:
        """Rough work units of one run (one unit ~ one image through the network), for progress bars.

        `opts`: the validated options; `images`: the faces explained (a data set's size when it needs one).
        """
        return {"images": 3 * images, "dataset": images}.get(cls.needs, 100)  # forward + backward ~ 3 passes

    @classmethod
    def report_findings(cls, explanation: Explanation) -> tuple[list[str], dict]:
        """Sentences the report adds to the section's findings, and the numbers they quote (for report.json)."""
        return [], {}

    def __init__(self, model, **options):
        if self.needs not in NEEDS:
            raise TypeError(f"{type(self).__name__}.needs must be one of {NEEDS}, not {self.needs!r}")
        self.model = model
        self.opts = SimpleNamespace(**parse_options(type(self), options))
        if self.needs_eager and hasattr(model, "require_eager"):
            model.require_eager(self.name)
        self.check_model()

    def check_model(self) -> None:
        """Validate options against the model (layers, channels); raise OptionError."""

    def autocast(self) -> AbstractContextManager:
        """bf16 autocast when the ``precision`` option resolves to bf16 and ``bf16_scope`` is "all", else a no-op.

        A map explainer's `compute` runs inside it (see :class:`~ferviz.explain.MapExplainer`, and
        :func:`~ferviz.explain.in_precision` for an explainer of its own); figures never do.
        """
        return autocast(self.model.device, "bf16") if self.bf16() and self.bf16_scope == "all" else nullcontext()

    def bf16(self) -> bool:
        """Whether the ``precision`` option (where the explainer has one) resolves to bf16 on the model's device."""
        precision = getattr(self.opts, "precision", None)
        return bool(precision) and resolve_precision(precision, self.model.device) == "bf16"

    def bf16_copy(self, net):
        """`net`, the explainer's own frozen copy (e.g. :func:`~ferviz.explain.folded`'s), set to run its
        ``bf16_scope`` in bf16 when the precision is bf16; unchanged otherwise."""
        return bf16_scoped(net, self.bf16_scope, self.model.device) if self.bf16() else net

    def explain(self, request: Request) -> Explanation:
        """The whole job. Override this, or override `compute` and `render` (see there)."""
        if not self.shardable():
            raise NotImplementedError(f"{type(self).__name__} must implement explain(request)")
        return self.render(request, self.compute(request))

    def compute(self, request: Request) -> dict[str, np.ndarray]:
        """Optional: the per-image arrays only (row i belongs to image i), no figures.

        An images explainer that splits its work into `compute` and `render` can be spread over
        processes (``torchrun ... -m ferviz explain``): each rank computes a share of the images
        and rank 0 renders the whole explanation from the gathered arrays.
        """
        raise NotImplementedError

    def render(self, request: Request, arrays: dict[str, np.ndarray]) -> Explanation:
        """Optional: the Explanation (figures, summary) for `request` from `compute`'s arrays."""
        raise NotImplementedError

    @classmethod
    def shardable(cls) -> bool:
        """True when the work splits into `compute` (per image) and `render`."""
        return (cls.needs == "images" and cls.compute is not Explainer.compute
                and cls.render is not Explainer.render)

    def check(self, request: Request) -> None:
        """DataError unless `request` holds what the explainer `needs`, with targets among the model's classes."""
        if self.needs == "images" and (request.images is None or len(request.images) == 0):
            raise DataError(f"{self.name} explains images: give some (--image FILE or --data SOURCE)")
        if self.needs == "images" and request.targets is None:
            raise DataError(f"{self.name}: the request has no targets")
        classes = len(self.model.class_names)
        if request.targets is not None and len(request.targets) and not (
                0 <= request.targets.min() and request.targets.max() < classes):
            raise DataError(f"{self.name}: targets must be class indices 0..{classes - 1}")
        if self.needs == "dataset" and request.dataset is None:
            raise DataError(f"{self.name} analyses a data set: give one with --data SOURCE")

    def run(self, request: Request, arrays: dict[str, np.ndarray] | None = None) -> Explanation:
        """Check the request, then `explain` it with the model in eval mode and frozen.

        With `arrays` (from `compute`, perhaps gathered from several processes) only `render` runs.
        """
        self.check(request)
        with explaining(self.model):
            explanation = self.explain(request) if arrays is None else self.render(request, arrays)
        explanation.meta.update({
            "method": self.name,
            "options": dict(vars(self.opts)),
            "checkpoint": getattr(self.model, "source", ""),
            "arch": getattr(self.model, "arch", ""),
            "class_names": list(self.model.class_names),
            "seed": request.seed,
        })
        return explanation


def get_explainer(name: str) -> type[Explainer]:
    """The registered explainer class called `name` (UnknownNameError lists the known ones)."""
    from ferviz import registry

    return registry.explainers().get_or_raise(name)


def run_explainer(name: str | type[Explainer], model, *, images=None, targets=None, labels=None,
                  ids=None, dataset: Dataset | None = None, options: dict | None = None,
                  seed: int = 0) -> Explanation:
    """Build explainer `name` on `model` with `options` (strings or values) and run it.

    With images and no targets, each image is explained for its predicted class.

    >>> exp = run_explainer("saliency", model, images=faces, options={"threshold": "0.5"})
    >>> exp.arrays["saliency"].shape
    (7, 48, 48)
    """
    cls = get_explainer(name) if isinstance(name, str) else name
    explainer = cls(model, **(options or {}))
    if images is not None and targets is None:
        targets = predicted_classes(model, np.asarray(images))
    request = Request(images=images, targets=targets, labels=labels, ids=ids, dataset=dataset, seed=seed)
    return explainer.run(request)
