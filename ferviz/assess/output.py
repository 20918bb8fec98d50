"""An :class:`~ferviz.assess.Assessment` as files: a Markdown table, JSON, figures and arrays.

:func:`write` puts into one folder, atomically (a temporary folder beside it, renamed into
place; :mod:`ferviz.fileio`):

    assessment.md    explainer x metric table (mean +- standard error), per-class localisation
    assessment.json  every number: means, standard errors, per-class means, mean curves, options
    assessment.png   one bar chart per metric, with the chance level and the sanity threshold
    curves.png       the randomisation cascade and the deletion/insertion curves, per method
    maps.png         the first images (one per class where possible) under every method's map
    arrays.npz       per method: the maps, and every per-image value and curve of every metric
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ferviz import __version__
from ferviz.assess import RANDOM_ROW, Assessment
from ferviz.explain import jsonable
from ferviz.fileio import atomic_folder

FORMAT = "ferviz-assessment"
ROW_LABELS = {RANDOM_ROW: "random map (baseline)"}
CHANCE_LABEL = "chance (expected)"


def _finite(value: float) -> float | None:
    return float(value) if value is not None and np.isfinite(value) else None


def _arrow(metric) -> str:
    return "↑" if metric.higher_is_better else "↓"


# ----------------------------------------------------------------------------- JSON
def to_dict(result: Assessment) -> dict:
    """Everything in the assessment that is not a per-image array, as JSON-able values."""
    table: dict = {}
    for row in result.rows:
        table[row] = {}
        for metric in result.metrics:
            raw = result.results[row][metric.name]
            cell = {
                "mean": _finite(result.value(row, metric.name)),
                "sem": _finite(result.sem(row, metric.name)),
                "n": _count(result.per_image(row, metric.name)),
                "flagged": result.flagged(row, metric.name) if metric.flag_above is not None else None,
                "per_class": result.per_class(row, metric.name),
                "means": {},
                "curves": {k: [round(float(v), 6) for v in c] for k, c in result.curves(row, metric.name).items()},
                "extra": {},
                "seconds": round(result.seconds[row].get(metric.name, 0.0), 3),
            }
            for key, value in raw.items():
                if result.per_image(row, metric.name, key) is not None:
                    cell["means"][key] = _finite(result.value(row, metric.name, key))
                elif isinstance(value, (int, float, np.floating, np.integer)):
                    cell["means"][key] = _finite(float(value))
                elif not isinstance(value, np.ndarray):
                    cell["extra"][key] = value
            table[row][metric.name] = cell
    return {
        "format": FORMAT,
        "version": 1,
        "ferviz_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **result.meta,
        "images": len(result.targets),
        "class_names": list(result.class_names),
        "targets_per_class": {c: int((result.targets == i).sum()) for i, c in enumerate(result.class_names)},
        "methods": {row: {"options": result.method_options.get(row, {}),
                          "seconds_maps": round(result.seconds[row]["maps"], 3)} for row in result.rows},
        "metrics": {m.name: {"summary": m.summary, "headline": m.headline, "higher_is_better": m.higher_is_better,
                             "needs_masks": m.needs_masks, "options": dict(vars(m.opts)), "flag_above": m.flag_above,
                             "chance": _finite(result.chance(m.name))} for m in result.metrics},
        "skipped": dict(result.skipped),
        "table": table,
    }


def _count(values) -> int | None:
    return None if values is None else int(np.isfinite(values).sum())


# ----------------------------------------------------------------------------- Markdown
def _cell(result: Assessment, row: str, metric) -> str:
    mean, sem = result.value(row, metric.name), result.sem(row, metric.name)
    if not np.isfinite(mean):
        return "n/a"
    text = f"{mean:.3f}" + (f" ± {sem:.3f}" if np.isfinite(sem) else "")
    return text + (" **flagged**" if result.flagged(row, metric.name) else "")


def markdown_table(result: Assessment) -> str:
    """The explainer x metric table (with the baseline and chance rows), as Markdown."""
    head = ["method"] + [f"{m.name} {_arrow(m)}" for m in result.metrics] + ["maps (s)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" + "---:|" * (len(head) - 1)]
    for row in result.rows:
        cells = [ROW_LABELS.get(row, row)] + [_cell(result, row, m) for m in result.metrics]
        lines.append("| " + " | ".join(cells + [f"{result.seconds[row]['maps']:.1f}"]) + " |")
    chance = [result.chance(m.name) for m in result.metrics]
    if any(np.isfinite(c) for c in chance):
        cells = [f"{c:.3f}" if np.isfinite(c) else "" for c in chance]
        lines.append("| " + " | ".join([f"*{CHANCE_LABEL}*"] + cells + [""]) + " |")
    return "\n".join(lines)


def per_class_table(result: Assessment, metric) -> str:
    """Rows = methods, columns = classes: the metric's mean over the images explaining each class."""
    names = list(result.class_names)
    lines = ["| method | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for row in result.rows:
        values = result.per_class(row, metric.name)
        cells = [f"{values[c]:.2f}" if values[c] is not None else "-" for c in names]
        lines.append(f"| {ROW_LABELS.get(row, row)} | " + " | ".join(cells) + " |")
    if any("chance" in result.results[row][metric.name] for row in result.rows):
        values = result.per_class(result.rows[0], metric.name, "chance")
        cells = [f"{values[c]:.2f}" if values[c] is not None else "-" for c in names]
        lines.append(f"| *{CHANCE_LABEL}* | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def to_markdown(result: Assessment) -> str:
    meta = result.meta
    where = ", ".join(f"{k} `{meta[k]}`" for k in ("checkpoint", "data", "split") if meta.get(k))
    lines = ["# Explanation quality", ""]
    if where:
        lines.append(f"{where}; {len(result.targets)} images, explaining the {meta.get('target', 'given')} "
                     f"class; seed {meta.get('seed', 0)}.")
        lines.append("")
    lines += [markdown_table(result), "",
              "Mean over images ± standard error; ↑ higher is better, ↓ lower is better. "
              "*random map*: uniform noise maps (a random pixel order); *chance*: what a map that "
              "knows nothing scores on average (the cue mask's area share)."]
    flagged = [m for m in result.metrics if m.flag_above is not None]
    if flagged:
        lines.append("A **flagged** cell: " + "; ".join(
            f"{m.name} mean Spearman above {m.flag_above:g}" for m in flagged)
            + ": the method's maps barely change when the model does, so they do not show what it learnt.")
    if result.skipped:
        lines.append("Not run: " + "; ".join(f"{name} ({why})" for name, why in result.skipped.items()) + ".")
    for metric in result.metrics:
        if metric.needs_masks:
            lines += ["", f"## {metric.name} per class", "", per_class_table(result, metric)]
    lines += ["", "## Metrics", ""]
    for metric in result.metrics:
        opts = ", ".join(f"{k}={v}" for k, v in vars(metric.opts).items() if k != "checkpoint")
        lines.append(f"- **{metric.name}** ({_arrow(metric)}): {metric.summary}"
                     + (f" Options: {opts}." if opts else ""))
    lines += ["", "## Methods", ""]
    for row in result.rows:
        opts = ", ".join(f"{k}={v}" for k, v in result.method_options.get(row, {}).items())
        lines.append(f"- **{ROW_LABELS.get(row, row)}**" + (f": {opts}" if opts else ""))
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- figures
def _colours(rows: list[str]) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return ["0.6" if row == RANDOM_ROW else cmap(i % 10) for i, row in enumerate(rows)]


def bars_figure(result: Assessment) -> Figure:
    """One bar chart per metric: the headline mean (+- s.e.) of every method."""
    k = max(1, len(result.metrics))
    cols = min(3, k)
    fig = Figure(figsize=(4.2 * cols, 3.2 * (-(-k // cols)) + 0.4), layout="constrained")
    axes = list(fig.subplots(-(-k // cols), cols, squeeze=False).flat)
    labels = [ROW_LABELS.get(r, r).replace(" (baseline)", "") for r in result.rows]
    for ax, metric in zip(axes, result.metrics):
        means = [result.value(r, metric.name) for r in result.rows]
        errors = [np.nan_to_num(result.sem(r, metric.name)) for r in result.rows]
        ax.barh(range(len(labels)), np.nan_to_num(means), xerr=errors, color=_colours(result.rows))
        chance = result.chance(metric.name)
        if np.isfinite(chance):
            ax.axvline(chance, color="k", linestyle="--", linewidth=1, label="chance")
        if metric.flag_above is not None:
            ax.axvline(metric.flag_above, color="tab:red", linestyle=":", linewidth=1, label="flag threshold")
        if np.isfinite(chance) or metric.flag_above is not None:
            ax.legend(fontsize=7, loc="lower right")
        ax.set_yticks(range(len(labels)), labels, fontsize=7)
        ax.invert_yaxis()
        ax.set_title(f"{metric.name} ({'higher' if metric.higher_is_better else 'lower'} is better)", fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
    for ax in axes[len(result.metrics):]:
        ax.set_axis_off()
    return fig


def curves_figure(result: Assessment) -> Figure | None:
    """One panel per curve a metric returns (cascade, deletion, insertion), one line per method."""
    panels = [(m, key) for m in result.metrics for key in
              sorted({k for row in result.rows for k in result.curves(row, m.name)})]
    if not panels:
        return None
    fig = Figure(figsize=(4.6 * len(panels), 3.6), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    colours = _colours(result.rows)
    for ax, (metric, key) in zip(axes, panels):
        labels = None
        for row, colour in zip(result.rows, colours):
            curve = result.curves(row, metric.name).get(key)
            if curve is None:
                continue
            layers = result.results[row][metric.name].get("layers")
            if isinstance(layers, list) and len(layers) == len(curve):
                x, labels = np.arange(len(curve)), layers
            else:
                x = np.linspace(0, 1, len(curve))
            ax.plot(x, curve, color=colour, label=ROW_LABELS.get(row, row), linewidth=1.4,
                    linestyle="--" if row == RANDOM_ROW else "-")
        if labels:
            ax.set_xticks(range(len(labels)), [name.split("+")[0] for name in labels], rotation=60, ha="right",
                          fontsize=6)
            ax.set_xlabel("re-initialised down to", fontsize=8)
            ax.set_ylabel("Spearman |map| vs original", fontsize=8)
        else:
            ax.set_xlabel("fraction of pixels moved", fontsize=8)
            ax.set_ylabel(f"target {metric.opts.score}" if hasattr(metric.opts, "score") else key, fontsize=8)
        ax.set_title(f"{metric.name}: {key}", fontsize=9)
        ax.tick_params(labelsize=7)
    axes[-1].legend(fontsize=6, loc="best")
    return fig


def maps_figure(result: Assessment, faces: np.ndarray, count: int = 4) -> Figure:
    """The first `count` images (one per target class where possible) and each method's map."""
    picked: list[int] = []
    for c in range(len(result.class_names)):
        hits = np.flatnonzero(result.targets == c)
        if len(hits) and len(picked) < count:
            picked.append(int(hits[0]))
    picked += [i for i in range(len(result.targets)) if i not in picked][:count - len(picked)]
    rows = result.rows
    fig = Figure(figsize=(1.3 * (len(rows) + 1), 1.45 * len(picked) + 0.4), layout="constrained")
    axes = fig.subplots(len(picked), len(rows) + 1, squeeze=False)
    for r, i in enumerate(picked):
        axes[r, 0].imshow(faces[i], cmap="gray", vmin=0, vmax=255)
        axes[r, 0].set_title(result.class_names[result.targets[i]], fontsize=7)
        for c, row in enumerate(rows, start=1):
            m = result.maps[row][i]
            bound = float(np.abs(m).max()) or 1.0
            if m.min() < 0:
                axes[r, c].imshow(m, cmap="RdBu_r", vmin=-bound, vmax=bound)
            else:
                axes[r, c].imshow(m, cmap="hot", vmin=0, vmax=bound)
            if r == 0:
                axes[r, c].set_title(ROW_LABELS.get(row, row).replace(" (baseline)", ""), fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


# ----------------------------------------------------------------------------- writing
def arrays(result: Assessment) -> dict[str, np.ndarray]:
    """``maps.ROW`` and ``ROW.METRIC.KEY`` for every per-image array, plus ``targets``."""
    out = {"targets": result.targets}
    for row in result.rows:
        out[f"maps.{row}"] = result.maps[row]
        for metric in result.metrics:
            for key, value in result.results[row][metric.name].items():
                if isinstance(value, np.ndarray) and len(value) == len(result.targets):
                    out[f"{row}.{metric.name}.{key}"] = value
    return out


def write(result: Assessment, out_dir, faces: np.ndarray | None = None, fmt: str = "png", *,
          overwrite: bool = False) -> list[Path]:
    """Write the assessment's files into `out_dir` (atomically: :func:`ferviz.fileio.atomic_folder`;
    an existing `out_dir` is replaced, whole, only with `overwrite`); return their paths."""
    out_dir = Path(out_dir)
    with atomic_folder(out_dir, overwrite=overwrite, owner="assessment.json") as tmp:
        names = ["assessment.md"]
        (tmp / "assessment.md").write_text(to_markdown(result), encoding="utf-8")
        np.savez_compressed(tmp / "arrays.npz", **arrays(result))
        names.append("arrays.npz")
        figures = {"assessment": bars_figure(result), "curves": curves_figure(result)}
        if faces is not None:
            figures["maps"] = maps_figure(result, faces)
        for name, figure in figures.items():
            if figure is not None:
                figure.savefig(tmp / f"{name}.{fmt}", format=fmt, dpi=120)
                names.append(f"{name}.{fmt}")
        data = to_dict(result) | {"files": names + ["assessment.json"]}
        (tmp / "assessment.json").write_text(json.dumps(data, indent=1, default=jsonable), encoding="utf-8")
        names.append("assessment.json")
    return [out_dir / name for name in names]
