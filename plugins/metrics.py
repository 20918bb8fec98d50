"""Built-in explanation-quality metrics: localisation, sanity checks, faithfulness.

Localisation (needs ground-truth cue masks, so synthetic faces only):

- ``pointing-game`` (Zhang et al., "Top-down Neural Attention by Excitation Backprop", 2016):
  is the map's maximum inside the cue mask? Ties are shared, so a constant map scores the mask's
  area share. A random map scores the mask's area share on average (the ``chance`` row).
- ``relevance-mass`` (Arras, Osman & Samek, "CLEVR-XAI", 2022): the share of the positive
  attribution that falls inside the mask. Chance: the mask's area share.

Sanity checks (Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018):

- ``model-randomisation``: on a deep copy of the model, re-initialise the weight layers one at a
  time from the logits down to the input (cascading; a layer's BatchNorm goes with it), and after
  each step take the Spearman rank correlation between the absolute maps and the original ones.
  The headline is the correlation after the whole network is random. A method whose maps
  survive that (mean Spearman above ``threshold``, 0.5 by default) does not depend on what the
  model learnt, and is flagged: it is showing the input (edges), not the model.
- ``label-randomisation``: the same correlation between the maps of the model and those of a
  model of the same architecture trained on shuffled labels (``checkpoint`` option, or
  ``ferviz assess --random-labels-checkpoint``); flagged above ``threshold`` too.

Faithfulness (any data; Petsiuk, Das & Saenko, "RISE", BMVC 2018):

- ``deletion``: replace pixels by the image's mean grey (``fill=mean``) or by a Gaussian-blurred
  copy (``fill=blur``) in order of decreasing attribution, in ``steps`` equal steps (20: 5 % of
  the pixels each), and watch the target's softmax probability (or logit); the area under that
  curve (fraction removed 0..1) is lower for a map that finds what matters first.
- ``insertion``: start from the blurred copy (``start=blur``, the default) or the mean grey and put
  the pixels back in the same order; the area is higher for a faithful map.

Pixels go in order of the attribution's value, most positive first (``order=value``): for a signed
map, negative evidence goes last. ``order=absolute`` ranks by magnitude instead, which suits
gradient-like maps whose sign says which way a pixel should move, not whether it matters.
A random map (the baseline row) gives a random order. All perturbed images of a metric go
through the model in batches (``batch_size``); ties in a map are broken in random (seeded) order
so that a flat map is not read in raster order.
"""

from __future__ import annotations

import numpy as np

from ferviz.assess import Metric
from ferviz.errors import CheckpointError
from ferviz.explain import Option, folded
from ferviz.assess.tools import (cascading_randomisation, curve_auc, dilate, mask_share, perturbation_curves,
                                  pointing_game, reference_pixels, relevance_mass, spearman)
from ferviz.registry import hookimpl


def spread_subset(n: int, k: int) -> np.ndarray:
    """`k` indices spread evenly over range(n) (all of them when k >= n)."""
    if k >= n:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, k).round().astype(np.int64))


def scatter(index: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """`values` at rows `index` of an (n, ...) array of NaN: per-image results of a subset."""
    out = np.full((n,) + values.shape[1:], np.nan)
    out[index] = values
    return out


class PointingGame(Metric):
    """Hit rate of the map's maximum inside the cue mask."""

    name = "pointing-game"
    summary = "Is the map's maximum inside the ground-truth cue mask? (Zhang et al. 2016)"
    needs_masks = True
    headline, higher_is_better = "hit", True
    options = (Option("tolerance", int, 0, "grow the mask by this many pixels before testing", min=0, max=24),)

    def score(self, model, images, targets, maps, masks, *, explain_fn):
        return {"hit": pointing_game(maps, masks, self.opts.tolerance),
                "chance": mask_share(dilate(masks, self.opts.tolerance))}


class RelevanceMass(Metric):
    """Share of the positive attribution inside the cue mask."""

    name = "relevance-mass"
    summary = "Share of positive attribution inside the ground-truth cue mask (Arras et al. 2022)."
    needs_masks = True
    headline, higher_is_better = "mass", True

    def score(self, model, images, targets, maps, masks, *, explain_fn):
        return {"mass": relevance_mass(maps, masks), "chance": mask_share(masks)}


_SANITY_THRESHOLD = Option("threshold", float, 0.5, "flag the method when the mean Spearman is above this",
                           min=-1.0, max=1.0)


class ModelRandomisation(Metric):
    """Spearman correlation of |maps| before and after cascading weight re-initialisation."""

    name = "model-randomisation"
    summary = "Sanity check: |map| rank correlation after re-initialising the model top-down (Adebayo 2018)."
    headline, higher_is_better = "spearman", False
    needs_eager = True  # re-initialises the network's layers one by one, by name
    options = (
        Option("images", int, 8, "images the cascade is run on (spread over the selection)", min=1),
        _SANITY_THRESHOLD,
    )
    quick_options = {"images": 2}

    @property
    def flag_above(self):
        return self.opts.threshold

    def score(self, model, images, targets, maps, masks, *, explain_fn):
        index = spread_subset(len(images), self.opts.images)
        original, after, layers = cascading_randomisation(model, images[index], targets[index], explain_fn,
                                                          seed=self.seed)
        cascade = np.stack([spearman(np.abs(original), np.abs(m)) for m in after], axis=1)  # (k, steps)
        full = scatter(index, cascade, len(images))
        return {"spearman": full[:, -1], "cascade": full, "layers": layers}


class LabelRandomisation(Metric):
    """Spearman correlation of |maps| of the model and of a model trained on shuffled labels."""

    name = "label-randomisation"
    summary = "Sanity check: |map| rank correlation with a model trained on shuffled labels (Adebayo 2018)."
    headline, higher_is_better = "spearman", False
    options = (
        Option("checkpoint", str, "", "checkpoint of the same kind of model trained on shuffled labels"),
        Option("images", int, 16, "images compared (spread over the selection)", min=1),
        _SANITY_THRESHOLD,
    )

    def __init__(self, **options):
        super().__init__(**options)
        self._other = None

    @property
    def flag_above(self):
        return self.opts.threshold

    def unavailable(self, *, has_masks):
        if not self.opts.checkpoint:
            return "needs a checkpoint trained on shuffled labels (--random-labels-checkpoint CKPT)"
        return None

    def other_model(self, model):
        """The random-labels model, loaded once, on `model`'s device, with the same classes."""
        if self._other is None:
            from ferviz.model import load_checkpoint

            other = load_checkpoint(self.opts.checkpoint, device=model.device)
            if tuple(other.class_names) != tuple(model.class_names):
                raise CheckpointError(f"random-labels checkpoint {self.opts.checkpoint}: classes "
                                      f"{list(other.class_names)} differ from the model's {list(model.class_names)}")
            self._other = other
        return self._other

    def score(self, model, images, targets, maps, masks, *, explain_fn):
        index = spread_subset(len(images), self.opts.images)
        mine = explain_fn(model, images[index], targets[index])
        theirs = explain_fn(self.other_model(model), images[index], targets[index])
        return {"spearman": scatter(index, spearman(np.abs(mine), np.abs(theirs)), len(images))}


def _curve_options(reference: str, choices: tuple[str, ...], default: str, help_: str) -> tuple[Option, ...]:
    return (
        Option("steps", int, 20, "equal steps from no pixel to all pixels", min=1, max=2304),
        Option(reference, str, default, help_, choices=choices),
        Option("blur_sigma", float, 5.0, "Gaussian sigma in pixels of the blurred copy", min=0.1, max=100.0),
        Option("score", str, "probability", "watched value of the target class", choices=("probability", "logit")),
        Option("order", str, "value", "pixel order: by attribution value (most positive first) or by |attribution|",
               choices=("value", "absolute")),
        Option("batch_size", int, 256, "perturbed images per forward pass", min=1),
    )


class _Perturbation(Metric):
    mode = ""
    reference_option = ""

    def score(self, model, images, targets, maps, masks, *, explain_fn):
        o = self.opts
        pixels = model.pixels(images)  # (N, C, S, S), 0-255
        reference = reference_pixels(pixels, getattr(o, self.reference_option), o.blur_sigma)
        order = np.abs(maps) if o.order == "absolute" else maps
        curves = perturbation_curves(folded(model), pixels, order, targets, mode=self.mode, reference=reference,
                                     steps=o.steps, score=o.score, batch_size=o.batch_size, seed=self.seed)
        return {"auc": curve_auc(curves), "curve": curves}


class Deletion(_Perturbation):
    """Area under the target score as the most-attributed pixels are removed first."""

    name = "deletion"
    summary = "Faithfulness: area under the target score as top-attributed pixels are removed (lower: better)."
    headline, higher_is_better = "auc", False
    mode, reference_option = "deletion", "fill"
    options = _curve_options("fill", ("mean", "blur"), "mean",
                             "what a removed pixel becomes: the image's mean grey or a blurred copy")
    quick_options = {"steps": 4}


class Insertion(_Perturbation):
    """Area under the target score as the most-attributed pixels are put back first."""

    name = "insertion"
    summary = "Faithfulness: area under the target score as top-attributed pixels are restored (higher: better)."
    headline, higher_is_better = "auc", True
    mode, reference_option = "insertion", "start"
    options = _curve_options("start", ("blur", "mean"), "blur",
                             "the image pixels are inserted into: a blurred copy or the mean grey")
    quick_options = {"steps": 4}


@hookimpl
def register_metrics(register):
    for metric in (PointingGame, RelevanceMass, ModelRandomisation, LabelRandomisation, Deletion, Insertion):
        register(metric)
