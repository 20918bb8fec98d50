"""The embedded data set: procedurally drawn 48x48 faces with ground-truth cue masks.

`ferviz train` runs with no download because faces are drawn on the fly from a seed. Every face
is built from analytic shapes evaluated in a *face frame* (u to the right, v down, in pixels of
a 48-pixel image at head scale 1), then mapped into the image by one similarity transform per
face (head size, a shift of a few pixels, in-plane rotation). All drawing is numpy array
arithmetic over a chunk of faces at once; left/right parts are drawn once with |u|.

The face model, back to front:

- background: a level, a linear gradient and smooth blotches (a random 6x6 grid upsampled);
- neck, ears, the head (an ellipse whose lower half narrows into a jaw, shaded darker towards
  its rim, with faint skin blotches), hair above a curved hairline (some faces are bald);
- brows (tapered thick strokes with an arch), eyes (sclera, iris, dark lid rim), nose
  (nostrils, tip shadow, optional wrinkles across the bridge), mouth (lips along a parabola
  whose corners rise or fall, optionally opened into a dark cavity, optionally with teeth);
- occluders on some faces: glasses (face frame), a hand-like patch and a bar (image frame);
- the photograph: lighting gradient, contrast and brightness, blur, sensor noise.

Identity (face width/height, jaw, eye spacing and size, brow thickness/length/arch, nose and
mouth position, mouth width, lip thickness, skin, hair) and the nuisances above are drawn per
face independently of the class. The expression is a set of facial actions added to that rest
face, scaled by a per-face intensity (0.6-1.15), so weak expressions drift towards neutral:

========  =====================================================================  ==============
class     actions (FACS-like)                                                    cue mask
========  =====================================================================  ==============
angry     brows lowered, inner ends pulled down and in; eyes narrowed; lips      brows, eyes,
          pressed thin, corners slightly down                                    mouth
disgust   nose wrinkled, nostrils raised; upper lip raised into a squarish       nose, mouth
          opening showing teeth; corners down
fear      brows raised, inner ends raised and drawn in; eyes wide; mouth         brows, eyes,
          stretched wide, a little open, corners down                            mouth
happy     mouth corners up, wider; half of the smiles open with teeth            mouth
sad       inner brow ends raised; mouth corners down                             brows, mouth
surprise  brows raised high and arched; eyes wide; mouth a round open "O"        brows, eyes,
                                                                                 mouth
neutral   nothing (the rest face)                                                brows, eyes,
                                                                                 mouth
========  =====================================================================  ==============

So several classes share single cues (wide eyes: fear and surprise; lowered brows and corners
down: angry, disgust, sad) and only the configuration of parts decides. The cue mask of a face
holds the pixels of the parts its class moves (for neutral: every expressive part, at rest),
each part's footprint grown by about a pixel, minus pixels hidden by an opaque occluder.
An occluder that would hide more than half of any part is left out, so a mask is never empty.

Randomness: all per-face parameters are drawn up front for the whole set from
``SeedSequence([seed, crc32(split)])``, and pixel noise comes from windows of a noise bank made
from the same stream, so the output does not depend on the chunking, and two splits of one seed
never share a face.
"""

from __future__ import annotations

import os
import tempfile
import zlib
from functools import lru_cache
from pathlib import Path

import numpy as np

from ferviz import FER2013_CLASSES
from ferviz.data import Dataset
from ferviz.data.sources import Reader
from ferviz.errors import DataError

CLASS_NAMES = FER2013_CLASSES

_FER2013_TRAIN_COUNTS = (3995, 436, 4097, 7215, 4830, 3171, 4965)
#: FER2013 training-set class frequencies, in `CLASS_NAMES` order.
FER2013_BALANCE = tuple(c / sum(_FER2013_TRAIN_COUNTS) for c in _FER2013_TRAIN_COUNTS)

#: Bumped whenever the same seed starts drawing different faces.
GENERATOR_VERSION = 1

_CHUNK = 256
_F = np.float32
_PARTS = ("brows", "eyes", "nose", "mouth")
CUE_PARTS = {
    "angry": ("brows", "eyes", "mouth"),
    "disgust": ("nose", "mouth"),
    "fear": ("brows", "eyes", "mouth"),
    "happy": ("mouth",),
    "sad": ("brows", "mouth"),
    "surprise": ("brows", "eyes", "mouth"),
    "neutral": ("brows", "eyes", "mouth"),
}

# Expression parameters: value = rest + jitter * N(0, 1) + intensity * action[class].
# Lengths are face-frame pixels (v grows downwards); eye_open and width are factors.
_REST = {  # name: (rest value, jitter)
    "brow_raise": (0.0, 0.45),  # whole brow moves up
    "brow_inner": (0.0, 0.35),  # inner end moves up (negative: down)
    "brow_in": (0.0, 0.3),  # inner end moves towards the midline
    "eye_open": (1.0, 0.08),  # eye height factor
    "curve": (0.0, 0.35),  # mouth corners up relative to the centre
    "mouth_up": (0.0, 0.25),  # opening above the lip line
    "mouth_low": (0.0, 0.25),  # opening below the lip line
    "width": (1.0, 0.06),  # mouth width factor
    "press": (0.0, 0.05),  # lip thinning (0..1)
    "square": (0.0, 0.0),  # upper-lip profile: 0 round, 1 square
    "wrinkle": (0.0, 0.0),  # nose wrinkle strength
    "nostril_up": (0.0, 0.2),
}
_ACTIONS = {
    "angry": dict(brow_raise=-1.4, brow_inner=-1.5, brow_in=1.1, eye_open=-0.32, curve=-0.5,
                  width=-0.1, press=0.6),
    "disgust": dict(wrinkle=1.0, nostril_up=0.9, mouth_up=1.8, mouth_low=0.4, square=1.0,
                    curve=-0.9, eye_open=-0.1),
    "fear": dict(brow_raise=1.6, brow_inner=1.1, brow_in=1.0, eye_open=0.55, curve=-0.8,
                 mouth_up=0.7, mouth_low=1.3, width=0.3),
    "happy": dict(curve=2.6, width=0.12),  # plus an open smile on half of them (below)
    "sad": dict(brow_inner=1.7, brow_raise=0.2, curve=-2.1, width=-0.05),
    "surprise": dict(brow_raise=2.6, eye_open=0.6, mouth_up=2.0, mouth_low=3.0, width=-0.42),
    "neutral": {},
}
_HAPPY_OPEN = dict(mouth_up=0.8, mouth_low=1.7)
_TEETH = {"disgust": 1.0, "fear": 0.5, "happy": 1.0}  # chance of visible teeth when open


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
    weights = _weights(class_weights)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), zlib.crc32(split.encode())]))
    labels = _labels(count, weights, rng)
    params = _draw_params(labels, rng)
    bank = _noise_bank(rng, size)
    images = np.empty((count, size, size), np.uint8)
    masks = np.empty((count, size, size), bool)
    for start in range(0, count, _CHUNK):
        part = slice(start, start + _CHUNK)
        images[part], masks[part] = _render({k: v[part] for k, v in params.items()}, size, bank)
    return Dataset(images, labels, CLASS_NAMES, split=split, source=f"synthetic(seed={seed})",
                   masks=masks, meta={"seed": int(seed), "generator_version": GENERATOR_VERSION})


def _weights(class_weights) -> np.ndarray:
    if class_weights is None or (isinstance(class_weights, str) and class_weights == "equal"):
        return np.ones(len(CLASS_NAMES))
    if isinstance(class_weights, str):
        if class_weights == "fer2013":
            return np.array(FER2013_BALANCE)
        raise DataError(f"synthetic: class weights {class_weights!r}: use 'equal', 'fer2013' "
                        f"or {len(CLASS_NAMES)} numbers")
    try:
        w = np.asarray(class_weights, dtype=float)
    except (TypeError, ValueError):
        w = np.empty(0)
    if w.shape != (len(CLASS_NAMES),) or not np.all(np.isfinite(w)) or (w < 0).any() or w.sum() <= 0:
        raise DataError(f"synthetic: class weights must be {len(CLASS_NAMES)} non-negative numbers "
                        f"with a positive sum, got {class_weights!r}")
    return w


def _labels(count: int, weights: np.ndarray, rng) -> np.ndarray:
    """Shuffled labels with class counts as close to count * weights as integers allow."""
    exact = count * weights / weights.sum()
    counts = np.floor(exact).astype(np.int64)
    short = count - counts.sum()
    # largest remainders first; ties (equal weights) broken at random, not towards class 0
    order = np.lexsort((rng.random(len(weights)), -(exact - counts)))
    counts[order[:short]] += 1
    labels = np.repeat(np.arange(len(weights), dtype=np.int64), counts)
    rng.shuffle(labels)
    return labels


def _draw_params(labels: np.ndarray, rng) -> dict[str, np.ndarray]:
    """Every per-face number: identity, pose, photo, occluders and the expression.

    Only the expression depends on the labels; everything else (jitter included) is drawn the
    same way whatever the labels, so faces of different classes can share one rest face.
    """
    n = len(labels)
    uni = lambda lo, hi: rng.uniform(lo, hi, n).astype(_F)  # noqa: E731
    nrm = lambda mu, sd: (mu + sd * rng.standard_normal(n)).astype(_F)  # noqa: E731
    p = {
        # pose
        "scale": uni(0.84, 1.12), "tx": nrm(0, 1.6).clip(-3.5, 3.5), "ty": nrm(1.5, 1.6).clip(-2, 5),
        "rot": np.radians(nrm(0, 8).clip(-18, 18)),
        # identity
        "fw": nrm(15.5, 0.9), "fh": nrm(19.5, 0.8), "jaw": uni(0.12, 0.38),
        "skin": uni(0.3, 0.85), "hair": uni(0.03, 0.6), "hair_amount": (rng.random(n) > 0.12) * uni(0.7, 1.0),
        "hairline": nrm(-11.5, 1.2), "neck_w": nrm(7.5, 0.8),
        "ex": nrm(6.3, 0.4), "ey": nrm(-2.5, 0.6), "ew": nrm(3.4, 0.25), "eh": nrm(1.55, 0.12),
        "iris": nrm(1.45, 0.1), "gaze_x": nrm(0, 0.35).clip(-0.7, 0.7), "gaze_y": nrm(0, 0.15),
        "eye_dark": uni(0.03, 0.3),
        "brow_gap": nrm(3.9, 0.35), "brow_x": nrm(2.5, 0.3), "brow_len": nrm(6.6, 0.5),
        "brow_t": uni(1.2, 2.2), "brow_arch": nrm(0.8, 0.3), "brow_dark": uni(0.25, 0.6),
        "ny": nrm(5.0, 0.6), "my": nrm(10.6, 0.6), "mw": nrm(5.3, 0.4), "lip_t": nrm(1.0, 0.12),
        "lip_dark": uni(0.55, 0.8), "intensity": uni(0.6, 1.15),
        "happy_open": (rng.random(n) < 0.5).astype(_F), "teeth_roll": uni(0, 1),
        # photograph
        "bg": uni(0.05, 0.95), "bg_gx": nrm(0, 0.15), "bg_gy": nrm(0, 0.15), "bg_tex": uni(0, 0.25),
        "skin_tex": uni(0, 0.07), "light_dir": uni(0, 2 * np.pi), "light": uni(0, 0.45),
        "contrast": uni(0.6, 1.25), "bright": nrm(0, 0.07), "blur": (rng.random(n) < 0.3) * uni(0.3, 1),
        "noise": uni(0.005, 0.05) * rng.choice(np.array([-1, 1], _F), n),
        "noise_k": rng.integers(0, 16, n), "noise_y": rng.integers(0, 65, n), "noise_x": rng.integers(0, 65, n),
        # occluders
        "glasses": (rng.random(n) < 0.12).astype(_F), "glasses_tint": uni(0, 0.6) * (rng.random(n) < 0.4),
        "hand": (rng.random(n) < 0.12).astype(_F), "hand_x": nrm(0, 12), "hand_y": nrm(10, 8),
        "hand_r": uni(5, 9), "hand_angle": uni(0, np.pi),
        "bar": (rng.random(n) < 0.12).astype(_F), "bar_d": nrm(0, 12), "bar_angle": uni(0, np.pi),
        "bar_w": uni(1.2, 4), "bar_tone": uni(0, 1),
    }
    p["bg_grid"] = rng.standard_normal((n, 6, 6)).astype(_F)
    p["skin_grid"] = rng.standard_normal((n, 8, 8)).astype(_F)
    p.update(_expression(labels, p, rng))
    return p


def _expression(labels, p, rng) -> dict[str, np.ndarray]:
    n = len(labels)
    out = {}
    for name, (rest, jitter) in _REST.items():
        delta = np.array([_ACTIONS[c].get(name, 0.0) for c in CLASS_NAMES], _F)[labels]
        if name in _HAPPY_OPEN:
            delta = delta + _HAPPY_OPEN[name] * p["happy_open"] * (labels == CLASS_NAMES.index("happy"))
        out[name] = (rest + jitter * rng.standard_normal(n) + p["intensity"] * delta).astype(_F)
    for name in ("mouth_up", "mouth_low", "press", "wrinkle", "square"):
        out[name] = out[name].clip(0, 1 if name in ("press", "square") else None)
    chance = np.array([_TEETH.get(c, 0.0) for c in CLASS_NAMES], _F)[labels]
    out["teeth"] = (p["teeth_roll"] < chance).astype(_F)
    return out


def _noise_bank(rng, size: int) -> np.ndarray:
    """16 noise fields; each face takes a window at its own offset (chunk-independent noise)."""
    return rng.standard_normal((16, size + 64, size + 64)).astype(_F)
