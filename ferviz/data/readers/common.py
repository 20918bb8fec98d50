"""What every built-in file reader does alike: check its options and its path, order the splits,
and warn, once per read, about what it skipped or changed.

Malformed input raises `DataError` naming the file and the line or member and what is wrong;
with ``skip_bad`` the bad rows or files are left out and one `DataWarning` says how many.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from ferviz.errors import DataError, DataWarning

SPLIT_ORDER = ("train", "val", "public-test", "private-test", "test")
CACHE_VERSION = 2  # raised whenever what a cached read returns or says changes


def warn_skipped(source: str, noun: str, bad: list[str], count: int | None = None) -> None:
    """The one warning of a read that skipped bad rows or files (``skip_bad``)."""
    count = len(bad) if count is None else count
    if count:
        first = ""
        if bad:
            first = bad[0][len(source) + 2:] if bad[0].startswith(source + ": ") else bad[0]
            first = f" (first: {first})"
        plural = "s" if count != 1 else ""
        warnings.warn(f"{source}: skipped {count} bad {noun}{plural}{first}", DataWarning, stacklevel=3)


def warn_changed(source: str, transparent: int = 0, first: str | None = None, unsafe: int = 0) -> None:
    """The warnings of a read that changed or passed over something without failing: `transparent`
    images whose transparent pixels were composited over black (`first` of them), and `unsafe`
    archive members ignored."""
    if transparent:
        first = first[len(source) + 2:] if first and first.startswith(source + ": ") else first
        first = None if first == source else first  # a single image file
        warnings.warn(f"{source}: {transparent} image{'s' if transparent != 1 else ''} with transparent pixels, "
                      f"composited over black{f' (first: {first})' if first else ''}", DataWarning, stacklevel=3)
    if unsafe:
        warnings.warn(f"{source}: ignored {unsafe} archive member{'s' if unsafe != 1 else ''} with an absolute or "
                      "'..' path, or a link (never extracted, not data)", DataWarning, stacklevel=3)


def check_options(kind: str, options: dict, allowed: tuple[str, ...]) -> dict:
    """The user's options (``skip_bad`` aside); DataError naming any that `kind` does not take."""
    given = {k: v for k, v in options.items() if k != "skip_bad"}
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise DataError(f"{kind}: unknown option(s) {', '.join(unknown)}; valid: {', '.join(allowed)}")
    return given


def ordered(names) -> list[str]:
    """Split names once each, in `SPLIT_ORDER` first, others after them in the order met."""
    names = list(dict.fromkeys(names))
    return sorted(names, key=lambda s: (SPLIT_ORDER.index(s) if s in SPLIT_ORDER else len(SPLIT_ORDER), names.index(s)))


def existing(location: str, kind: str) -> Path:
    """The path of ``KIND:LOCATION``; DataError when there is none or nothing is there."""
    if not location:
        raise DataError(f"{kind}: needs a path ({kind}:PATH)")
    path = Path(location).expanduser()
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    return path


def fail_or_note(message: str, skip_bad: bool, bad: list[str]) -> None:
    """A bad file: DataError, or with `skip_bad` one more line in `bad` (for the one warning)."""
    if not skip_bad:
        raise DataError(f"{message} (--skip-bad skips such files, with one warning)")
    bad.append(message)
