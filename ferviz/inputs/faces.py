"""Faces in ordinary photos: ``--faces detect|center|none``, detectors from plugins, square crops.

How one image becomes faces (:func:`find_faces`), by mode:

- ``detect`` (the default when a face detector is installed, ``pip install "ferviz[faces]"``):
  a photo larger than twice the model's input on its shorter side is searched by the detector;
  each face found becomes a square around its box, widened by `MARGIN` of the box's side on
  every side (moved inside the photo where it fits, else padded with black), and converted by
  the usual rules (resize to the model's input). A photo where no face is found is an error
  naming the file. A smaller image is a face crop already (FER2013's 48x48 files) and is
  center-cropped as before.
- ``center`` (the default without a detector; a one-line warning then says how to get one
  when a photo is given): the square of the shorter side in the middle, as the folder readers do.
- ``none``: the whole image, padded with black to a square (nothing cut off).

Detectors register through the ``register_face_detectors`` hook; when several are installed,
one that is not built in wins (see :func:`detector`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ferviz.data.imagefolder import square_face
from ferviz.errors import DataError, DataWarning, OptionError

MODES = ("detect", "center", "none")
MARGIN = 0.1
HINT = ('no face detector is installed, so photos are center-cropped, not searched for faces; '
        'pip install "ferviz[faces]" adds one (or pass --faces center to silence this)')


def photo_side(size: int) -> int:
    """Images whose shorter side is larger than this are photos to search (else face crops)."""
    return 2 * size


def detector(name: str | None = None):
    """The face detector called `name`; without a name the installed one (an external one first),
    or None when there is none."""
    from ferviz import registry

    found = registry.face_detectors()
    if name is not None:
        return found.get_or_raise(name)
    external = [n for n in found if not found.owner[n].startswith("ferviz.")]
    names = external or list(found)
    return found[names[0]] if names else None


def resolve_mode(mode: str | None) -> str:
    """`mode`, or for None the default: detect when a detector is installed, else center."""
    if mode is None:
        return "detect" if detector() is not None else "center"
    if mode not in MODES:
        raise OptionError(f"--faces must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "detect" and detector() is None:
        raise OptionError('--faces detect needs a face detector: pip install "ferviz[faces]"')
    return mode


@dataclass(frozen=True)
class Found:
    """One face of an image: (S, S) uint8 pixels, the detector's box and the square cut out, both
    (left, top, right, bottom) in the image's pixels, and whether a detector found it."""

    face: np.ndarray
    box: tuple[int, int, int, int]
    crop: tuple[int, int, int, int]
    detected: bool


def square_around(box: tuple[int, int, int, int], width: int, height: int, margin: float = MARGIN):
    """The square crop for a (left, top, width, height) face box in a width x height photo."""
    x, y, w, h = box
    side = max(1, round(max(w, h) * (1 + 2 * margin)))
    left, top = round(x + w / 2 - side / 2), round(y + h / 2 - side / 2)
    if side <= width:
        left = min(max(left, 0), width - side)
    if side <= height:
        top = min(max(top, 0), height - side)
    return left, top, left + side, top + side


def whole_square(width: int, height: int, mode: str) -> tuple[int, int, int, int]:
    """center: the middle square of the shorter side; none: the whole image in a padded square."""
    side = min(width, height) if mode == "center" else max(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


def find_faces(photo, where: str, size: int, mode: str, margin: float = MARGIN) -> list[Found]:
    """The faces of one mode-L Pillow image by `mode` (module docstring); DataError naming `where`
    when ``detect`` finds none in a photo."""
    width, height = photo.size
    if mode == "detect" and min(width, height) > photo_side(size):
        found = detector()
        boxes = found.detect(np.asarray(photo, dtype=np.uint8))
        if not len(boxes):
            raise DataError(f"{where}: no face found by {found.name} in this {width}x{height} photo; "
                            "--faces center explains its middle square instead")
        out = []
        for x, y, w, h in boxes:
            crop = square_around((x, y, w, h), width, height, margin)
            out.append(Found(square_face(photo, size, crop), (int(x), int(y), int(x + w), int(y + h)), crop, True))
        return out
    crop = whole_square(width, height, "none" if mode == "none" else "center")
    return [Found(square_face(photo, size, crop), crop, crop, False)]


def warn_without_detector(mode_given: str | None, photos: int) -> None:
    """The one-line hint when photos were center-cropped only because no detector is installed."""
    if mode_given is None and photos and detector() is None:
        warnings.warn(HINT, DataWarning, stacklevel=3)


def add_photo_overview(explanation, faces) -> None:
    """Add the boxes to `explanation` when faces were found in photos: arrays ``boxes`` and
    ``crops`` (N, 4) int32 (left, top, right, bottom), summary ``faces`` (per face: id, photo,
    box, crop), and figure ``photos`` (each photo with its numbered boxes and predicted labels)."""
    from ferviz.explain.figures import photo_overview

    if faces.photos is None or not faces.photos:
        return
    records = {r["id"]: r for r in explanation.summary.get("images", [])}
    explanation.arrays["boxes"] = np.asarray(faces.boxes, dtype=np.int32)
    explanation.arrays["crops"] = np.asarray(faces.crops, dtype=np.int32)
    explanation.summary["faces"] = [
        {"id": i, "photo": s, "box": list(map(int, b)), "crop": list(map(int, c)), "detector": faces.detector}
        for i, s, b, c in zip(faces.ids, faces.sources, faces.boxes, faces.crops)]
    shown = []
    for source, photo in faces.photos.items():
        mine = [k for k, s in enumerate(faces.sources) if s == source]
        labels = []
        for k in mine:
            r = records.get(faces.ids[k], {})
            number = faces.ids[k].rsplit("#", 1)[-1]
            labels.append(f"{number}: {r['target']} p={r['target_probability']:.2f}" if r else number)
        shown.append((Path(source).name, photo, [faces.boxes[k] for k in mine], labels))
    explanation.figures["photos"] = photo_overview(shown)
