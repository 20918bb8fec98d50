"""The embedded data set: procedurally drawn 48x48 faces with ground-truth cue masks.

`ferviz train` runs with no download because faces are drawn on the fly from a seed
(`generate`, or ``--data synthetic:count=N,seed=S``: `SyntheticReader`). What each face is made
of (pose, identity, photograph, occluders, the facial actions of its class) is drawn by
:mod:`.params`; :mod:`.render` draws the faces and their cue masks from those numbers.

Randomness: all per-face parameters are drawn up front for the whole set from
``SeedSequence([seed, crc32(split)])``, and pixel noise comes from windows of a noise bank made
from the same stream, so the output does not depend on the chunking, and the splits of one seed
come from independent streams.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from ferviz.data import Dataset
from ferviz.data.sources import Reader
from ferviz.data.synthetic.params import (CLASS_NAMES, FER2013_BALANCE, draw_labels, draw_params, label_weights,
                                          noise_bank)
from ferviz.data.synthetic.render import CUE_PARTS, render_faces
from ferviz.errors import DataError

__all__ = ["CLASS_NAMES", "CUE_PARTS", "FER2013_BALANCE", "GENERATOR_VERSION", "SyntheticReader", "generate",
           "render_examples"]

#: Bumped whenever the same seed starts drawing different faces.
GENERATOR_VERSION = 1

_CHUNK = 32  # faces drawn at once: small enough for the arrays to stay in cache


def generate(count: int, seed: int = 0, *, class_weights=None, size: int = 48,
             split: str = "train") -> Dataset:
    """`count` synthetic faces with labels and cue masks, reproducible from (seed, split).

    class_weights: None or "equal" (labels as equal as possible), "fer2013"
    (`FER2013_BALANCE`), or 7 non-negative weights in `CLASS_NAMES` order.
    """
    if not isinstance(count, (int, np.integer)) or count < 0:
        raise DataError(f"synthetic: count must be a non-negative integer, got {count!r}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DataError(f"synthetic: seed must be a non-negative integer, got {seed!r}")
    if not isinstance(size, (int, np.integer)) or size < 8:
        raise DataError(f"synthetic: size must be an integer >= 8, got {size!r}")
    weights = label_weights(class_weights)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), zlib.crc32(split.encode())]))
    labels = draw_labels(count, weights, rng)
    params = draw_params(labels, rng)
    bank = noise_bank(rng, size)
    images = np.empty((count, size, size), np.uint8)
    masks = np.empty((count, size, size), bool)
    for start in range(0, count, _CHUNK):
        part = slice(start, start + _CHUNK)
        images[part], masks[part] = render_faces({k: v[part] for k, v in params.items()}, size, bank)
    return Dataset(images, labels, CLASS_NAMES, split=split, source=f"synthetic(seed={seed})",
                   masks=masks, meta={"seed": int(seed), "generator_version": GENERATOR_VERSION})


# --------------------------------------------------------------------------- reader and figure


class SyntheticReader(Reader):
    """``synthetic[:count=6000,seed=0,balance=equal,val=1200,test=1200]``.

    count is the train split's size; val and test default to count // 5 each (0 leaves the split
    out); balance is ``equal`` or ``fer2013``. Each split mixes its name into the seed.
    """

    kind = "synthetic"
    summary = "procedurally drawn faces with ground-truth cue masks (no download)"
    location_optional = True
    options = ("count", "seed", "balance", "val", "test")

    def read(self, location: str, options: dict) -> dict[str, Dataset]:
        if location:
            raise DataError(f"synthetic data takes no location, only options "
                            f"({', '.join(self.options)}); got {location!r}")
        given = {k: v for k, v in options.items() if k != "skip_bad"}
        unknown = sorted(set(given) - set(self.options))
        if unknown:
            raise DataError(f"synthetic: unknown option(s) {', '.join(unknown)}; "
                            f"valid: {', '.join(self.options)}")
        count = _int_option(given, "count", 6000, minimum=1)
        seed = _int_option(given, "seed", 0, minimum=0)
        balance = str(given.get("balance", "equal"))
        if balance not in ("equal", "fer2013"):
            raise DataError(f"synthetic: option balance must be 'equal' or 'fer2013', "
                            f"got {balance!r}")
        sizes = {"train": count,
                 "val": _int_option(given, "val", count // 5, minimum=0),
                 "test": _int_option(given, "test", count // 5, minimum=0)}
        return {split: generate(n, seed, class_weights=balance, split=split)
                for split, n in sizes.items() if n > 0}


def _int_option(options: dict, key: str, default: int, minimum: int) -> int:
    value = options.get(key, default)
    try:
        number = int(str(value).strip())
    except ValueError:
        raise DataError(f"synthetic: option {key} must be an integer, got {value!r}") from None
    if number < minimum:
        raise DataError(f"synthetic: option {key} must be >= {minimum}, got {number}")
    return number


def render_examples(dataset: Dataset, path, per_class: int = 6, *, overwrite: bool = True) -> None:
    """Save a PNG of `per_class` faces per class, one row each; where the data has cue masks,
    a second row under each shows the same faces with their masks in red, so a person can check
    that the masks cover the parts that decide the class."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from ferviz.figures import save_figure

    if dataset.labels is None:
        raise DataError(f"{dataset.source}: render_examples needs labelled faces")
    if per_class < 1:
        raise DataError(f"render_examples: per_class must be >= 1, got {per_class}")
    rows = 1 if dataset.masks is None else 2
    names = dataset.class_names
    fig = Figure(figsize=(per_class + 0.8, rows * len(names)), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows * len(names), per_class, squeeze=False)
    for ax in axes.flat:
        ax.set_xticks([]), ax.set_yticks([]), ax.set_frame_on(False)
    red = np.zeros(dataset.images.shape[1:] + (4,), np.float32)
    red[..., 0] = 1.0
    for c, name in enumerate(names):
        axes[rows * c, 0].set_ylabel(name, rotation=0, ha="right", va="center")
        for j, i in enumerate(np.flatnonzero(dataset.labels == c)[:per_class]):
            for r in range(rows):
                axes[rows * c + r, j].imshow(dataset.images[i], cmap="gray", vmin=0, vmax=255)
            if rows == 2:
                red[..., 3] = 0.45 * dataset.masks[i]
                axes[rows * c + 1, j].imshow(red.copy())
    fig.subplots_adjust(left=0.8 / (per_class + 0.8), right=0.99, top=0.99, bottom=0.01,
                        wspace=0.05, hspace=0.05)
    save_figure(fig, Path(path), dpi="figure", overwrite=overwrite)
