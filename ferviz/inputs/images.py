"""The one image loader: files, folders and arrays -> the uint8 faces a model is fed.

The CLI (``--image``, ``images:`` folders) and the Python API (:func:`read_images`) both go
through here, so the same file gives the same pixels either way. Every image is converted by the
rules of :mod:`ferviz.data.imagefolder` (EXIF orientation, ITU-R 601 luma, transparent pixels over
black, a center crop to a square, area/bilinear resize), whether it comes as a file or as an
in-memory array::

    >>> faces = read_images(["face.jpg", "photos/"], size=48)
    >>> faces.images.shape, faces.ids
    ((3, 48, 48), ['face.jpg', 'a.png', 'b.png'])

In-memory arrays are (H, W) gray or (H, W, 3|4) RGB(A), uint8 or float on the 0-255 scale; a
non-square array is center-cropped exactly as a non-square file is (never stretched).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from ferviz.data.archive import MAX_MEMBER_BYTES
from ferviz.data.imagefolder import (SIZE, decode_image, decode_photo, is_image_name, quiet_pillow, square_face,
                                     to_gray)
from ferviz.errors import DataError, DataWarning
from ferviz.inputs.faces import MARGIN


@dataclass
class Faces:
    """Faces ready for a model: images (N, S, S) uint8, one id per face (the file name, or
    ``array:K`` for the K-th array given; ``NAME#K`` for the K-th face found in a photo) and the
    source each face came from (path or id). boxes, crops: (N, 4) (left, top, right, bottom) in
    the source's pixels, the face's box and the square cut out (see :mod:`ferviz.inputs.faces`).
    photos: source -> (H, W) uint8 gray photo, for the photos where faces were detected.
    detector: the detector's name, if one ran."""

    images: np.ndarray
    ids: list[str]
    sources: list[str] = field(default_factory=list)
    boxes: np.ndarray | None = None
    crops: np.ndarray | None = None
    photos: dict[str, np.ndarray] | None = None
    detector: str = ""

    def __post_init__(self):
        if not self.sources:
            self.sources = list(self.ids)

    def __len__(self) -> int:
        return len(self.images)

    def __array__(self, dtype=None, copy=None):
        return self.images if dtype is None else self.images.astype(dtype)

    def figure(self, columns: int = 8):
        """The faces in a grid, titled by id (a matplotlib Figure)."""
        from ferviz.explain.figures import image_grid

        return image_grid(self.images.astype(np.float32), self.ids, columns=columns)

    def _repr_png_(self) -> bytes:
        from ferviz.explain.figures import figure_png

        return figure_png(self.figure())


def image_files(folder: Path) -> list[Path]:
    """The image files directly inside `folder`, sorted by name (hidden files left out)."""
    try:
        entries = sorted(p for p in Path(folder).iterdir()
                         if p.is_file() and is_image_name(p.name) and not p.name.startswith("."))
    except OSError as exc:
        raise DataError(f"{folder}: cannot list ({exc.strerror or exc})") from None
    return entries


def read_file_bytes(path: Path) -> bytes:
    """The bytes of one image file (at most `MAX_MEMBER_BYTES`); DataError naming the file otherwise."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_MEMBER_BYTES + 1)
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if len(data) > MAX_MEMBER_BYTES:
        raise DataError(f"{path}: more than {MAX_MEMBER_BYTES:,} bytes; refused (limit per image file)")
    return data


def read_image_file(path: Path, size: int = SIZE, *, transparent: list[str] | None = None) -> np.ndarray:
    """One image file as a (size, size) uint8 face, by the usual rules."""
    return decode_image(read_file_bytes(path), str(path), size, transparent=transparent)


def array_image(array, where: str):
    """An in-memory (H, W) or (H, W, 3|4) array as a Pillow image (mode L, RGB or RGBA)."""
    from PIL import Image

    a = np.asarray(array)
    if a.dtype == bool or a.dtype.kind not in "uif" or a.ndim not in (2, 3) or 0 in a.shape[:2] \
            or (a.ndim == 3 and a.shape[2] not in (1, 3, 4)):
        raise DataError(f"{where}: an image array must be (H, W) or (H, W, 3|4) numbers, "
                        f"got {a.dtype} {a.shape}")
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise DataError(f"{where}: the image array holds NaN or infinite values")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 2:
        if a.dtype == np.uint8:
            return Image.fromarray(np.ascontiguousarray(a), "L")
        return Image.fromarray(np.ascontiguousarray(a, dtype=np.float32), "F")
    a = np.clip(np.rint(a), 0, 255).astype(np.uint8) if a.dtype != np.uint8 else a
    return Image.fromarray(np.ascontiguousarray(a), "RGB" if a.shape[2] == 3 else "RGBA")


def array_face(array, where: str, size: int = SIZE) -> np.ndarray:
    """An in-memory image array as a (size, size) uint8 face, by the same rules as a file."""
    with quiet_pillow():
        gray, _ = to_gray(array_image(array, where))
        return square_face(gray, size)


def _expand(sources) -> list:
    """Each source as given, folders replaced by their image files."""
    if isinstance(sources, (str, os.PathLike, np.ndarray)) or hasattr(sources, "getbands"):
        sources = [sources]
    out = []
    for src in sources:
        if isinstance(src, (str, os.PathLike)):
            path = Path(src).expanduser()
            if path.is_dir():
                files = image_files(path)
                if not files:
                    raise DataError(f"{path}: no image files (.jpg, .png, ...) directly inside")
                out.extend(files)
                continue
            if not path.exists():
                raise DataError(f"{path}: no such file or folder")
            out.append(path)
        else:
            out.append(src)
    if not out:
        raise DataError("no images given: pass image files, folders or arrays")
    return out


def _gray(src, k: int):
    """(name, where, mode-L Pillow image) of one expanded source."""
    if isinstance(src, Path):
        return src.name, str(src), decode_photo(read_file_bytes(src), str(src))
    name = f"image:{k}" if hasattr(src, "getbands") else f"array:{k}"
    with quiet_pillow():
        gray, _ = to_gray(src if hasattr(src, "getbands") else array_image(src, name))
    return name, name, gray


def read_images(sources: str | os.PathLike | np.ndarray | Iterable, *, model=None, size: int | None = None,
                faces: str | None = None, margin: float = MARGIN, skip_bad: bool = False) -> Faces:
    """Faces from image files, folders (the images directly inside), Pillow images and arrays, in order.

    The size is `size`, else the `model`'s input size, else 48. Files and arrays are converted
    by the same rules (module docstring). `faces` is ``detect``, ``center`` or ``none``, or None
    for detect when a face detector is installed, else center (see :mod:`ferviz.inputs.faces`); photos
    may give several faces each, `margin` widens their crops. Raises DataError naming the bad file
    or array; with `skip_bad` unreadable files are skipped with one warning instead.
    """
    from ferviz.inputs.faces import detector, find_faces, photo_side, resolve_mode, warn_without_detector

    size = int(size or getattr(model, "input_size", None) or SIZE)
    mode = resolve_mode(faces)
    images, ids, where, boxes, crops, photos, bad, large = [], [], [], [], [], {}, [], 0
    for k, src in enumerate(_expand(sources)):
        try:
            name, source, gray = _gray(src, k)
            found = find_faces(gray, source, size, mode, margin)
        except DataError as exc:
            if not skip_bad:
                raise
            bad.append(str(exc))
            continue
        large += min(gray.size) > photo_side(size)
        for j, face in enumerate(found, start=1):
            images.append(face.face)
            ids.append(f"{name}#{j}" if face.detected else name)
            where.append(source)
            boxes.append(face.box)
            crops.append(face.crop)
        if found[0].detected:
            photos[source] = np.asarray(gray, dtype=np.uint8)
    warn_without_detector(faces, large)
    if bad:
        warnings.warn(f"skipped {len(bad)} unreadable image{'s' if len(bad) != 1 else ''} "
                      f"(first: {bad[0]})", DataWarning, stacklevel=2)
    if not images:
        raise DataError(f"none of the images could be read ({bad[0]})")
    return Faces(np.stack(images), ids, where, np.asarray(boxes, dtype=np.int64), np.asarray(crops, dtype=np.int64),
                 photos, detector().name if photos else "")
