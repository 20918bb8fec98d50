"""The explainer interface: one shape for per-image, model-level and data-set-level work.

An explainer is a subclass of :class:`Explainer` that declares its ``name``, a one-line
``summary``, what it ``needs`` (``"images"``, ``"dataset"`` or ``"model"``) and its typed
``options``, and overrides one method, :meth:`Explainer.explain`::

    class GradientNorm(Explainer):
        name = "gradient-norm"
        summary = "L2 norm of the input gradient of the target score."
        needs = "images"
        options = (Option("batch_size", int, 64, "images per forward/backward pass", min=1),)

        def explain(self, request):
            saliency = ...  # (N, H, W) float32
            return Explanation(arrays={"saliency": saliency}, figures={"grid": figure})

Options are validated when the explainer is built (``GradientNorm(model, batch_size="8")``),
before any work starts; an unknown key or a bad value raises :class:`OptionError` that lists
what is valid. :meth:`Explainer.run` checks the request against ``needs`` and runs
``explain`` with the model in eval mode and its parameters frozen (both restored after).

Pixel convention: explainers feed the :class:`~ferviz.model.checkpoint.LoadedModel` plain pixels,
float on the 0-255 scale, (N, C, H, W), made from uint8 images with ``model.pixels(images)``;
the model applies the checkpoint's preprocessing itself.

An :class:`Explanation` holds named arrays (saved to ``arrays.npz``), named matplotlib figures
(one file each) and a JSON-able summary; :func:`save` writes them with a ``manifest.json``,
atomically: a failed run leaves nothing half-written.
"""

from __future__ import annotations

import copy
import json
import functools
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, ClassVar, Iterator

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from ferviz import __version__
from ferviz.data import Dataset
from ferviz.device import PRECISIONS, autocast
from ferviz.errors import DataError, OptionError
from ferviz.explain.selection import pick_faces, predicted_classes, resolve_targets, select_per_class  # noqa: F401
from ferviz.fileio import FIGURE_FORMATS, jsonable
from ferviz.options import Option, parse_key_values, parse_options  # noqa: F401

NEEDS = ("images", "dataset", "model")
MANIFEST_FORMAT = "ferviz-explanation"


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
    """Base class of every explainer. Subclass, declare the class attributes, override `explain`.

    ``self.model`` is the :class:`~ferviz.model.checkpoint.LoadedModel`; ``self.opts`` holds the
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
        """bf16 autocast when the explainer has a ``precision`` option that resolves to bf16, else a no-op.

        Map computations run inside it (see :func:`in_precision`); figures never do.
        """
        precision = getattr(self.opts, "precision", None)
        return autocast(self.model.device, precision) if precision else nullcontext()

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

    def run(self, request: Request, arrays: dict[str, np.ndarray] | None = None) -> Explanation:
        """Check the request, then `explain` it with the model in eval mode and frozen.

        With `arrays` (from `compute`, perhaps gathered from several processes) only `render` runs.
        """
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


# ----------------------------------------------------------------------------- torch helpers
@contextmanager
def explaining(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode and frozen parameters for the duration; both restored afterwards.

    Frozen parameters mean backward passes compute input gradients only, no weight gradients.
    On the CPU the model also runs in channels-last memory format, which the convolutions
    there are faster in, when it works in that format (:func:`channels_last_works`); restored
    afterwards too.
    """
    was_training = model.training
    flags = [(p, p.requires_grad) for p in model.parameters()]
    model.eval()
    for p, _ in flags:
        p.requires_grad_(False)
    channels_last = _on_cpu(model) and not _is_channels_last(model) and channels_last_works(model)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    try:
        yield model
    finally:
        if channels_last:
            model.to(memory_format=torch.contiguous_format)
        for p, flag in flags:
            p.requires_grad_(flag)
        model.train(was_training)


def _on_cpu(model: nn.Module) -> bool:
    return all(p.device.type == "cpu" for p in model.parameters())


def _is_channels_last(model: nn.Module) -> bool:
    return any(p.dim() == 4 and p.is_contiguous(memory_format=torch.channels_last)
               and not p.is_contiguous() for p in model.parameters())


def channels_last_works(model: nn.Module) -> bool:
    """Whether `model` (a LoadedModel) gives the same outputs in channels-last memory format.

    Channels-last is an optimisation, never a requirement: a network that reshapes with ``.view``
    after a conv, or a TorchScript or torch.export program compiled for the default format,
    fails in it. The model is probed once, on two seeded noise images in eval mode without
    gradients, and the answer is remembered on it; on failure or different outputs it runs in the
    default format. A model without an input spec (``in_channels``, ``input_size``) is not probed.
    """
    known = getattr(model, "_channels_last_works", None)
    if known is not None:
        return known
    if not hasattr(model, "in_channels") or not hasattr(model, "input_size"):
        return False
    shape = (2, model.in_channels, model.input_size, model.input_size)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    probe = (torch.rand(shape, generator=torch.Generator().manual_seed(0)) * 255).to(device)
    was_training, was_channels_last = model.training, _is_channels_last(model)
    model.eval()
    works = False
    try:
        with torch.no_grad():
            model.to(memory_format=torch.contiguous_format)
            reference = model(probe)
            model.to(memory_format=torch.channels_last)
            out = model(probe)
        works = (isinstance(out, torch.Tensor) and isinstance(reference, torch.Tensor)
                 and out.shape == reference.shape
                 and bool(((out - reference).abs().max() <= 1e-3 * reference.abs().max() + 1e-5)))
    except Exception:  # noqa: BLE001  any failure of the user's network in this format means: do not use it
        works = False
    finally:
        model.to(memory_format=torch.channels_last if was_channels_last else torch.contiguous_format)
        model.train(was_training)
    model._channels_last_works = works
    return works


def folded(model: nn.Module) -> nn.Module:
    """A frozen eval-mode copy of `model` with each BatchNorm folded into the conv/linear before it.

    Gives the same outputs and input gradients (up to float rounding) with less work, for
    explainers that need only those (saliency, integrated gradients), not named layers. Works on
    ``nn.Sequential`` containers (the seed VGG); other layers are copied unchanged.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

    if not getattr(model, "eager", True):
        return model  # TorchScript or a torch.export program: its code is opaque, keep it as it is
    fast = copy.deepcopy(model).eval()
    for seq in [m for m in fast.modules() if isinstance(m, nn.Sequential)]:
        names = list(seq._modules)
        for prev, name in zip(names, names[1:]):
            a, b = seq._modules[prev], seq._modules[name]
            if isinstance(a, nn.Conv2d) and isinstance(b, nn.BatchNorm2d):
                seq._modules[prev], seq._modules[name] = fuse_conv_bn_eval(a, b), nn.Identity()
            elif isinstance(a, nn.Linear) and isinstance(b, nn.BatchNorm1d):
                seq._modules[prev], seq._modules[name] = fuse_linear_bn_eval(a, b), nn.Identity()
    for p in fast.parameters():
        p.requires_grad_(False)
    if _on_cpu(fast) and channels_last_works(model):
        fast.to(memory_format=torch.channels_last)
    return fast


class LayerReached(Exception):
    """Raised by a stopping hook (``capture_output(stop=True)``) to end a forward pass early."""


@contextmanager
def capture_output(module: nn.Module, *, stop: bool = False) -> Iterator[dict]:
    """Record `module`'s latest forward output in ``store["output"]``; the hook is always removed.

    With ``stop=True`` the hook ends the forward pass there (the layers after it are not run);
    use :func:`forward_to` to run the model up to the layer.
    """
    store: dict = {}

    def hook(_module, _inputs, output):
        store["output"] = output
        if stop:
            raise LayerReached

    handle = module.register_forward_hook(hook)
    try:
        yield store
    finally:
        handle.remove()


def forward_to(model: nn.Module, pixels: torch.Tensor, store: dict):
    """Run `model` on `pixels` until the layer captured into `store` (see capture_output).

    Returns the layer's output, or None when the forward pass never reached the layer.
    """
    store.pop("output", None)
    try:
        model(pixels)
    except LayerReached:
        pass
    return store.get("output")


def chunks(n: int, size: int) -> Iterator[slice]:
    """Slices covering range(n) in pieces of at most `size`."""
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (N, C, H, W) with reflect padding (radius 3 sigma)."""
    if sigma <= 0:
        return x
    radius = max(1, min(int(3 * sigma + 0.5), min(x.shape[-2:]) - 1))
    t = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    kernel = kernel / kernel.sum()
    c = x.shape[1]
    x = nn.functional.pad(x, (radius, radius, radius, radius), mode="reflect")
    x = nn.functional.conv2d(x, kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return nn.functional.conv2d(x, kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def display_images(model, images: np.ndarray) -> np.ndarray:
    """The uint8 (N, S, S) faces exactly as the model sees them (resized, channel mean)."""
    with torch.no_grad():
        x = model.pixels(images).mean(dim=1)
    return x.round().clamp(0, 255).to(torch.uint8).cpu().numpy()


def image_records(model, request: Request) -> list[dict]:
    """Per image: id, target, predicted class, the target's probability (and true label if known)."""
    proba = model.predict_proba(request.images).numpy()
    names = model.class_names
    records = []
    for i, target in enumerate(request.targets):
        record = {"id": request.ids[i], "target": names[target], "predicted": names[int(proba[i].argmax())],
                  "target_probability": round(float(proba[i, target]), 4)}
        if request.labels is not None:
            record["true"] = names[request.labels[i]]
        records.append(record)
    return records


def record_title(record: dict) -> str:
    """``#3: happy p=0.82 | true sad``: a short figure title for one image record."""
    title = f"{record['id']}: {record['target']} p={record['target_probability']:.2f}"
    if record.get("true") is not None and record["true"] != record["target"]:
        title += f" | true {record['true']}"
    if record["predicted"] != record["target"]:
        title += f" | pred {record['predicted']}"
    return title


# ----------------------------------------------------------------------------- saving
def save(explanation: Explanation, out_dir, fmt: str = "png", *, extra: dict | None = None,
         overwrite: bool = False) -> Path:
    """Write arrays.npz, one file per figure, summary.json and manifest.json into `out_dir`.

    Everything is written into a temporary folder beside `out_dir`, which then becomes `out_dir`
    in one rename (:func:`ferviz.fileio.atomic_folder`): a failure leaves `out_dir` as it was.
    An existing `out_dir` is refused unless `overwrite`, which replaces all of it (a previous
    explanation's figures do not stay beside the new ones). Returns the manifest path.
    """
    from ferviz.fileio import atomic_folder

    if fmt not in FIGURE_FORMATS:
        raise OptionError(f"figure format must be one of {', '.join(FIGURE_FORMATS)}, got {fmt!r}")
    out_dir = Path(out_dir)
    with atomic_folder(out_dir, overwrite=overwrite, owner="manifest.json") as tmp:
        _write_all(explanation, tmp, fmt, extra or {})
    return out_dir / "manifest.json"


def _write_all(explanation: Explanation, folder: Path, fmt: str, extra: dict) -> list[str]:
    files: list[str] = []
    if explanation.arrays:
        np.savez_compressed(folder / "arrays.npz", **explanation.arrays)
        files.append("arrays.npz")
    figures = {}
    for name, figure in explanation.figures.items():
        filename = f"{name}.{fmt}"
        figure.savefig(folder / filename, format=fmt, dpi=120, bbox_inches="tight")
        figures[name] = filename
        files.append(filename)
    if explanation.summary:
        (folder / "summary.json").write_text(json.dumps(explanation.summary, indent=2, default=jsonable))
        files.append("summary.json")
    manifest = {
        "format": MANIFEST_FORMAT,
        "version": 1,
        **explanation.meta,
        **extra,
        "ferviz_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "files": files + ["manifest.json"],
        "arrays": {k: {"shape": list(v.shape), "dtype": str(v.dtype)} for k, v in explanation.arrays.items()},
        "figures": figures,
        "summary": explanation.summary,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, default=jsonable))
    return files + ["manifest.json"]


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


def precision_option() -> Option:
    """The ``precision`` option of a map explainer: fp32 by default, bf16 autocast when asked for.

    tests/explain/test_bf16.py checks every explainer that offers it: on the shipped FER2013 model
    its bf16 maps match its fp32 maps (Spearman >= 0.99 per face, top-10% pixels overlapping >= 0.9).
    """
    return Option("precision", str, "fp32", "fp32: the reference arithmetic; bf16: the forward and backward "
                  "passes in bf16 autocast (faster where the hardware computes bf16 natively; maps checked "
                  "against fp32 in the tests); auto: bf16 where native, else fp32", choices=PRECISIONS)


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
