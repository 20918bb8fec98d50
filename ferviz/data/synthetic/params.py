"""The numbers that make each synthetic face, drawn for a whole set at once from one random stream:
the labels, the pose (head size, a shift of up to 5 pixels, in-plane rotation up to 18 degrees),
the identity, the photograph, the occluders and the expression, and the noise bank.

Identity (face width/height, jaw, eye spacing and size, brow thickness/length/arch, nose and
mouth position, mouth width, lip thickness, skin, hair) and the nuisances (background,
lighting, occluders, blur, noise: :mod:`.render`) are drawn per face independently of the class. The expression is a set of facial actions added to that rest
face, scaled by a per-face intensity (0.7-1.2), so weak expressions drift towards neutral:

========  =====================================================================  ==============
class     actions (FACS-like)                                                    cue mask
========  =====================================================================  ==============
angry     brows lowered, inner ends pulled down and in; eyes narrowed; lips      brows, eyes,
          pressed thin, corners slightly down                                    mouth
disgust   nose wrinkled, nostrils raised; upper lip raised into a squarish       nose, mouth
          opening, mostly showing teeth; corners down
fear      brows raised, inner ends raised and drawn in; eyes wide; mouth         brows, eyes,
          stretched wide, a little open, corners down                            mouth
happy     mouth corners up, wider; half of the smiles open with teeth            mouth
sad       inner brow ends raised; mouth corners down                             brows, mouth
surprise  brows raised high; eyes wide; mouth a round open "O"                   brows, eyes,
                                                                                 mouth
neutral   nothing (the rest face)                                                brows, eyes,
                                                                                 mouth
========  =====================================================================  ==============

Single cues are shared (raised brows and wide eyes: fear, surprise; inner brow ends moved:
angry, fear, sad; corners down: angry, disgust, fear, sad; an open mouth: disgust, fear, happy,
surprise; teeth: disgust, fear, happy), so only the configuration of parts decides.
"""

from __future__ import annotations

import numpy as np

from ferviz import FER2013_CLASSES
from ferviz.errors import DataError

CLASS_NAMES = FER2013_CLASSES

_FER2013_TRAIN_COUNTS = (3995, 436, 4097, 7215, 4830, 3171, 4965)
#: FER2013 training-set class frequencies, in `CLASS_NAMES` order.
FER2013_BALANCE = tuple(c / sum(_FER2013_TRAIN_COUNTS) for c in _FER2013_TRAIN_COUNTS)

_F = np.float32


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
                    curve=-0.9),
    "fear": dict(brow_raise=1.6, brow_inner=1.1, brow_in=1.0, eye_open=0.55, curve=-0.8,
                 mouth_up=0.7, mouth_low=1.3, width=0.3),
    "happy": dict(curve=2.9, width=0.12),  # plus an open smile on half of them (below)
    "sad": dict(brow_inner=1.9, brow_raise=0.2, curve=-2.3, width=-0.05),
    "surprise": dict(brow_raise=2.6, eye_open=0.6, mouth_up=2.0, mouth_low=3.0, width=-0.42),
    "neutral": {},
}
_BANK_FIELDS, _BANK_MARGIN = 16, 64  # noise bank: fields of (size + margin) squared pixels
_HAPPY_OPEN = dict(mouth_up=0.8, mouth_low=1.7)
_TEETH = {"disgust": 0.7, "fear": 0.5, "happy": 1.0}  # chance of visible teeth when open


def label_weights(class_weights) -> np.ndarray:
    """One weight per class from `generate`'s `class_weights` (None, "equal", "fer2013" or 7 numbers)."""
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
    valid = w.shape == (len(CLASS_NAMES),) and np.all(np.isfinite(w)) and (w >= 0).all()
    if not valid or w.sum() <= 0:
        raise DataError(f"synthetic: class weights must be {len(CLASS_NAMES)} non-negative numbers "
                        f"with a positive sum, got {class_weights!r}")
    return w


def draw_labels(count: int, weights: np.ndarray, rng) -> np.ndarray:
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


class _Draw:
    """Vectorised draws of one number per face, in float32."""

    def __init__(self, rng, n: int):
        self.rng, self.n = rng, n

    def uni(self, lo, hi):
        return self.rng.uniform(lo, hi, self.n).astype(_F)

    def nrm(self, mean, sd, lo=-np.inf, hi=np.inf):
        return (mean + sd * self.rng.standard_normal(self.n)).clip(lo, hi).astype(_F)

    def chance(self, p):
        return (self.rng.random(self.n) < p).astype(_F)


def draw_params(labels: np.ndarray, rng) -> dict[str, np.ndarray]:
    """Every per-face number: pose, identity, photograph, occluders and the expression.

    Only the expression depends on the labels, and only through its class actions: everything
    else (jitter included) is drawn the same way whatever the labels, so the same seed with
    other labels gives the same rest faces, now showing other expressions.
    """
    d = _Draw(rng, len(labels))
    p = {**_identity(d), **_photo(d), **_occluder_params(d)}
    p["bg_grid"] = rng.standard_normal((d.n, 6, 6)).astype(_F)
    p["skin_grid"] = rng.standard_normal((d.n, 8, 8)).astype(_F)
    p.update(_expression(labels, p, rng))
    p["label"] = labels
    return p


def _identity(d: _Draw) -> dict:
    """Pose (face-frame pixels, radians) and the rest face of one person."""
    return {
        "scale": d.uni(0.9, 1.2), "tx": d.nrm(0, 2.2, -5, 5), "ty": d.nrm(1.0, 2.0, -4, 6),
        "rot": np.radians(d.nrm(0, 8, -18, 18)),
        "fw": d.nrm(15.5, 0.9), "fh": d.nrm(19.5, 0.8), "jaw": d.uni(0.12, 0.38),
        "neck_w": d.nrm(7.5, 0.8), "skin": d.uni(0.3, 0.85), "skin_tex": d.uni(0, 0.07),
        "hair": d.uni(0.03, 0.6), "hair_amount": d.chance(0.88) * d.uni(0.7, 1.0),
        "hairline": d.nrm(-11.5, 1.2), "long_hair": d.chance(0.45) * d.uni(0.8, 1.0),
        "hair_end": d.uni(0, 22),
        "ex": d.nrm(6.3, 0.4), "ey": d.nrm(-2.5, 0.6),
        "ew": d.nrm(3.4, 0.25), "eh": d.nrm(1.55, 0.12),
        "iris": d.nrm(1.45, 0.1), "gaze_x": d.nrm(0, 0.35, -0.7, 0.7), "gaze_y": d.nrm(0, 0.15),
        "eye_dark": d.uni(0.03, 0.3),
        "brow_gap": d.nrm(3.9, 0.35), "brow_x": d.nrm(2.5, 0.3), "brow_len": d.nrm(6.6, 0.5),
        "brow_t": d.uni(1.2, 2.2), "brow_arch": d.nrm(0.8, 0.3), "brow_dark": d.uni(0.25, 0.6),
        "ny": d.nrm(5.0, 0.6), "my": d.nrm(10.6, 0.6), "mw": d.nrm(5.3, 0.4),
        "lip_t": d.nrm(1.0, 0.12), "lip_dark": d.uni(0.55, 0.8),
        "intensity": d.uni(0.7, 1.2), "happy_open": d.chance(0.5), "teeth_roll": d.uni(0, 1),
    }


def _photo(d: _Draw) -> dict:
    """Background, lighting, contrast, blur and noise (intensities on a 0-1 scale)."""
    return {
        "bg": d.uni(0.05, 0.95), "bg_gx": d.nrm(0, 0.15), "bg_gy": d.nrm(0, 0.15),
        "bg_tex": d.uni(0, 0.25), "light_dir": d.uni(0, 2 * np.pi), "light": d.uni(0, 0.45),
        "contrast": d.uni(0.6, 1.25), "bright": d.nrm(0, 0.07),
        "blur": d.chance(0.3) * d.uni(0.3, 1),
        "noise": d.uni(0.005, 0.05) * (2 * d.chance(0.5) - 1),
        "noise_k": d.rng.integers(0, _BANK_FIELDS, d.n),
        "noise_y": d.rng.integers(0, _BANK_MARGIN + 1, d.n),
        "noise_x": d.rng.integers(0, _BANK_MARGIN + 1, d.n),
    }


def _occluder_params(d: _Draw) -> dict:
    """Glasses (face frame), a hand-like patch and a bar (image frame, pixels from the centre)."""
    return {
        "glasses": d.chance(0.12), "glasses_tint": d.chance(0.4) * d.uni(0, 0.5),
        "hand": d.chance(0.12), "hand_x": d.nrm(0, 12), "hand_y": d.nrm(10, 8),
        "hand_r": d.uni(5, 9), "hand_angle": d.uni(0, np.pi),
        "bar": d.chance(0.12), "bar_d": d.nrm(0, 12), "bar_angle": d.uni(0, np.pi),
        "bar_w": d.uni(1.2, 4), "bar_tone": d.uni(0, 1),
    }


def _expression(labels, p, rng) -> dict[str, np.ndarray]:
    n = len(labels)
    out = {}
    for name, (rest, jitter) in _REST.items():
        delta = np.array([_ACTIONS[c].get(name, 0.0) for c in CLASS_NAMES], _F)[labels]
        if name in _HAPPY_OPEN:
            happy = labels == CLASS_NAMES.index("happy")
            delta = delta + _HAPPY_OPEN[name] * p["happy_open"] * happy
        out[name] = (rest + jitter * rng.standard_normal(n) + p["intensity"] * delta).astype(_F)
    for name in ("mouth_up", "mouth_low", "press", "wrinkle", "square"):
        out[name] = out[name].clip(0, 1 if name in ("press", "square") else None)
    chance = np.array([_TEETH.get(c, 0.0) for c in CLASS_NAMES], _F)[labels]
    out["teeth"] = (p["teeth_roll"] < chance).astype(_F)
    return out


def noise_bank(rng, size: int) -> np.ndarray:
    """Noise fields; each face takes a window at its own offset (chunk-independent noise)."""
    side = size + _BANK_MARGIN
    return rng.standard_normal((_BANK_FIELDS, side, side)).astype(_F)
