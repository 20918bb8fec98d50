"""The run folder of ``ferviz train``: claimed, checked and locked before a run, written as it goes.

A run folder holds `RUN_FILES`. It is written in place, so that an interrupted run can be resumed
from its ``last.pt`` (`load_resume`), and locked while a process writes it
(:func:`ferviz.fileio.run_lock`); every file in it is replaced atomically
(:func:`ferviz.fileio.atomic_file`).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from dataclasses import asdict
from pathlib import Path

from ferviz.errors import CheckpointError, OutputError
from ferviz.fileio import atomic_file, cannot_write, check_target, check_unlocked, clear_folder, run_lock
from ferviz.figures import save_figure, training_curves
from ferviz.model.checkpoint import read_checkpoint_dict
from ferviz.train.config import TrainConfig

RUN_FILES = ("best.pt", "last.pt", "history.json", "history.csv", "curves.png", "config.json")


def prepare_run_dir(out: Path | None, *, overwrite: bool, root: Path = Path("runs"),
                    held: contextlib.ExitStack | None = None) -> Path:
    """The run folder: `out`, or else the next free runs/run-NNN (claimed with one mkdir).

    A folder that is not empty is refused unless `overwrite`, which empties all of it. With
    `held`, the folder is locked for this process (:func:`ferviz.fileio.run_lock`) until `held`
    closes, and checked again under the lock: a second writer is refused with the first's pid.
    """
    out = _claim_numbered(root) if out is None else Path(out)
    _check_run_dir(out, overwrite)  # before anything is created
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise cannot_write(out, exc) from None
    if held is not None:
        held.enter_context(run_lock(out))
        _check_run_dir(out, overwrite, ours=True)  # another run may have filled it meanwhile
    if overwrite:
        clear_folder(out)
    return out


def _check_run_dir(out: Path, overwrite: bool, *, ours: bool = False) -> None:
    if not ours:  # (when the lock is ours, another look would take it for someone else's)
        check_unlocked(out)
    existing = [name for name in RUN_FILES if (out / name).exists()] if out.is_dir() else []
    if existing and not overwrite:
        raise OutputError(f"--out {out} already holds a run ({', '.join(existing)}); pass --overwrite to "
                          "replace all of it, --resume it, or choose another folder")
    check_target(out, folder=True, overwrite=overwrite, owner=RUN_FILES, in_place=True)


def _claim_numbered(root: Path) -> Path:
    try:
        root.mkdir(parents=True, exist_ok=True)
        taken = {p.name for p in root.iterdir()}
        for i in range(1, 100_000):
            if f"run-{i:03d}" not in taken:
                try:
                    (root / f"run-{i:03d}").mkdir()  # atomic: two runs never claim the same number
                    return root / f"run-{i:03d}"
                except FileExistsError:
                    continue
    except OSError as exc:
        raise cannot_write(root, exc) from None
    raise OutputError(f"{root}: no free run-NNN name left; give --out")


def load_resume(run_dir: Path) -> tuple[TrainConfig, dict]:
    """The config and last checkpoint of a run folder, for --resume."""
    last = Path(run_dir) / "last.pt"
    if not last.is_file():
        raise CheckpointError(f"--resume {run_dir}: no last.pt there to resume from")
    ckpt = read_checkpoint_dict(last)
    return TrainConfig.from_dict(ckpt.get("train_config", {})), ckpt


def write_config(run_dir: Path, config: TrainConfig, extra: dict) -> None:
    with atomic_file(Path(run_dir) / "config.json", "w") as fh:
        json.dump({**asdict(config), **extra}, fh, indent=1)


def write_history(run_dir: Path, history: list[dict], title: str) -> None:
    """``history.json``, ``history.csv`` and, once there is an epoch, ``curves.png`` (titled `title`)."""
    with atomic_file(Path(run_dir) / "history.json", "w") as fh:
        json.dump(history, fh, indent=1)
    buffer = io.StringIO()
    if history:
        writer = csv.DictWriter(buffer, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)
    with atomic_file(Path(run_dir) / "history.csv", "w") as fh:
        fh.write(buffer.getvalue())
    if history:
        save_figure(training_curves(history, title), Path(run_dir) / "curves.png")
