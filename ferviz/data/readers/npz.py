"""The ``npz`` reader: ferviz's own ``.npz`` data files (:mod:`ferviz.data.npzfile`; ``ferviz data
synth`` writes them)."""

from __future__ import annotations

import zipfile
from pathlib import Path

from ferviz.data import Dataset
from ferviz.data.archive import archive_kind, suffix
from ferviz.data.npzfile import load_npz
from ferviz.data.readers.common import check_options, existing
from ferviz.data.sources import Reader
from ferviz.errors import DataError


class NpzReader(Reader):
    """ferviz's own ``.npz`` data files (``ferviz data synth`` writes them)."""

    kind = "npz"
    summary = "ferviz .npz data files (written by `ferviz data synth`)"
    options = ()

    def sniff(self, path: Path) -> bool:
        path = Path(path)
        if not path.is_file():
            return False
        if suffix(path.name) == ".npz":
            return True
        if archive_kind(path) != "zip":
            return False
        try:
            with zipfile.ZipFile(path) as zf:
                return "images.npy" in zf.namelist()
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError):
            return False

    def read(self, location: str, options: dict) -> dict[str, Dataset]:
        check_options(self.kind, options, self.options)
        path = existing(location, self.kind)
        if not path.is_file():
            raise DataError(f"{path}: not a regular file")
        return load_npz(path)
