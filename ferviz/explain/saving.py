"""Saving an explanation: arrays.npz, one file per figure, summary.json and a manifest, atomically.

:func:`save` writes everything into a temporary folder beside the target, which then becomes the
target in one rename (:func:`ferviz.fileio.atomic_folder`): a failed run leaves nothing
half-written. ``manifest.json`` (format ``ferviz-explanation``) says what was run (the
explanation's ``meta``), which files hold what, and the summary.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ferviz import __version__
from ferviz.errors import OptionError
from ferviz.explain.base import Explanation
from ferviz.fileio import FIGURE_FORMATS, atomic_folder, jsonable

MANIFEST_FORMAT = "ferviz-explanation"


def save(explanation: Explanation, out_dir, fmt: str = "png", *, extra: dict | None = None,
         overwrite: bool = False) -> Path:
    """Write arrays.npz, one file per figure, summary.json and manifest.json into `out_dir`.

    Everything is written into a temporary folder beside `out_dir`, which then becomes `out_dir`
    in one rename (:func:`ferviz.fileio.atomic_folder`): a failure leaves `out_dir` as it was.
    An existing `out_dir` is refused unless `overwrite`, which replaces all of it (a previous
    explanation's figures do not stay beside the new ones). Returns the manifest path.
    """
    if fmt not in FIGURE_FORMATS:
        raise OptionError(f"figure format must be one of {', '.join(FIGURE_FORMATS)}, got {fmt!r}")
    out_dir = Path(out_dir)
    with atomic_folder(out_dir, overwrite=overwrite, owner="manifest.json") as tmp:
        _write_all(explanation, tmp, fmt, extra or {})
    return out_dir / "manifest.json"


def _write_all(explanation: Explanation, folder: Path, fmt: str, extra: dict) -> list[str]:
    files: list[str] = []
    if explanation.arrays:
        np.savez_compressed(folder / "arrays.npz", **explanation.arrays)
        files.append("arrays.npz")
    figures = {}
    for name, figure in explanation.figures.items():
        filename = f"{name}.{fmt}"
        figure.savefig(folder / filename, format=fmt, dpi=120, bbox_inches="tight")
        figures[name] = filename
        files.append(filename)
    if explanation.summary:
        (folder / "summary.json").write_text(json.dumps(explanation.summary, indent=2, default=jsonable))
        files.append("summary.json")
    manifest = {
        "format": MANIFEST_FORMAT,
        "version": 1,
        **explanation.meta,
        **extra,
        "ferviz_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "files": files + ["manifest.json"],
        "arrays": {k: {"shape": list(v.shape), "dtype": str(v.dtype)} for k, v in explanation.arrays.items()},
        "figures": figures,
        "summary": explanation.summary,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, default=jsonable))
    return files + ["manifest.json"]
