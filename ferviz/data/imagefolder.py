"""Image files -> 48x48 grayscale arrays, and the ``ROOT/<split>/<class>/*.jpg`` layout.

How an image file becomes a 48x48 uint8 array (`decode_image`), always the same way:

1. Pillow opens it (first frame of an animated or multi-page file) with the decoders of
   `PILLOW_FORMATS` only; images above `MAX_PIXELS` pixels are refused before decoding
   (decompression bombs).
2. The EXIF orientation tag, if any, is applied (``ImageOps.exif_transpose``).
3. Conversion to 8-bit gray ("L"): colour images through Pillow's ITU-R 601-2 luma
   (``L = R*299/1000 + G*587/1000 + B*114/1000``); palette images through their colours;
   transparent pixels are composited over black; 16-bit images keep their high byte
   (value >> 8); 32-bit integer and float images are rounded and clipped to 0-255 (a float
   image holding NaN or infinity is refused). Compositing over black is said in a
   `DataWarning` (one per read, with the count).
4. A non-square image is center-cropped to a square of its shorter side (faces keep their
   proportions; nothing is stretched).
5. A square of another size than 48 is resized to 48x48: area averaging (``Image.BOX``) when
   shrinking, bilinear interpolation when enlarging. A 48x48 image is used as is.
"""

from __future__ import annotations

import contextlib
import io
import struct
import warnings
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ferviz.data.archive import Member, suffix
from ferviz.errors import DataError, DataWarning

SIZE = 48
MAX_PIXELS = 64_000_000
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm",
                  ".ppm", ".pnm", ".pbm"}
#: Folder names of splits, lower case -> the split name ferviz uses.
SPLIT_ALIASES = {
    "train": "train", "training": "train",
    "val": "val", "valid": "val", "validation": "val", "dev": "val",
    "test": "test", "testing": "test",
    "publictest": "public-test", "public-test": "public-test", "public_test": "public-test",
    "privatetest": "private-test", "private-test": "private-test", "private_test": "private-test",
}
_EXIF_ORIENTATION = 0x0112
#: The only decoders Pillow may pick (by content), those of `IMAGE_SUFFIXES`: the others (EPS runs
#: Ghostscript; DDS, PSD, FITS... add attack surface) are never needed for face images.
PILLOW_FORMATS = ("JPEG", "PNG", "BMP", "GIF", "TIFF", "WEBP", "PPM")


def _pillow_formats() -> tuple[str, ...]:
    """`PILLOW_FORMATS` that this Pillow build has (a build may lack WebP)."""
    Image.init()
    return tuple(f for f in PILLOW_FORMATS if f in Image.OPEN)


def is_image_name(name: str) -> bool:
    return suffix(name) in IMAGE_SUFFIXES


def split_name(folder: str) -> str:
    return SPLIT_ALIASES.get(folder.lower(), folder.lower())


def to_gray(im: Image.Image) -> tuple[Image.Image, bool]:
    """The image in mode L, and whether transparent pixels were composited over black."""
    mode = im.mode
    if mode == "L":
        return im, False
    if mode.startswith("I;16"):
        a = np.asarray(im).astype(np.uint16) >> 8
        return Image.fromarray(a.astype(np.uint8), "L"), False
    if mode in ("I", "F"):
        a = np.asarray(im, dtype=np.float64)
        if not np.isfinite(a).all():
            raise ValueError("a floating-point image holding NaN or infinite values")
        a = np.clip(np.rint(a), 0, 255)
        return Image.fromarray(a.astype(np.uint8), "L"), False
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode in ("LA", "La", "PA", "RGBa"):
        im = im.convert("RGBA")
    elif "transparency" in im.info and mode in ("L", "RGB"):
        im = im.convert("RGBA")
    composited = False
    if im.mode == "RGBA":
        composited = im.getchannel("A").getextrema()[0] < 255  # only when some pixel is see-through
        black = Image.new("RGBA", im.size, (0, 0, 0, 255))
        im = Image.alpha_composite(black, im)
    if im.mode not in ("RGB", "RGBA", "1"):
        im = im.convert("RGB")
    return im.convert("L"), composited


def decode_image(data: bytes, where: str, size: int = SIZE, *, transparent: list[str] | None = None) -> np.ndarray:
    """(size, size) uint8 gray array of an image file's bytes (rules in the module docstring).

    Raises DataError naming ``where`` when the bytes are not a readable image. Pillow's own
    warnings never show (`quiet_pillow`). An image with transparent pixels, composited over
    black, has its ``where`` added to `transparent` (the reader then warns once for all);
    without that list a DataWarning says so at once.
    """
    return _decoded(data, where, size, transparent)


def decode_photo(data: bytes, where: str, *, transparent: list[str] | None = None) -> Image.Image:
    """A whole image file as a mode-L Pillow image: steps 1-3 of the module docstring, no crop or
    resize (face detection looks for faces in it). Errors and warnings as in `decode_image`."""
    return _decoded(data, where, None, transparent)


def _decoded(data: bytes, where: str, size: int | None, transparent: list[str] | None):
    with quiet_pillow():
        out, composited = _decode(data, where, size)
    if composited:
        if transparent is not None:
            transparent.append(where)
        else:
            warnings.warn(f"{where}: transparent pixels were composited over black", DataWarning, stacklevel=3)
    return out


def _decode(data: bytes, where: str, size: int | None) -> tuple[np.ndarray | Image.Image, bool]:
    try:
        with Image.open(io.BytesIO(data), formats=_pillow_formats()) as im:
            w, h = im.size
            if w * h > MAX_PIXELS:
                raise DataError(f"{where}: image of {w}x{h} pixels is larger than the "
                                f"{MAX_PIXELS // 1_000_000} megapixel limit")
            if w == 0 or h == 0:
                raise DataError(f"{where}: empty image ({w}x{h})")
            orientation = im.getexif().get(_EXIF_ORIENTATION)
            im.load()
            if orientation not in (None, 1):
                im = ImageOps.exif_transpose(im)
            im, composited = to_gray(im)
            if size is None:
                return im.copy(), composited  # a copy: the file closes when the block ends
            out = square_face(im, size)
    except DataError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, TypeError, EOFError,
            Image.DecompressionBombError, Image.DecompressionBombWarning, MemoryError,
            NotImplementedError, struct.error, IndexError, KeyError, ZeroDivisionError, OverflowError) as exc:
        if isinstance(exc, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
            raise DataError(f"{where}: image larger than the {MAX_PIXELS // 1_000_000} megapixel limit "
                            f"({str(exc).rstrip('.')})") from None
        reason = (f"not a {', '.join(_pillow_formats())} image" if isinstance(exc, UnidentifiedImageError)
                  else str(exc) or type(exc).__name__)
        raise DataError(f"{where}: unreadable image ({reason})") from None
    if out.shape != (size, size):
        raise DataError(f"{where}: decoded to shape {out.shape}, not {size}x{size}")
    return np.array(out, dtype=np.uint8, copy=True), composited


def square_face(im: Image.Image, size: int = SIZE, box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """(size, size) uint8 array of a mode-L image: steps 4 and 5 of the module docstring.

    Without `box` the image is center-cropped to a square of its shorter side; with `box`
    (left, top, right, bottom, a square that may reach past the edges, which are then black) that
    square is cut out instead. Then it is resized as in step 5.
    """
    if box is None:
        w, h = im.size
        s = min(w, h)
        left, top = (w - s) // 2, (h - s) // 2
        box = (left, top, left + s, top + s)
    if box != (0, 0, *im.size):
        im = im.crop(box)
    if im.size != (size, size):
        method = Image.BOX if im.width > size else Image.BILINEAR
        im = im.resize((size, size), method)
    return np.asarray(im, dtype=np.uint8)


@contextlib.contextmanager
def quiet_pillow():
    """Pillow's warnings (odd metadata: silenced; decompression bombs: errors) while decoding."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


# ------------------------------------------------------------------------------------ layout


@dataclass
class Layout:
    """Where the labelled images of a tree are.

    files: split -> class -> sorted member names. bad: (member, reason) for files in the wrong
    place or not images. prefix: the extra top folder(s) that were stripped.
    """

    files: dict[str, dict[str, list[str]]]
    bad: list[tuple[str, str]]
    prefix: str = ""
    two_level: bool = True

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(sorted({c for classes in self.files.values() for c in classes}))

    def count(self) -> int:
        return sum(len(v) for classes in self.files.values() for v in classes.values())


def find_layout(members: list[Member]) -> Layout:
    """Tell the layout from member paths.

    ``SPLIT/CLASS/FILE`` (two levels) when any image sits three folders deep, else
    ``CLASS/FILE`` (split "train"). Extra top folders that every image shares are stripped
    (``fer2013/train/happy/x.jpg``) unless the shared folder is a split name (``train/...``).
    Images elsewhere, and non-image files inside class folders, are reported as bad. Other files
    (``README.txt`` at the top, ``LICENSE``) are ignored.
    """
    parts = [(m.name, m.name.split("/")) for m in members]
    images = [(n, p) for n, p in parts if is_image_name(n)]
    prefix: list[str] = []
    # strip shared top folders that are not split names
    while images:
        firsts = {p[len(prefix)] for _, p in images if len(p) > len(prefix) + 2}
        shallow = any(len(p) <= len(prefix) + 2 for _, p in images)
        if len(firsts) != 1 or shallow:
            break
        (top,) = firsts
        if top.lower() in SPLIT_ALIASES:
            break
        prefix.append(top)
    depth = len(prefix)
    image_depths = [len(p) - depth for _, p in images]
    two_level = any(d == 3 for d in image_depths)
    want = 3 if two_level else 2
    files: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    bad: list[tuple[str, str]] = []
    shape = "SPLIT/CLASS/FILE" if two_level else "CLASS/FILE"
    for name, p in parts:
        if p[:depth] != prefix:
            if is_image_name(name):
                bad.append((name, f"outside the {'/'.join(prefix)}/ folder"))
            continue
        rel = p[depth:]
        if len(rel) != want:
            if is_image_name(name):
                bad.append((name, f"not in the {shape} layout"))
            continue
        if not is_image_name(name):
            bad.append((name, "not an image file"))
            continue
        split = split_name(rel[0]) if two_level else "train"
        cls = rel[-2].lower()
        files[split][cls].append(name)
    out = {s: {c: sorted(v) for c, v in sorted(classes.items())} for s, classes in files.items()}
    return Layout(files=out, bad=bad, prefix="/".join(prefix), two_level=two_level)


def looks_labelled(names: list[str]) -> bool:
    """True when images lie inside folders and none lies at the top of the tree."""
    has_deep = False
    for n in names:
        if not is_image_name(n):
            continue
        depth = n.count("/")
        if depth == 0:
            return False
        has_deep = True
    return has_deep
