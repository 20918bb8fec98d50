"""The ``images`` reader: a folder of unlabelled face images (or one image file), for predict and
explain. Images are converted like the folder reader's (:func:`ferviz.inputs.images.read_image_file`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ferviz.data import Dataset
from ferviz.data.archive import archive_kind
from ferviz.data.imagefolder import is_image_name
from ferviz.data.readers.common import check_options, existing, fail_or_note, warn_changed, warn_skipped
from ferviz.data.sources import Reader
from ferviz.errors import DataError
from ferviz.inputs.images import image_files, read_image_file


class UnlabelledReader(Reader):
    """A folder of face images without labels (only the files directly inside), or one image.

    Split "test", labels None, class names (); ids are the file names. Images are converted like
    the folder reader's.
    """

    kind = "images"
    summary = "a plain folder of unlabelled face images (for predict / explain)"
    options = ()

    def sniff(self, path: Path) -> bool:
        path = Path(path)
        if path.is_file():
            return is_image_name(path.name) and archive_kind(path) is None
        if not path.is_dir():
            return False
        try:
            return any(e.is_file() and is_image_name(e.name) and not e.name.startswith(".")
                       for e in os.scandir(path))
        except OSError:
            return False

    def read(self, location: str, options: dict) -> dict[str, Dataset]:
        check_options(self.kind, options, self.options)
        skip_bad = bool(options.get("skip_bad", False))
        path = existing(location, self.kind)
        if path.is_file():
            files = [path]
        elif path.is_dir():
            files = image_files(path)
        else:
            raise DataError(f"{path}: not a regular file or folder (a device or a pipe?)")
        if not files:
            raise DataError(f"{path}: no image files (.jpg, .png, ...) directly inside")
        images, ids, bad, transparent = [], [], [], []
        for f in files:
            try:
                images.append(read_image_file(f, transparent=transparent))
                ids.append(f.name)
            except DataError as exc:
                fail_or_note(str(exc), skip_bad, bad)
        if not images:
            raise DataError(f"{path}: none of its {len(files)} images could be read ({bad[0]})")
        warn_skipped(str(path), "file", bad)
        warn_changed(str(path), len(transparent), transparent[0] if transparent else None)
        ds = Dataset(np.stack(images), None, (), "test", str(path), ids=np.array(ids, dtype=str))
        return {"test": ds}
