"""The whole `ferviz report` job: check, load, plan, build every section in isolation, write atomically.

:func:`build_report` checks the options (:mod:`ferviz.report.planning`), loads the checkpoints
and the data, plans the sections and builds each one in isolation (:func:`build_isolated`), in
a temporary folder beside ``--out`` that is moved into place at the end, with ``report.json`` and
``index.html`` (:mod:`ferviz.report.html`).
"""

from __future__ import annotations

import json
import os
import shutil
import time
import traceback
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Callable

from ferviz import __version__
from ferviz.errors import FervizError, Interrupted, ReportIncomplete, UnsupportedModelError
from ferviz.fileio import atomic_folder, check_target, jsonable
from ferviz.progress import progress_bar
from ferviz.report.context import ReportConfig, ReportContext
from ferviz.report.filters import report_layers
from ferviz.report.planning import Planned, check_skip, parse_params, plan
from ferviz.report.sections import Section
from ferviz.train.results import load_study

REPORT_FORMAT = "ferviz-report"


def build_report(config: ReportConfig, log: Callable[[str], None] = lambda message: None) -> Path:
    """Render the report into ``config.out`` (atomically); returns the path of index.html.

    Every section is isolated (:func:`build_isolated`): when one fails, the others still render
    and the report is written, then ReportIncomplete names the failed sections.
    """
    from ferviz.model.checkpoint import load_checkpoint
    from ferviz.data.sources import Holdout, describe_split, open_source, select_split
    from ferviz.model.evaluation import check_same_classes
    from ferviz.model.loaded import remembered_predictions
    from ferviz.report.html import render_html

    started = time.perf_counter()
    out = check_target(config.out, folder=True, overwrite=config.overwrite, owner="report.json")
    params = parse_params(config.params)
    check_skip(config.skip, config.study is not None)
    if config.study is not None:
        load_study(config.study)  # a bad --study fails before any work
    models = [load_checkpoint(path, device=config.device, **config.load_options) for path in config.checkpoints]
    check_same_classes(models)
    names = [str(path) for path in config.checkpoints]
    split = select_split(open_source(config.data, skip_bad=config.skip_bad), config.split, config.data,
                         Holdout.of_model(models[0]))
    loading = time.perf_counter() - started

    # the selection, accuracy, confusion and explorer all score the whole split: once per model
    with atomic_folder(out, overwrite=config.overwrite, owner="report.json") as tmp, remembered_predictions():
        ctx = ReportContext(config, models, names, split, tmp, params)
        planned = plan(ctx)
        log(f"report: {len(planned)} sections on {len(split)} images ({config.data}, split {describe_split(split)}), "
            f"{len(models)} checkpoint(s), {len(ctx.selection.ids)} faces explained")
        sections, tracebacks = [], {}
        with progress_bar(sum(p.cost for p in planned), "report", config.progress) as bar:
            ctx.bar = bar
            for item in planned:
                bar.set_status(item.key)
                start = time.perf_counter()
                with ctx.work(item.cost, item.key):
                    section = build_isolated(item, tmp, tracebacks)
                section.seconds = time.perf_counter() - start
                sections.append(section)
        total = time.perf_counter() - started
        other = total - loading - sum(s.seconds for s in sections)  # choosing faces, building explainers
        timings = {"loading": round(loading, 3), **{s.key: round(s.seconds, 3) for s in sections},
                   "other": round(other, 3), "total": round(total, 3)}
        meta = {"format": REPORT_FORMAT, "version": 1, "ferviz_version": __version__,
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "command": config.command,
                "inputs": {"checkpoints": names, "data": config.data, "split": split.split,
                           "split_description": describe_split(split), "images": len(split),
                           "per_class": config.per_class, "layers": report_layers(ctx), "seed": config.seed,
                           "quick": config.quick, "params": params, "device": config.device,
                           "study": str(config.study) if config.study else None},
                "explained_with": names[0]}
        report = {**meta, "sections": {s.key: s.to_dict() for s in sections}, "timings_s": timings,
                  **({"tracebacks": tracebacks} if tracebacks else {})}
        (tmp / "report.json").write_text(json.dumps(report, indent=1, default=partial(jsonable, fallback=repr)))
        (tmp / "index.html").write_text(render_html(meta, sections, timings, tmp), encoding="utf-8")
    failed = {s.key: s.errors for s in sections if s.errors}
    if failed:
        raise ReportIncomplete(
            f"report written to {out}, but {len(failed)} of {len(sections)} sections failed, each error shown in its "
            "section: " + "; ".join(f"{key} ({_clip(errors[0])})" for key, errors in failed.items()),
            index=out / "index.html", failed=failed)
    return out / "index.html"


def build_isolated(item: Planned, folder: Path, tracebacks: dict[str, str]) -> Section:
    """`item`'s section, whatever happens in it: the other sections must still render.

    A refusal (UnsupportedModelError: a layer method on a compiled network) becomes a note; any
    other failure an error shown in place, with the files the section wrote removed; an
    unexpected exception (a bug) also leaves its traceback in `tracebacks` (report.json).
    Ctrl-C still stops the report.
    """
    before = set(os.listdir(folder))
    title = item.title or item.key
    try:
        return item.build()
    except Interrupted:
        raise
    except UnsupportedModelError as exc:
        return Section(item.key, title, notes=[str(exc)])
    except FervizError as exc:  # bad input for this one analysis (an unlabelled split...)
        error = str(exc)
    except Exception as exc:  # noqa: BLE001  one section's failure must not sink the others
        lines = str(exc).strip().splitlines()
        error = f"{item.key} failed: {type(exc).__name__}" + (f": {lines[0]}" if lines else "")
        tracebacks[item.key] = traceback.format_exc()
    for name in set(os.listdir(folder)) - before:  # a failed section's half-made figures
        path = folder / name
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    return Section(item.key, title, errors=[error])


def _clip(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " ..."
