"""Photos composed from real FER2013 faces pasted at known boxes, for the face-detection tests."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from tests.conftest import real_zip

TEST_FACES = Path(__file__).resolve().parent / "assets" / "faces"
WIDTH, HEIGHT = 760, 420
PER_PHOTO = 4


def committed_faces() -> list[np.ndarray]:
    """The twelve faces under tests/assets/faces (48x48 uint8), sorted by file name."""
    return [np.asarray(Image.open(p).convert("L")) for p in sorted(TEST_FACES.glob("*.png"))]


def zip_faces(count: int, seed: int) -> list[np.ndarray]:
    """`count` faces drawn at random (seeded) from the real FER2013 zip; [] where it is absent."""
    path = real_zip()
    if path is None:
        return []
    with zipfile.ZipFile(path) as archive:
        names = sorted(n for n in archive.namelist() if n.endswith(".jpg"))
        picks = np.random.default_rng(seed).choice(len(names), count, replace=False)
        return [np.asarray(Image.open(io.BytesIO(archive.read(names[i]))).convert("L")) for i in picks]


def background(seed: int) -> np.ndarray:
    """A (HEIGHT, WIDTH) uint8 backdrop: smooth waves of light plus sensor-like noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    fx, fy, phase = rng.uniform(60, 140), rng.uniform(50, 120), rng.uniform(0, 6.3)
    base = rng.uniform(70, 170) + 50 * np.sin(xx / fx + phase) * np.cos(yy / fy)
    return np.clip(base + rng.normal(0, 5, base.shape), 0, 255).astype(np.uint8)


def compose(faces: list[np.ndarray], seed: int) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """Up to PER_PHOTO faces upscaled to 96-160 px, each in its own column of a backdrop, and
    their boxes (left, top, right, bottom)."""
    rng = np.random.default_rng(seed)
    photo = background(seed)
    column = WIDTH // PER_PHOTO
    boxes = []
    for j, face in enumerate(faces):
        side = int(rng.integers(96, 161))
        left = j * column + int(rng.integers(4, column - side - 4 + 1))
        top = int(rng.integers(4, HEIGHT - side - 4 + 1))
        photo[top:top + side, left:left + side] = np.asarray(Image.fromarray(face).resize((side, side), Image.BILINEAR))
        boxes.append((left, top, left + side, top + side))
    return photo, boxes


def photos_of(faces: list[np.ndarray], seed: int):
    """(photo, boxes) for the faces, PER_PHOTO to a photo."""
    return [compose(faces[k:k + PER_PHOTO], seed + k) for k in range(0, len(faces), PER_PHOTO)]


def iou(a, b) -> float:
    """Intersection over union of two (left, top, right, bottom) boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def score(detector, photos) -> tuple[int, int, int]:
    """(faces found at IoU >= 0.5, faces pasted, boxes matching no pasted face)."""
    found = total = false = 0
    for photo, truth in photos:
        boxes = [(x, y, x + w, y + h) for x, y, w, h in detector.detect(photo)]
        found += sum(max((iou(t, b) for b in boxes), default=0.0) >= 0.5 for t in truth)
        total += len(truth)
        false += sum(max(iou(t, b) for t in truth) < 0.5 for b in boxes)
    return found, total, false
