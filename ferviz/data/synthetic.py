"""The embedded data set: procedurally drawn 48x48 faces with ground-truth cue masks.

`ferviz train` runs with no download because faces are drawn on the fly from a seed. Every face
is built from analytic shapes evaluated in a *face frame* (u to the right, v down, in pixels of
a 48-pixel image at head scale 1), then mapped into the image by one similarity transform per
face (head size, a shift of up to 5 pixels, in-plane rotation up to 18 degrees). All drawing
is numpy array arithmetic over a chunk of faces at once; left/right parts are drawn once, with
|u|.

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

The cue mask of a face holds the pixels of the parts its class moves (for neutral: every
expressive part, at rest), each part's footprint grown by about a pixel, minus pixels hidden by
an opaque occluder. An occluder that would hide more than half of any part is left out, so a
mask is never empty. Parts outside the mask are exactly those of the same face at rest.

Randomness: all per-face parameters are drawn up front for the whole set from
``SeedSequence([seed, crc32(split)])``, and pixel noise comes from windows of a noise bank made
from the same stream, so the output does not depend on the chunking, and the splits of one seed
come from independent streams.
"""

from __future__ import annotations

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

_CHUNK = 32  # faces drawn at once: small enough for the arrays to stay in cache
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
    valid = w.shape == (len(CLASS_NAMES),) and np.all(np.isfinite(w)) and (w >= 0).all()
    if not valid or w.sum() <= 0:
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


def _draw_params(labels: np.ndarray, rng) -> dict[str, np.ndarray]:
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


def _noise_bank(rng, size: int) -> np.ndarray:
    """Noise fields; each face takes a window at its own offset (chunk-independent noise)."""
    side = size + _BANK_MARGIN
    return rng.standard_normal((_BANK_FIELDS, side, side)).astype(_F)


# --------------------------------------------------------------------------- drawing


def _col(a: np.ndarray) -> np.ndarray:
    """A per-face vector as an (n, 1, 1) array that broadcasts over the pixels."""
    return a[:, None, None]


def _cover(dist, pix) -> np.ndarray:
    """Anti-aliased coverage (0..1) from a signed distance in face units (positive inside)."""
    a = dist * pix
    a += 0.5
    return np.clip(a, 0.0, 1.0, out=a)


def _paint(img, alpha, value) -> None:
    """Blend `value` over `img` in place with opacity `alpha`."""
    img += alpha * (value - img)


@lru_cache(maxsize=8)
def _upsampler(size: int, cells: int) -> np.ndarray:
    """(size, cells) matrix that spreads a cells x cells grid smoothly over size x size pixels."""
    pos = np.linspace(-0.5, cells - 0.5, size)[:, None]
    m = np.exp(-0.5 * ((pos - np.arange(cells)) / 0.7) ** 2)
    return (m / m.sum(1, keepdims=True)).astype(_F)


def _render(p: dict, size: int, bank: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images and bool cue masks, (n, size, size) each, for one chunk of parameters."""
    unit = 48.0 / size  # the face model is laid out on a 48-pixel image
    grid = (np.arange(size, dtype=_F) - (size - 1) / 2) * unit
    x, y = grid[None, None, :], grid[None, :, None]
    pix = _col(p["scale"] / unit)  # image pixels per face-frame unit
    u, v = _face_frame(p, x, y)
    au = np.abs(u)
    img = _background(p, x, y, size)
    _head(img, u, au, v, p, pix, size)
    footprints = {
        "brows": _brows(img, au, v, p, pix),
        "eyes": _eyes(img, u, au, v, p, pix),
        "nose": _nose(img, u, au, v, p, pix),
        "mouth": _mouth(img, u, v, p, pix),
    }
    occluders = _occluders(p, u, au, v, x, y, pix, unit)
    keep, hidden = _keep_occluders(occluders, footprints)
    for idx, alpha, tone in occluders:
        patch = img[idx]
        _paint(patch, alpha * _col(keep[idx]), tone)
        img[idx] = patch
    masks = _cue_masks(p["label"], footprints) & ~hidden
    _photograph(img, p, x, y, bank, size, unit)
    np.clip(img, 0.0, 1.0, out=img)
    img *= 255.0
    img += 0.5
    return img.astype(np.uint8), masks


def _face_frame(p, x, y) -> tuple[np.ndarray, np.ndarray]:
    """Face-frame coordinates (u right, v down, head scale 1) of every pixel of every face."""
    cos, sin = _col(np.cos(p["rot"]) / p["scale"]), _col(np.sin(p["rot"]) / p["scale"])
    xs, ys = x - _col(p["tx"]), y - _col(p["ty"])  # (n, 1, W), (n, H, 1)
    return cos * xs + sin * ys, cos * ys - sin * xs


def _background(p, x, y, size) -> np.ndarray:
    up = _upsampler(size, 6)
    img = up @ p["bg_grid"] @ up.T
    img *= _col(p["bg_tex"])
    img += _col(p["bg"]) + _col(p["bg_gx"]) * (x / 24) + _col(p["bg_gy"]) * (y / 24)
    return img


def _head(img, u, au, v, p, pix, size) -> None:
    """Neck, ears, the shaded and blotchy face, and hair, painted over the background."""
    fw, fh, skin = _col(p["fw"]), _col(p["fh"]), _col(p["skin"])
    back = 1 - (u / (1.28 * fw)) ** 2 - ((v + 1) / (1.08 * fh)) ** 2
    back = _cover(back * (0.5 * fw), pix) * _cover(_col(p["hair_end"]) - v, pix)
    _paint(img, back * _col(p["long_hair"]), _col(p["hair"]))
    neck = _cover(_col(p["neck_w"]) - au, pix) * _cover(v - 0.45 * fh, pix)
    _paint(img, neck, skin * 0.72)
    ear = ((au - 0.97 * fw) / 2.1) ** 2 + ((v - _col(p["ey"]) - 1.5) / 3.9) ** 2
    _paint(img, _cover(1 - ear, pix), skin * 0.85)
    vn = v / fh
    jaw = 1 - _col(p["jaw"]) * np.clip(vn, 0, 1) ** 2
    q = (u / (fw * jaw)) ** 2 + vn * vn
    up = _upsampler(size, 8)
    shade = up @ p["skin_grid"] @ up.T
    shade *= _col(p["skin_tex"])
    shade += 1.08 - 0.28 * q
    _paint(img, _cover((1 - q) * (0.5 * fw), pix), skin * shade)
    hairline = _col(p["hairline"]) + 5.0 * (u / fw) ** 2
    hair = _cover((1.12 - q) * (0.5 * fw), pix) * _cover(hairline - v, pix)
    _paint(img, hair * _col(p["hair_amount"]), _col(p["hair"]))


def _brows(img, au, v, p, pix) -> np.ndarray:
    """Tapered, arched strokes from an inner to an outer end; returns their footprint."""
    c = lambda name: _col(p[name])  # noqa: E731
    y0 = c("ey") - c("brow_gap") - c("brow_raise")
    x_in = np.maximum(c("brow_x") - c("brow_in"), 0.4)
    y_in = y0 - c("brow_inner")
    dx = c("brow_x") + c("brow_len") - 0.3 * c("brow_in") - x_in
    dy = y0 + 0.5 - y_in  # the outer end sits a little lower
    t = ((au - x_in) * dx + (v - y_in) * dy) / (dx * dx + dy * dy)
    np.clip(t, 0.0, 1.0, out=t)
    px = au - x_in - t * dx
    py = v - y_in - t * dy + c("brow_arch") * 4 * t * (1 - t)
    dist = np.sqrt(px * px + py * py)
    half = c("brow_t") * (0.5 - 0.2 * t)
    _paint(img, _cover(half - dist, pix), c("skin") * c("brow_dark"))
    return dist < half + 1.0


def _eyes(img, u, au, v, p, pix) -> np.ndarray:
    """Lid rim, sclera and iris of both eyes; returns their footprint."""
    c = lambda name: _col(p[name])  # noqa: E731
    eh = c("eh") * np.maximum(c("eye_open"), 0.35)
    du, dv = au - c("ex"), v - c("ey")
    dist = (1 - (du / c("ew")) ** 2 - (dv / eh) ** 2) * (0.5 * eh)
    sclera = _cover(dist, pix)
    _paint(img, _cover(dist + 0.7, pix), c("skin") * 0.45)
    _paint(img, sclera, np.minimum(c("skin") + 0.3, 0.95))
    iris = np.sqrt((du - c("gaze_x") * np.sign(u)) ** 2 + (dv - c("gaze_y")) ** 2)
    _paint(img, _cover(c("iris") - iris, pix) * sclera, c("eye_dark"))
    return dist > -1.0


def _nose(img, u, au, v, p, pix) -> np.ndarray:
    """Nostrils, a soft shadow under the tip, wrinkles across the bridge; returns the footprint."""
    c = lambda name: _col(p[name])  # noqa: E731
    ny = c("ny") - 0.5 * c("nostril_up")
    shadow = 1 - (u / 2.8) ** 2 - ((v - ny - 0.4) / 1.3) ** 2
    _paint(img, 0.35 * _cover(shadow * 0.6, pix), c("skin") * 0.8)
    nostrils = 1 - ((au - 1.7) / 0.95) ** 2 - ((v - ny) / 0.65) ** 2
    _paint(img, _cover(nostrils * 0.35, pix), c("skin") * 0.45)
    idx = np.flatnonzero(p["wrinkle"] > 0.02)
    if idx.size:
        sub = lambda name: p[name][idx, None, None]  # noqa: E731
        uu, vv = u[idx], v[idx]
        phase = (vv - sub("ey") - 1.0 + 0.12 * uu * uu) / 1.4  # three curved lines, 1.4 apart
        lines = np.maximum(np.cos(2 * np.pi * phase), 0)
        band = _cover(phase + 0.3, 1.4) * _cover(2.3 - phase, 1.4) * _cover(2.8 - np.abs(uu), 1.0)
        patch = img[idx]
        _paint(patch, lines * band * np.minimum(sub("wrinkle"), 1), sub("skin") * 0.35)
        img[idx] = patch
    return (au < 3.4) & (v > c("ey") + 0.6) & (v < ny + 1.5)


def _mouth(img, u, v, p, pix) -> np.ndarray:
    """Lips along a parabola through the corners, a cavity, teeth; returns the footprint."""
    c = lambda name: _col(p[name])  # noqa: E731
    mw = c("mw") * c("width")
    s = u / mw
    s2 = s * s
    rounded = np.sqrt(np.clip(1 - s2, 0, 1))  # opening profile across the mouth
    upper = rounded + c("square") * (np.sqrt(rounded) - rounded)
    dv = v - c("my") + c("curve") * s2  # corners move up by `curve`
    gap = np.where(dv < 0, c("mouth_up") * upper, c("mouth_low") * rounded)
    adv = np.abs(dv)
    lip = c("lip_t") * (1 - c("press")) * (0.3 + 0.7 * rounded) + 0.25
    lips = _cover(gap + lip - adv, pix) * _cover((1.06 - np.abs(s)) * mw, pix)
    _paint(img, lips, c("skin") * c("lip_dark") * (1 - 0.3 * c("press")))
    cavity = _cover(gap - adv, pix) * np.clip(gap * (2 * pix), 0, 1)  # no seam where gap is 0
    _paint(img, cavity, 0.08)
    _paint(img, cavity * _cover(-dv, pix) * c("teeth"), np.maximum(c("skin") + 0.2, 0.8))
    return (adv < gap + lip + 1.2) & (np.abs(s) < 1.06 + 1.2 / mw)


_OPAQUE = 0.6  # occluder opacity above which a pixel counts as hidden


def _occluders(p, u, au, v, x, y, pix, unit) -> list:
    """(face indices, opacity, tone) of the glasses, hands and bars of this chunk."""
    out = []
    idx = np.flatnonzero(p["glasses"])
    if idx.size:
        sub = lambda name: p[name][idx, None, None]  # noqa: E731
        aa, vv, px = au[idx], v[idx] - sub("ey"), pix[idx]
        rx, ry = sub("ew") + 1.4, sub("eh") + 1.9
        q = ((aa - sub("ex")) / rx) ** 2 + (vv / ry) ** 2
        frame = _cover(0.55 - np.abs(1 - q) * (0.5 * ry), px)
        bridge = _cover(0.5 - np.abs(vv + 0.6), px) * (aa < sub("ex") - rx + 0.6)
        lens = _cover((1 - q) * (0.5 * ry), px) * sub("glasses_tint")
        out.append((idx, np.maximum(np.maximum(frame, bridge), lens), 0.08 + 0.1 * sub("hair")))
    idx = np.flatnonzero(p["hand"])
    if idx.size:
        sub = lambda name: p[name][idx, None, None]  # noqa: E731
        cos, sin = np.cos(sub("hand_angle")), np.sin(sub("hand_angle"))
        hx, hy = x - sub("hand_x"), y - sub("hand_y")
        along, across = cos * hx + sin * hy, cos * hy - sin * hx
        r = sub("hand_r")
        alpha = _cover((1 - (along / (1.5 * r)) ** 2 - (across / r) ** 2) * (0.5 * r), 1 / unit)
        fingers = 0.92 + 0.1 * np.cos(2 * np.pi * across / 3.2)  # knuckle-like stripes
        out.append((idx, alpha, sub("skin") * fingers))
    idx = np.flatnonzero(p["bar"])
    if idx.size:
        sub = lambda name: p[name][idx, None, None]  # noqa: E731
        off = np.cos(sub("bar_angle")) * x + np.sin(sub("bar_angle")) * y - sub("bar_d")
        alpha = _cover(0.5 * sub("bar_w") - np.abs(off), 1 / unit)
        out.append((idx, alpha, sub("bar_tone")))
    return out


def _keep_occluders(occluders, footprints) -> tuple[np.ndarray, np.ndarray]:
    """Which faces keep their occluders (none hides over half of a part), and hidden pixels."""
    hidden = np.zeros_like(footprints["mouth"])
    for idx, alpha, _ in occluders:
        hidden[idx] |= alpha > _OPAQUE
    keep = np.ones(len(hidden), bool)
    for part in footprints.values():
        keep &= 2 * (part & hidden).sum((1, 2)) <= part.sum((1, 2))
    return keep, hidden & _col(keep)


_CUE_TABLE = np.array([[part in CUE_PARTS[c] for part in _PARTS] for c in CLASS_NAMES])


def _cue_masks(labels, footprints) -> np.ndarray:
    uses = _CUE_TABLE[labels]  # (n, parts)
    mask = np.zeros_like(footprints["mouth"])
    for j, part in enumerate(_PARTS):
        mask |= footprints[part] & _col(uses[:, j])
    return mask


def _photograph(img, p, x, y, bank, size, unit) -> None:
    """Lighting gradient, contrast, brightness, blur and sensor noise, in place."""
    c = lambda name: _col(p[name])  # noqa: E731
    light = c("light") / 24
    img *= 1 + (light * np.cos(c("light_dir"))) * x + (light * np.sin(c("light_dir"))) * y
    img -= 0.5
    img *= c("contrast")
    img += 0.5 + c("bright")
    idx = np.flatnonzero(p["blur"])
    if idx.size:
        patch = img[idx]
        _paint(patch, p["blur"][idx, None, None], _blur3(patch))
        img[idx] = patch
    windows = np.lib.stride_tricks.sliding_window_view(bank, (size, size), axis=(1, 2))
    img += c("noise") * windows[p["noise_k"], p["noise_y"], p["noise_x"]]


def _blur3(a: np.ndarray) -> np.ndarray:
    """Separable [1, 2, 1] / 4 blur over the last two axes (edges blur with themselves)."""
    b = a * 0.5
    b[:, 1:] += 0.25 * a[:, :-1]
    b[:, :-1] += 0.25 * a[:, 1:]
    b[:, 0] += 0.25 * a[:, 0]
    b[:, -1] += 0.25 * a[:, -1]
    out = b * 0.5
    out[:, :, 1:] += 0.25 * b[:, :, :-1]
    out[:, :, :-1] += 0.25 * b[:, :, 1:]
    out[:, :, 0] += 0.25 * b[:, :, 0]
    out[:, :, -1] += 0.25 * b[:, :, -1]
    return out


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
