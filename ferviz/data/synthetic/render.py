"""Drawing synthetic faces and their cue masks from their parameters (:mod:`.params`).

Every face is built from analytic shapes evaluated in a *face frame* (u to the right, v down, in
pixels of a 48-pixel image at head scale 1), then mapped into the image by one similarity
transform per face. All drawing is numpy array arithmetic over a chunk of faces at once;
left/right parts are drawn once, with |u|.

The face model, back to front:

- background: a level, a linear gradient and smooth blotches (a random 6x6 grid upsampled);
- neck, ears, the head (an ellipse whose lower half narrows into a jaw, shaded darker towards
  its rim, with faint skin blotches), hair above a curved hairline (some faces are bald);
- brows (tapered thick strokes with an arch), eyes (sclera, iris, dark lid rim), nose
  (nostrils, tip shadow, optional wrinkles across the bridge), mouth (lips along a parabola
  whose corners rise or fall, optionally opened into a dark cavity, optionally with teeth);
- occluders on some faces: glasses (face frame), a hand-like patch and a bar (image frame);
- the photograph: lighting gradient, contrast and brightness, blur, sensor noise.

The cue mask of a face holds the pixels of the parts its class moves (for neutral: every
expressive part, at rest), each part's footprint grown by about a pixel, minus pixels hidden by
an opaque occluder. An occluder that would hide more than half of any part is left out, so a
mask is never empty. Parts outside the mask are exactly those of the same face at rest.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ferviz import FER2013_CLASSES as CLASS_NAMES

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


def render_faces(p: dict, size: int, bank: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
