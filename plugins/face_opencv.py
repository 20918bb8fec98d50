"""Face detection with OpenCV's Haar cascades, which ship inside the ``opencv-python-headless`` wheel.

Installed with ``pip install "ferviz[faces]"``; without OpenCV this plugin registers nothing and
``--faces`` falls back to ``center``. Nothing is downloaded: the cascades are read from
``cv2.data.haarcascades``. (OpenCV 5 no longer ships the cascade classifier or its files, so the
extra asks for OpenCV 4.)

Viola & Jones, "Rapid Object Detection using a Boosted Cascade of Simple Features" (CVPR 2001);
Lienhart & Maydt, "An Extended Set of Haar-like Features for Rapid Object Detection" (ICIP 2002).

One cascade finds about three in four FER2013 faces pasted into a photo: many of them are
tilted, turned or partly covered. So this detector runs three cascades, the frontal ``default``
and ``alt2`` ones and the ``profileface`` one (also on the mirrored photo, for faces turned the
other way), on the photo as it is and rotated by -20 and +20 degrees, and merges the boxes: a box
that covers at least half of a larger one joins it, and each group gives its median box. Photos
larger than `MAX_SIDE` pixels are searched at that size (faces there are still large enough).
"""

from __future__ import annotations

import importlib.util

import numpy as np

from ferviz.registry import hookimpl

CASCADES = ("haarcascade_frontalface_default.xml", "haarcascade_frontalface_alt2.xml",
            "haarcascade_profileface.xml")
ANGLES = (0.0, -20.0, 20.0)
MAX_SIDE = 960
SCALE_FACTOR, MIN_NEIGHBOURS, MIN_FACE = 1.1, 4, 24
JOIN = 0.5  # a box covering this share of a larger one's group joins it


def cover(a, b) -> float:
    """Intersection of boxes a and b (left, top, right, bottom) over the smaller one's area."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return w * h / smaller


def merge(boxes: list[tuple[float, float, float, float]]) -> list[tuple[float, float, float, float]]:
    """Groups of overlapping boxes (largest first) -> one median box per group."""
    groups: list[list] = []
    for box in sorted(boxes, key=lambda b: -(b[2] - b[0])):
        for group in groups:
            if cover(box, group[0]) >= JOIN:
                group.append(box)
                break
        else:
            groups.append([box])
    return [tuple(np.median(np.asarray(g, dtype=np.float64), axis=0)) for g in groups]


class OpenCVHaar:
    """Haar cascades (frontal, frontal alt2, profile both ways) at three rotations, merged."""

    name = "opencv-haar"
    summary = "OpenCV Haar cascades (frontal x2 + profile, at 0 and +-20 degrees), from the wheel; no download."

    def __init__(self):
        self._cascades = None

    def cascades(self):
        if self._cascades is None:
            import cv2

            self._cascades = []
            for filename in CASCADES:
                cascade = cv2.CascadeClassifier(cv2.data.haarcascades + filename)
                if cascade.empty():
                    from ferviz.errors import PluginError

                    raise PluginError(f"opencv-haar: OpenCV's {filename} is missing from {cv2.data.haarcascades}; "
                                      "reinstall with pip install \"ferviz[faces]\"")
                self._cascades.append((filename, cascade))
        return self._cascades

    def _runs(self, gray: np.ndarray):
        """Every (cascade, rotation, mirror) run's boxes, in `gray`'s own pixels."""
        import cv2

        h, w = gray.shape
        for angle in ANGLES:
            turn = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
            image = cv2.warpAffine(gray, turn, (w, h), borderMode=cv2.BORDER_REPLICATE) if angle else gray
            back = cv2.invertAffineTransform(turn)
            for filename, cascade in self.cascades():
                for mirrored in ((False, True) if "profile" in filename else (False,)):
                    src = np.ascontiguousarray(image[:, ::-1]) if mirrored else image
                    found = cascade.detectMultiScale(src, scaleFactor=SCALE_FACTOR, minNeighbors=MIN_NEIGHBOURS,
                                                     minSize=(MIN_FACE, MIN_FACE))
                    for x, y, bw, bh in found:
                        x = w - x - bw if mirrored else x
                        cx, cy = back @ np.array([x + bw / 2, y + bh / 2, 1.0])
                        yield (cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2)

    def detect(self, gray: np.ndarray) -> list[tuple[int, int, int, int]]:
        """(left, top, width, height) of each face in the (H, W) uint8 photo, left to right."""
        import cv2

        scale = min(1.0, MAX_SIDE / max(gray.shape))
        small = gray if scale == 1.0 else cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        boxes = merge(list(self._runs(np.ascontiguousarray(small, dtype=np.uint8))))
        out = [(round(x0 / scale), round(y0 / scale), round((x1 - x0) / scale), round((y1 - y0) / scale))
               for x0, y0, x1, y1 in boxes]
        return sorted(out, key=lambda b: (b[0], b[1]))


@hookimpl
def register_face_detectors(register):
    if importlib.util.find_spec("cv2") is not None:
        register(OpenCVHaar())
