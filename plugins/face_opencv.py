"""Face detection with OpenCV's Haar cascades, which ship inside the ``opencv-python-headless`` wheel.

Installed with ``pip install "ferviz[faces]"``; without OpenCV this plugin registers nothing and
``--faces`` falls back to ``center``. Nothing is downloaded: the cascades are read from
``cv2.data.haarcascades``. (OpenCV 5 no longer ships the cascade classifier or its files, so the
extra asks for OpenCV 4. MediaPipe, the other well-kept library whose wheel held a face detector's
model, holds none in its wheels of 0.10.30 to 1.2.3, and the 0.10.21 ones that do need numpy < 2.)

Viola & Jones, "Rapid Object Detection using a Boosted Cascade of Simple Features" (CVPR 2001);
Lienhart & Maydt, "An Extended Set of Haar-like Features for Rapid Object Detection" (ICIP 2002).

One cascade run finds about three in four FER2013 faces pasted into a photo: many of them are
tilted, turned or partly covered. So this detector runs several, mostly on the photo shrunk to
half its size by pixel averaging: there the frontal ``default``, ``alt2`` and ``alt`` cascades
and the ``profileface`` one (also on the mirrored photo, for faces turned the other way) each
search the photo rotated by 0, +-10, +-20, +-30 and +-40 degrees. For a large face the cascade
shrinks the image by linear interpolation, which averages no pixels; the half-size photo gives it
a smoother look (more faces found, fewer stray boxes inside a face) at a quarter of the cost,
which pays for the rotations. The ``default`` and ``alt2`` cascades also search the photo as it
is, unrotated, for the faces too small to find at half size. Photos larger than `MAX_SIDE` pixels
are searched at that size (faces there are still large enough).

The runs' boxes are merged by non-maximum suppression: the box that the most runs agree on (a box
of another run with IoU >= `LINK` agrees) is kept first, as the mean of its agreeing boxes
weighted by their neighbour counts, and every box overlapping it is dropped; then the next. The
README ("Faces in photos") has the recall this gives on photos of real FER2013 faces, what the
single-size, three-rotation version found before, and the command that measures both.
"""

from __future__ import annotations

import importlib.util

import numpy as np

from ferviz.registry import hookimpl

FRONTAL = ("haarcascade_frontalface_default.xml", "haarcascade_frontalface_alt2.xml")
PROFILE = "haarcascade_profileface.xml"  # faces turned left; run on the mirrored photo too
#: (size, rotations, cascades): the photo as it is, for small faces, and shrunk by pixel
#: averaging (a quarter of the cost, so rotations and more cascades)
SEARCHES = ((1.0, (0.0,), FRONTAL),
            (0.5, (0.0, -10.0, 10.0, -20.0, 20.0, -30.0, 30.0, -40.0, 40.0),
             FRONTAL + ("haarcascade_frontalface_alt.xml", PROFILE)))
MAX_SIDE = 960
# OpenCV drops the groups of <= minNeighbors raw windows: 3 keeps those that 4 windows agree on
# (with 2, one box in 60 faceless backdrops)
SCALE_FACTOR, MIN_NEIGHBOURS, MIN_FACE = 1.1, 3, 24
LINK = 0.5  # boxes of two runs with this IoU agree on one face
DROP_IOU, DROP_COVER = 0.3, 0.5  # a box this close to a kept one (IoU, or share of the smaller) is the same face


def overlaps(boxes: np.ndarray, box) -> tuple[np.ndarray, np.ndarray]:
    """IoU of each (left, top, right, bottom) row of `boxes` with `box`, and their intersection
    over the smaller one's area (1 for a box inside the other)."""
    w = np.clip(np.minimum(boxes[:, 2], box[2]) - np.maximum(boxes[:, 0], box[0]), 0, None)
    h = np.clip(np.minimum(boxes[:, 3], box[3]) - np.maximum(boxes[:, 1], box[1]), 0, None)
    inter = w * h
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    area = (box[2] - box[0]) * (box[3] - box[1])
    return inter / (areas + area - inter), inter / np.minimum(areas, area)


def merge(found: list[tuple[float, float, float, float, int, object]]) -> list[tuple[float, float, float, float]]:
    """(left, top, right, bottom, neighbours, run) boxes of all runs -> one box per face, by
    non-maximum suppression on the number of runs that agree (module docstring)."""
    if not found:
        return []
    rows = np.asarray([f[:5] for f in found], dtype=np.float64)
    boxes, weights = rows[:, :4], rows[:, 4]
    numbers: dict = {}
    runs = np.array([numbers.setdefault(f[5], len(numbers)) for f in found])
    agree = [overlaps(boxes, box)[0] >= LINK for box in boxes]
    votes = np.array([len(set(runs[a])) for a in agree])
    alive = np.ones(len(boxes), bool)
    out = []
    for k in np.lexsort((-weights, -votes)):  # most runs first, then most neighbours
        if not alive[k]:
            continue
        box = np.average(boxes[agree[k]], axis=0, weights=weights[agree[k]])
        out.append(tuple(box))
        iou, cover = overlaps(boxes, box)
        alive &= (iou < DROP_IOU) & (cover < DROP_COVER)
    return out


class OpenCVHaar:
    """Haar cascades (frontal x3, profile both ways) at two sizes and several rotations, merged."""

    name = "opencv-haar"
    summary = "OpenCV Haar cascades (frontal + profile, two sizes, turned up to 40 degrees), read from the wheel"

    def __init__(self):
        self._cascades: dict = {}

    def cascade(self, filename: str):
        if filename not in self._cascades:
            import cv2

            cascade = cv2.CascadeClassifier(cv2.data.haarcascades + filename)
            if cascade.empty():
                from ferviz.errors import PluginError

                raise PluginError(f"opencv-haar: OpenCV's {filename} is missing from {cv2.data.haarcascades}; "
                                  "reinstall with pip install \"ferviz[faces]\"")
            self._cascades[filename] = cascade
        return self._cascades[filename]

    def _runs(self, gray: np.ndarray, angles, cascades):
        """Every (cascade, rotation, mirror) run's boxes in `gray`'s own pixels, as (left, top,
        right, bottom, neighbours, run)."""
        import cv2

        h, w = gray.shape
        for angle in angles:
            turn = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
            image = cv2.warpAffine(gray, turn, (w, h), borderMode=cv2.BORDER_REPLICATE) if angle else gray
            back = cv2.invertAffineTransform(turn)
            for filename in cascades:
                for mirrored in ((False, True) if filename == PROFILE else (False,)):
                    src = np.ascontiguousarray(image[:, ::-1]) if mirrored else image
                    found, neighbours = self.cascade(filename).detectMultiScale2(
                        src, scaleFactor=SCALE_FACTOR, minNeighbors=MIN_NEIGHBOURS, minSize=(MIN_FACE, MIN_FACE))
                    for (x, y, bw, bh), n in zip(found, neighbours):
                        x = w - x - bw if mirrored else x
                        cx, cy = back @ np.array([x + bw / 2, y + bh / 2, 1.0])
                        yield (cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2, int(n), (angle, filename, mirrored))

    def detect(self, gray: np.ndarray) -> list[tuple[int, int, int, int]]:
        """(left, top, width, height) of each face in the (H, W) uint8 photo, left to right."""
        import cv2

        gray = np.ascontiguousarray(gray, dtype=np.uint8)
        top = min(1.0, MAX_SIDE / max(gray.shape))
        found = []
        for size, angles, cascades in SEARCHES:
            scale = top * size
            image = gray if scale == 1.0 else cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            found += [(x0 / scale, y0 / scale, x1 / scale, y1 / scale, n, (size, run))
                      for x0, y0, x1, y1, n, run in self._runs(image, angles, cascades)]
        out = [(round(x0), round(y0), round(x1 - x0), round(y1 - y0)) for x0, y0, x1, y1 in merge(found)]
        return sorted(out, key=lambda b: (b[0], b[1]))


@hookimpl
def register_face_detectors(register):
    if importlib.util.find_spec("cv2") is not None:
        register(OpenCVHaar())
