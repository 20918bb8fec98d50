"""A fast, validating parser for FER2013's Kaggle CSV (``emotion,pixels,Usage``).

Kaggle's unlabelled ``test.csv`` (header ``pixels``, or ``id,pixels``) parses too: no labels,
and the ``id`` column, where there is one, gives each row's id.

The file is parsed as bytes with numpy, a few megabytes of whole lines at a time:

* fast path: newline and comma positions give every field of every line; the bytes outside
  the pixels field are blanked to spaces, so the whole block becomes one stream of numbers
  separated by spaces; its edges (space -> digit, digit -> space) give the start and end of
  every number, and each number is rebuilt from its last three bytes (``ones + 10 * tens +
  100 * hundreds``, the bytes before its start zeroed), with a check that each is a digit. A block is accepted only if every line has
  the right number of fields, exactly ``48*48`` numbers, every number is made of 1-3 digits
  with a value of at most 255, every label is one digit 0-6 and every Usage is known.
* slow path: a block that fails any check is parsed again line by line (``csv`` module,
  ``str.split``, ``int``), which accepts harmless irregularities (quotes, runs of blanks, tabs,
  CRLF, blank lines, leading zeros) and, for real errors, names the line and what is wrong.

Lines are numbered as in an editor (the header is line 1). Rows are the 0-based indices of the
non-blank data lines: the order FER+ (``fer2013new.csv``) aligns with.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from ferviz.errors import DataError

SIDE = 48
PIXELS = SIDE * SIDE
NUM_LABELS = 7
#: Target size of one block of lines for the vectorised path.
BLOCK_BYTES = 1 << 19

#: ``Usage`` values (lower case) -> split names.
USAGE_SPLITS = {
    "training": "train",
    "train": "train",
    "publictest": "public-test",
    "public-test": "public-test",
    "privatetest": "private-test",
    "private-test": "private-test",
    "validation": "val",
    "val": "val",
    "test": "test",
}


@dataclass
class CsvTable:
    """What a FER2013 CSV holds, in file order, bad rows left out."""

    images: np.ndarray  # (N, 48, 48) uint8
    labels: np.ndarray | None  # (N,) int64, 0-6 in ferviz.FER2013_CLASSES order; None without emotion column
    splits: np.ndarray | None  # (N,) split names, None when the file has no Usage column
    rows: np.ndarray  # (N,) int64 0-based data-row index of each image
    total_rows: int  # data rows in the file, bad ones included
    bad: list[str] = field(default_factory=list)  # "line N: what is wrong", skip_bad only
    ids: np.ndarray | None = None  # (N,) str, the id column's values; None without one


class Columns(NamedTuple):
    """Where the fields of a row are: the number of columns and each known column's index."""

    count: int
    pixels: int
    emotion: int | None  # None: an unlabelled file (Kaggle's test.csv)
    usage: int | None
    id: int | None


def _norm_header(name: bytes | str) -> str:
    if isinstance(name, bytes):
        name = name.decode("utf-8", "replace")
    return name.strip().strip('"').strip().lower()


def parse_header(line: bytes, source: str) -> Columns:
    """The columns of a FER2013 CSV header: pixels is required; emotion, Usage and id are optional."""
    line = line.rstrip(b"\r\n")
    if line.startswith(b"\xef\xbb\xbf"):
        line = line[3:]
    try:
        names = [_norm_header(n) for n in next(csv.reader([line.decode("utf-8", "replace")]), [])]
    except csv.Error as exc:
        raise DataError(f"{source}: line 1: not a readable CSV header ({exc})") from None
    if "pixels" not in names:
        raise DataError(
            f"{source}: line 1: the header has no 'pixels' column (it has {names}); expected a FER2013 CSV "
            "with emotion,pixels,Usage, or Kaggle's test.csv with pixels or id,pixels"
        )
    index = {name: names.index(name) if name in names else None for name in ("emotion", "usage", "id")}
    return Columns(len(names), names.index("pixels"), index["emotion"], index["usage"], index["id"])


def _text_field(data, begin: int, starts, ends) -> list[str]:
    """The text of one field on each line (quotes and blanks around it removed)."""
    return [data[begin + s:begin + e].decode("utf-8", "replace").strip().strip('"').strip()
            for s, e in zip(starts.tolist(), ends.tolist())]


def _ranges(starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(starts[i], stops[i])`` for all i."""
    lens = stops - starts
    total = int(lens.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    offsets = np.cumsum(lens) - lens
    return np.repeat(starts - offsets, lens) + np.arange(total)


def _fast_block(data, begin: int, end: int, cols: Columns):
    """Parse lines data[begin:end] (ending with a newline) vectorised, or return None."""
    ncols, ipix, ilab, iuse = cols.count, cols.pixels, cols.emotion, cols.usage
    b = np.frombuffer(data, dtype=np.uint8, count=end - begin, offset=begin)
    nl = np.flatnonzero(b == 10)
    nlines = len(nl)
    starts = np.empty(nlines, dtype=np.int64)
    starts[0] = 0
    starts[1:] = nl[:-1] + 1
    ends = nl.copy()
    ends[b[np.maximum(nl - 1, 0)] == 13] -= 1  # CRLF
    if (ends <= starts).any():
        return None  # a blank line
    commas = np.flatnonzero(b == 44)
    per_line = np.diff(np.searchsorted(commas, nl), prepend=0)
    if (per_line != ncols - 1).any():
        return None
    commas = commas.reshape(nlines, ncols - 1)
    fstart = np.column_stack([starts, commas + 1])
    fend = np.column_stack([commas, ends])
    ps, pe = fstart[:, ipix].copy(), fend[:, ipix].copy()
    quoted = (pe - ps >= 2) & (b[ps] == 34) & (b[np.maximum(pe - 1, 0)] == 34)
    ps += quoted
    pe -= quoted

    # labels: exactly one digit 0-6
    labels = None
    if ilab is not None:
        ls, le = fstart[:, ilab], fend[:, ilab]
        labels = b[ls].astype(np.int64) - 48
        if ((le - ls) != 1).any() or (labels < 0).any() or (labels >= NUM_LABELS).any():
            return None
    ids = None if cols.id is None else _text_field(data, begin, fstart[:, cols.id], fend[:, cols.id])
    splits = None
    if iuse is not None:
        us, ue = fstart[:, iuse].tolist(), fend[:, iuse].tolist()
        names = [data[begin + s:begin + e] for s, e in zip(us, ue)]
        mapping = {}
        for value in set(names):
            split = USAGE_SPLITS.get(value.decode("latin-1").lower())
            if split is None:
                return None
            mapping[value] = split
        splits = np.array([mapping[v] for v in names], dtype=object)

    # the pixel stream: a copy with one leading blank, everything outside the pixels fields blanked
    x = np.empty(len(b) + 1, dtype=np.uint8)
    x[0] = 32
    x[1:] = b
    x[1 + _ranges(starts, ps)] = 32
    x[1 + _ranges(pe, nl + 1)] = 32
    blank = x == 32
    edges = np.flatnonzero(blank[1:] != blank[:-1]) + 1
    tok_start, tok_end = edges[0::2], edges[1::2]  # the stream starts and ends with a blank
    counts = np.diff(np.searchsorted(tok_start, 1 + nl), prepend=0)
    if (counts != PIXELS).any():
        return None
    length = tok_end - tok_start
    if length.max() > 3:
        return None
    # each number from its last three bytes, the ones before its start zeroed
    last = tok_end - 1
    ones = x[last].astype(np.int16)
    ones -= 48
    tens = x[last - 1].astype(np.int16)
    tens -= 48
    tens *= length >= 2
    hundreds = x[last - 2].astype(np.int16)
    hundreds -= 48
    hundreds *= length >= 3
    # every byte of every number a digit (a negative difference wraps to a large uint16)
    worst = np.maximum(ones.view(np.uint16), tens.view(np.uint16))
    np.maximum(worst, hundreds.view(np.uint16), out=worst)
    if worst.max() > 9:
        return None
    hundreds *= 100
    tens *= 10
    hundreds += tens
    hundreds += ones
    if hundreds.max() > 255:
        return None
    images = hundreds.astype(np.uint8).reshape(nlines, SIDE, SIDE)
    return images, labels, splits, ids


def _slow_block(text_lines, first_line: int, cols: Columns, source, bad, skip_bad):
    """Parse lines one by one; returns (images list, labels, splits, ids, kept line offsets)."""
    ncols, ipix, ilab, iuse = cols.count, cols.pixels, cols.emotion, cols.usage
    images, labels, splits, ids, kept = [], [], [], [], []
    for offset, raw in enumerate(text_lines):
        lineno = first_line + offset
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line.strip():
            kept.append(None)  # blank: not a data row
            continue
        try:
            fields = next(csv.reader([line]))
            if len(fields) != ncols:
                raise ValueError(f"{len(fields)} fields, expected {ncols}")
            label = None if ilab is None else _label(fields[ilab].strip())
            split = None
            if iuse is not None:
                usage = fields[iuse].strip()
                split = USAGE_SPLITS.get(usage.lower())
                if split is None:
                    raise ValueError(f"Usage {usage!r} is not one of Training, PublicTest, PrivateTest")
            tokens = fields[ipix].split()
            if len(tokens) != PIXELS:
                raise ValueError(f"{len(tokens)} pixel values, expected {PIXELS} ({SIDE}x{SIDE})")
            pixels = np.empty(PIXELS, dtype=np.uint8)
            for i, tok in enumerate(tokens):
                if not (tok.isascii() and tok.isdigit()):
                    raise ValueError(f"pixel {i + 1} ({tok[:20]!r}) is not a number 0-255")
                if len(tok.lstrip("0")) > 3:  # also keeps int() off numbers of thousands of digits
                    raise ValueError(f"pixel {i + 1} ({tok[:20]}{'...' if len(tok) > 20 else ''}) is above 255")
                v = int(tok)
                if v > 255:
                    raise ValueError(f"pixel {i + 1} is {v}, above 255")
                pixels[i] = v
        except (ValueError, csv.Error) as exc:
            message = f"line {lineno}: {exc}"
            if not skip_bad:
                raise DataError(f"{source}: {message} (--skip-bad skips such rows, with one warning)") from None
            bad.append(message)
            kept.append(False)
            continue
        images.append(pixels.reshape(SIDE, SIDE))
        labels.append(label)
        splits.append(split)
        ids.append(None if cols.id is None else fields[cols.id].strip())
        kept.append(True)
    return images, labels, splits, ids, kept


def _label(text: str) -> int:
    """An emotion field's value 0-6; ValueError says what is wrong."""
    # plain ASCII digits only: int() would also take "0_3", "\uff13" or thousands of digits
    digits = text[1:] if text[:1] in ("+", "-") else text
    if not (digits.isascii() and digits.isdigit()):
        raise ValueError(f"emotion {text[:20]!r} is not an integer")
    if text[:1] == "-" or len(digits.lstrip("0")) > 1 or int(digits) >= NUM_LABELS:
        raise ValueError(f"emotion {text[:20]}{'...' if len(text) > 20 else ''} is outside 0-{NUM_LABELS - 1}")
    return int(digits)


def parse_fer_csv(data: bytes, source: str, *, skip_bad: bool = False, force_slow: bool = False) -> CsvTable:
    """Parse the bytes of a FER2013 CSV. Raises DataError naming the line and the problem.

    ``skip_bad`` drops malformed rows instead (listed in ``CsvTable.bad``); ``force_slow`` parses
    every line with the slow path (tests use it to check that both paths agree).
    """
    if not data or data.isspace():
        raise DataError(f"{source}: the file is empty")
    head_end = data.find(b"\n")
    if head_end < 0:
        raise DataError(f"{source}: the file holds a header line and no data rows")
    cols = parse_header(data[:head_end], source)
    if not data.endswith(b"\n"):
        data = data + b"\n"

    images, labels, splits, ids, rows, bad = [], [], [], [], [], []
    pos, line_no, row_no = head_end + 1, 2, 0
    size = len(data)
    while pos < size:
        stop = data.find(b"\n", min(pos + BLOCK_BYTES, size - 1)) + 1
        result = None if force_slow else _fast_block(data, pos, stop, cols)
        if result is not None:
            im, lab, spl, idx = result
            nlines = len(im)
            images.append(im)
            labels.append(lab)
            splits.append(spl)
            ids.append(idx)
            rows.append(np.arange(row_no, row_no + nlines, dtype=np.int64))
            row_no += nlines
        else:
            lines = data[pos:stop].split(b"\n")[:-1]
            nlines = len(lines)
            im, lab, spl, idx, kept = _slow_block(lines, line_no, cols, source, bad, skip_bad)
            index = []
            for k in kept:
                if k is None:
                    continue
                if k:
                    index.append(row_no)
                row_no += 1
            if im:
                images.append(np.stack(im))
                labels.append(None if cols.emotion is None else np.asarray(lab, dtype=np.int64))
                splits.append(np.array(spl, dtype=object))
                ids.append(idx)
                rows.append(np.asarray(index, dtype=np.int64))
        line_no += nlines
        pos = stop

    if row_no == 0:
        raise DataError(f"{source}: the file holds a header line and no data rows")
    if not images:
        raise DataError(f"{source}: none of its {row_no} rows could be read ({bad[0]} ...)")
    return CsvTable(
        images=np.concatenate(images),
        labels=None if cols.emotion is None else np.concatenate(labels),
        splits=None if cols.usage is None else np.concatenate(splits),
        rows=np.concatenate(rows),
        total_rows=row_no,
        bad=bad,
        ids=None if cols.id is None else np.array([i for part in ids for i in part], dtype=str),
    )


# ---------------------------------------------------------------------------------------- FER+

#: FER+ vote columns in file order, with the FER2013 class name each one maps to.
FERPLUS_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear",
                   "contempt", "unknown", "nf")
FERPLUS_TO_FER = {"neutral": "neutral", "happiness": "happy", "surprise": "surprise",
                  "sadness": "sad", "anger": "angry", "disgust": "disgust", "fear": "fear",
                  "contempt": "contempt"}


@dataclass
class FerPlus:
    """FER+ majority labels per FER2013 data row."""

    classes: np.ndarray  # (R,) FER+ column index of the majority emotion, or -1 when dropped
    usage: list[str]  # (R,) split name per row ("" when unknown)
    empty: int  # rows with no image name (not part of FER+)
    undecided: int  # rows without a clear majority, or whose majority is unknown / not a face


def parse_ferplus(data: bytes, source: str) -> FerPlus:
    """Parse ``fer2013new.csv`` and take the FER+ majority vote of each row.

    The rule is the one of Microsoft's FER+ code (mode "majority"): votes of 1 are dropped as
    outliers; the emotion with the most remaining votes wins if it holds more than half of them;
    otherwise, or when the winner is ``unknown`` or ``NF`` (not a face), the row is dropped
    (class -1). Rows with an empty ``Image name`` are not part of FER+ and are dropped too.
    """
    text = data.decode("utf-8-sig", "replace")
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        raise DataError(f"{source}: the FER+ file is empty")
    names = [_norm_header(h) for h in header]
    need = ("usage", "image name") + FERPLUS_COLUMNS
    missing = [n for n in need if n not in names]
    if missing:
        raise DataError(f"{source}: line 1: the FER+ header lacks column(s) {missing} (it has {names})")
    col = [names.index(n) for n in FERPLUS_COLUMNS]
    iuse, iname = names.index("usage"), names.index("image name")
    votes, usage, has_image = [], [], []
    for lineno, fields in enumerate(reader, start=2):
        if not fields or not "".join(fields).strip():
            continue
        if len(fields) < len(names):
            raise DataError(f"{source}: line {lineno}: {len(fields)} fields, expected {len(names)}")
        try:
            votes.append([int(fields[c]) for c in col])
        except ValueError:
            raise DataError(f"{source}: line {lineno}: a vote count is not an integer") from None
        usage.append(USAGE_SPLITS.get(fields[iuse].strip().lower(), ""))
        has_image.append(bool(fields[iname].strip()))
    if not votes:
        raise DataError(f"{source}: the FER+ file holds no rows")
    v = np.asarray(votes, dtype=np.int64)
    if (v < 0).any():
        raise DataError(f"{source}: line {int(np.flatnonzero((v < 0).any(1))[0]) + 2}: a negative vote count")
    v = np.where(v <= 1, 0, v)
    total = v.sum(1)
    top = v.argmax(1)
    clear = v[np.arange(len(v)), top] * 2 > total
    emotion = top < FERPLUS_COLUMNS.index("unknown")
    has_image = np.asarray(has_image)
    classes = np.where(clear & emotion & has_image, top, -1)
    return FerPlus(
        classes=classes,
        usage=usage,
        empty=int((~has_image).sum()),
        undecided=int((has_image & ~(clear & emotion)).sum()),
    )
