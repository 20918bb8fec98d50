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
SIDES = (96, 160)  # pasted faces' sides, px: FER2013's 48 px upscaled 2x to 3.3x
GAP = 4  # px at least between a face and its cell's edge


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


def compose(faces: list[np.ndarray], seed: int, sides: tuple[int, int] = SIDES,
            rows: int = 1) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """Faces upscaled to `sides` px (96-160), each in its own cell of a backdrop, and their boxes
    (left, top, right, bottom). The cells are as many columns as fit (4 for 160 px) by `rows`."""
    rng = np.random.default_rng(seed)
    photo = background(seed)
    columns = WIDTH // (sides[1] + 2 * GAP)
    width, height = WIDTH // columns, HEIGHT // rows
    assert len(faces) <= columns * rows and sides[1] + 2 * GAP <= height, "more faces than cells, or too large"
    boxes = []
    for j, face in enumerate(faces):
        side = int(rng.integers(sides[0], sides[1] + 1))
        left = (j % columns) * width + int(rng.integers(GAP, width - side - GAP + 1))
        top = (j // columns) * height + int(rng.integers(GAP, height - side - GAP + 1))
        photo[top:top + side, left:left + side] = np.asarray(Image.fromarray(face).resize((side, side), Image.BILINEAR))
        boxes.append((left, top, left + side, top + side))
    return photo, boxes


def photos_of(faces: list[np.ndarray], seed: int, sides: tuple[int, int] = SIDES, rows: int = 1):
    """(photo, boxes) for the faces, as many to a photo as it has cells."""
    per_photo = WIDTH // (sides[1] + 2 * GAP) * rows
    return [compose(faces[k:k + per_photo], seed + k, sides, rows) for k in range(0, len(faces), per_photo)]


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


def main(argv=None) -> None:
    """``python -m tests.photos``: the installed detector's recall at IoU 0.5 on photos of random
    FER2013 faces from the zip, and its boxes on faceless photos (README, "Faces in photos")."""
    import argparse
    import time

    from ferviz.inputs.faces import detector

    parser = argparse.ArgumentParser(prog="python -m tests.photos", description=main.__doc__)
    parser.add_argument("--faces", type=int, default=600, help="random FER2013 faces to paste (default 600)")
    parser.add_argument("--seed", type=int, default=1, help="which faces and layouts (default 1)")
    parser.add_argument("--sides", default="96,160", help="smallest and largest pasted side, px (default 96,160)")
    parser.add_argument("--rows", type=int, default=1, help="rows of faces in a photo (default 1)")
    parser.add_argument("--faceless", type=int, default=30, help="backdrops without faces, besides 3 blank photos")
    args = parser.parse_args(argv)
    faces = zip_faces(args.faces, seed=args.seed)
    if not faces:
        raise SystemExit("the real FER2013 zip (../shared/data/fer2013-train.zip) is not here")
    sides = tuple(int(s) for s in args.sides.split(","))
    found = detector()
    photos = photos_of(faces, seed=1000 * args.seed, sides=sides, rows=args.rows)
    start = time.perf_counter()
    hits, total, false = score(found, photos)
    seconds = (time.perf_counter() - start) / len(photos)
    faceless = [background(seed=100_000 + args.seed * 1000 + k) for k in range(args.faceless)]
    stray = sum(len(found.detect(p)) for p in faceless + [np.full((HEIGHT, WIDTH), v, np.uint8) for v in (0, 128, 255)])
    print(f"{found.name}: {hits} of {total} faces found at IoU 0.5 (recall {hits / total:.3f}), {false} boxes on no "
          f"pasted face, in {len(photos)} photos of {sides[0]}-{sides[1]} px faces ({seconds:.2f} s a photo); "
          f"{stray} boxes on {len(faceless) + 3} faceless photos")


if __name__ == "__main__":
    main()
