"""`ferviz study`: train variants of one recipe over the same seeds and compare them.

The original report asked whether normalisation and augmentation matter. A study trains every
variant with every seed of the same list and the same budget, through
:func:`ferviz.train.trainer.run_training`, into ``OUT/<variant>/seed-<k>``:

    normalization   standard | unit | none            (--normalize of ferviz train)
    augmentation    off | on-the-fly | offline-xK     (K = --copies fixed augmented copies per image)
    grid            every normalization x augmentation pair

Per variant it reports the mean and spread (sample standard deviation, min-max) over seeds of
the best validation accuracy, the final validation loss and the epochs run, in ``study.md``
(a Markdown table), ``study.json`` and ``study.png`` (bars with error bars, a dot per seed),
made by :mod:`ferviz.train.results` (which the report reads them back with). These are
rewritten after every run, so an unfinished study can be looked at.

Re-running the same command resumes: a run whose ``history.json`` and ``best.pt`` show it
reached its end (its epoch budget, or early stopping) is skipped, a run cut short continues
from its ``last.pt``, and more ``--seeds`` add runs. A different budget in the same folder is
refused (``plan.json`` records it).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from ferviz.errors import Interrupted, OptionError
from ferviz.fileio import LOCK_NAME, atomic_file, cannot_write, check_target, clear_folder, run_lock
from ferviz.figures import save_figure
from ferviz.train.config import TrainConfig
from ferviz.train.results import METRICS, STUDY_FORMAT, run_metrics, spread, study_figure, study_markdown
from ferviz.train.trainer import run_training

KINDS = ("normalization", "augmentation", "grid")
#: Fields a study varies itself; the rest of the TrainConfig (but the seed) is the shared budget.
VARIED = ("normalize", "augment", "augment_copies", "seed")


@dataclass(frozen=True)
class Variant:
    name: str
    description: str
    overrides: dict


def variants(kind: str, copies: int = 2) -> list[Variant]:
    """The variants of study `kind`; `copies` is K of the offline augmentation."""
    norm = [Variant(m, f"normalize {m}", {"normalize": m}) for m in ("standard", "unit", "none")]
    aug = [Variant("off", "no augmentation", {"augment": False, "augment_copies": 0}),
           Variant("on-the-fly", "random augmentation of every batch", {"augment": True, "augment_copies": 0}),
           Variant(f"offline-x{copies}", f"{copies} fixed augmented copies per image",
                   {"augment": True, "augment_copies": copies})]
    if kind == "normalization":
        return norm
    if kind == "augmentation":
        return aug
    if kind == "grid":
        return [Variant(f"{n.name}+{a.name}", f"{n.description}, {a.description}", {**n.overrides, **a.overrides})
                for n in norm for a in aug]
    raise OptionError(f"unknown study {kind!r}; choose one of {', '.join(KINDS)}")


def finished(run_dir: Path, config: TrainConfig) -> list[dict] | None:
    """The history of a run that reached its end (budget or early stop), else None."""
    if not (run_dir / "best.pt").is_file() or not (run_dir / "history.json").is_file():
        return None
    try:
        history = json.loads((run_dir / "history.json").read_text())
    except (OSError, ValueError):
        return None
    if not history:
        return None
    best = max(range(len(history)), key=lambda i: (history[i]["val_accuracy"], -i)) + 1  # first best epoch
    early = config.patience and len(history) - best >= config.patience
    return history if len(history) >= config.epochs or early else None


def _budget(config: TrainConfig) -> dict:
    return {k: v for k, v in asdict(config).items() if k not in VARIED and k != "device"}


def check_out(out: Path) -> None:
    """Before any work: `out` is new and writable, or a study (to resume, or to replace with --overwrite)."""
    if out.exists() and not out.is_dir():
        raise OptionError(f"--out {out} is a file, not a folder; choose a folder")
    if not (out / "plan.json").is_file() and out.is_dir() and [p for p in out.iterdir() if p.name != LOCK_NAME]:
        raise OptionError(f"--out {out} is not empty and holds no study (plan.json); choose another folder")
    check_target(out, folder=True, overwrite=True, owner="plan.json", in_place=True)  # resuming is allowed


def check_plan(out: Path, kind: str, base: TrainConfig, copies: int) -> None:
    """Record the study's budget in plan.json, or refuse a different one in the same folder."""
    plan = {"kind": kind, "copies": copies, "budget": _budget(base)}
    path = out / "plan.json"
    check_out(out)
    if path.is_file():
        old = json.loads(path.read_text())
        if old.get("kind") != kind:
            raise OptionError(f"--out {out} holds a {old.get('kind')} study, not {kind}; choose another folder")
        differs = sorted(k for k in set(old["budget"]) | set(plan["budget"])
                         if old["budget"].get(k) != plan["budget"].get(k))
        if differs:
            k = differs[0]
            raise OptionError(f"--out {out} holds a study with another budget ({k} {old['budget'].get(k)!r}, "
                              f"now {plan['budget'].get(k)!r}); keep the same options to resume it, or choose "
                              "another folder")
    out.mkdir(parents=True, exist_ok=True)
    with atomic_file(path, "w") as fh:
        json.dump(plan, fh, indent=1)


def run_study(kind: str, base: TrainConfig, out: Path, *, seeds: int = 3, copies: int = 2,
              only: list[str] | None = None, overwrite: bool = False, progress: bool = True,
              log: Callable[[str], None] = print) -> dict:
    """Train every variant x seed not already finished, then write study.md/json/png; returns the summary.

    The study folder is locked while this runs (:func:`ferviz.fileio.run_lock`); `overwrite`
    empties a previous study's folder first instead of resuming it."""
    if seeds < 1:
        raise OptionError(f"--seeds must be at least 1, got {seeds}")
    chosen = variants(kind, copies)
    if only:
        unknown = sorted(set(only) - {v.name for v in chosen})
        if unknown:
            raise OptionError(f"study {kind} has no variant {unknown[0]!r}; it has {', '.join(v.name for v in chosen)}")
        chosen = [v for v in chosen if v.name in only]
    base = replace(base, seed=0)
    for v in chosen:
        replace(base, **v.overrides).validate()
    out = Path(out)
    check_out(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise cannot_write(out, exc) from None
    with run_lock(out):
        if overwrite:
            clear_folder(out)
        return _run_all(kind, base, out, chosen, seeds, copies, progress, log)


def _run_all(kind: str, base: TrainConfig, out: Path, chosen: list[Variant], seeds: int, copies: int,
             progress: bool, log: Callable[[str], None]) -> dict:
    check_plan(out, kind, base, copies)
    todo = [(v, s) for v in chosen for s in range(seeds)]
    for i, (variant, seed) in enumerate(todo):
        config = replace(base, seed=seed, **variant.overrides)
        run_dir = out / variant.name / f"seed-{seed}"
        where = f"[{i + 1}/{len(todo)}] {variant.name} seed {seed}"
        if finished(run_dir, config) is not None:
            log(f"{where}: done before, skipped ({run_dir})")
            continue
        if (run_dir / "last.pt").is_file():
            log(f"{where}: continuing the run in {run_dir}")
            result = run_training(config, resume=run_dir, resume_epochs=config.epochs, progress=progress, log=log)
        else:
            log(f"{where}: training into {run_dir}")
            result = run_training(config, run_dir, overwrite=True, progress=progress, log=log)
        summary = summarise(kind, base, out, chosen, seeds)
        write_outputs(out, summary)
        if result.stopped == "interrupted":
            raise Interrupted(f"study interrupted during {variant.name} seed {seed}; run the same command again "
                              "to continue")
    summary = summarise(kind, base, out, chosen, seeds)
    write_outputs(out, summary)
    return summary


def summarise(kind: str, base: TrainConfig, out: Path, chosen: list[Variant], seeds: int) -> dict:
    rows = []
    for v in chosen:
        runs = []
        for seed in range(seeds):
            run_dir = out / v.name / f"seed-{seed}"
            history = finished(run_dir, replace(base, seed=seed, **v.overrides))
            if history is not None:
                runs.append({"seed": seed, "run_dir": str(run_dir.relative_to(out)), **run_metrics(history)})
        stats = {key: spread([r[key] for r in runs]) for key, _ in METRICS} if runs else {}
        rows.append({"name": v.name, "description": v.description, "overrides": v.overrides, "runs": runs,
                     "stats": stats})
    budget = _budget(base)
    description = (f"{budget['arch']} on {budget['data']}, up to {budget['epochs']} epochs (patience "
                   f"{budget['patience'] or 'off'}), batch {budget['batch_size']}, lr {budget['lr']:g}; "
                   f"{seeds} seed{'s' if seeds > 1 else ''} per variant (0-{seeds - 1}); mean ± sample std "
                   "(min-max) over seeds")
    return {"format": STUDY_FORMAT, "version": 1, "kind": kind, "seeds": list(range(seeds)), "budget": budget,
            "description": description, "variants": rows,
            "complete": all(len(r["runs"]) == seeds for r in rows),
            "updated": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def write_outputs(out: Path, summary: dict) -> None:
    with atomic_file(out / "study.json", "w") as fh:
        json.dump(summary, fh, indent=1)
    with atomic_file(out / "study.md", "w") as fh:
        fh.write(study_markdown(summary))
    save_figure(study_figure(summary), out / "study.png", dpi=100)
