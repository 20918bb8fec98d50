"""A study's results on disk (``study.json``), read and shown without the trainer.

:mod:`ferviz.train.study` trains the variants and writes ``study.json``, ``study.md`` and
``study.png`` through these; ``ferviz report --study DIR`` reads them back with
:func:`load_study` and shows :func:`study_table` and :func:`study_sentence`. Nothing here
imports training (tests/report/test_study.py checks that the report does not load it).

A summary holds, per variant, the finished runs (seed, metrics) and the mean, sample standard
deviation and min-max over seeds of each metric in :data:`METRICS`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ferviz.errors import DataError

STUDY_FORMAT = "ferviz-study"
METRICS = (("best_val_accuracy", "best val accuracy"), ("final_val_loss", "final val loss"),
           ("epochs", "epochs run"))


def run_metrics(history: list[dict]) -> dict:
    return {"best_val_accuracy": max(h["val_accuracy"] for h in history),
            "final_val_loss": history[-1]["val_loss"], "epochs": len(history),
            "seconds": sum(h.get("seconds", 0.0) for h in history)}


def spread(values: list[float]) -> dict:
    """mean, sample std (0 for one value), min, max and n."""
    a = np.asarray(values, dtype=np.float64)
    return {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if len(a) > 1 else 0.0,
            "min": float(a.min()), "max": float(a.max()), "n": int(len(a))}


def _cell(stats: dict | None, key: str) -> str:
    if not stats:
        return "-"
    s = stats[key]
    if key == "epochs":
        return f"{s['mean']:.1f} ± {s['std']:.1f} ({s['min']:.0f}-{s['max']:.0f})"
    return f"{s['mean']:.3f} ± {s['std']:.3f} ({s['min']:.3f}-{s['max']:.3f})"


def study_table(summary: dict) -> tuple[list[str], list[list[str]]]:
    headers = ["variant", "seeds", *(label for _, label in METRICS)]
    rows = [[v["name"], f"{len(v['runs'])} of {len(summary['seeds'])}", *(_cell(v["stats"], k) for k, _ in METRICS)]
            for v in summary["variants"]]
    return headers, rows


def study_markdown(summary: dict) -> str:
    headers, rows = study_table(summary)
    lines = [f"# {summary['kind'].capitalize()} study", "", summary["description"] + ".", "",
             "| " + " | ".join(headers) + " |", "|" + "|".join(["---"] + ["---:"] * (len(headers) - 1)) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines += ["", study_sentence(summary)]
    if not summary["complete"]:
        lines += ["", "_Unfinished: some runs are still missing; run the same `ferviz study` command to continue._"]
    return "\n".join(lines) + "\n"


def study_sentence(summary: dict) -> str:
    """The best and worst variant by mean best val accuracy, and whether the gap exceeds the seed spread."""
    done = [v for v in summary["variants"] if v["stats"]]
    if not done:
        return "No run has finished yet."
    acc = {v["name"]: v["stats"]["best_val_accuracy"] for v in done}
    best = max(acc, key=lambda k: acc[k]["mean"])
    if len(done) == 1:
        return f"{best} reaches {acc[best]['mean']:.3f} ± {acc[best]['std']:.3f} best val accuracy."
    worst = min(acc, key=lambda k: acc[k]["mean"])
    gap = acc[best]["mean"] - acc[worst]["mean"]
    if gap <= 1e-9:
        return f"Every variant reaches the same mean best val accuracy ({acc[best]['mean']:.3f})."
    noise = max(acc[best]["std"], acc[worst]["std"])
    verdict = ("larger than the spread between seeds" if gap > 2 * noise
               else "within the spread between seeds: more seeds or epochs are needed to tell them apart")
    return (f"{best} reaches the best mean val accuracy ({acc[best]['mean']:.3f} ± {acc[best]['std']:.3f} over "
            f"{acc[best]['n']} seeds), {worst} the lowest ({acc[worst]['mean']:.3f} ± {acc[worst]['std']:.3f}): "
            f"a gap of {gap * 100:.1f} points, {verdict}.")


def study_figure(summary: dict) -> Figure:
    """Per variant: mean with std error bars and a dot per seed, for best val accuracy and final val loss."""
    fig = Figure(figsize=(9, 3.6), layout="constrained")
    names = [v["name"] for v in summary["variants"]]
    for ax, (key, label) in zip(fig.subplots(1, 2), METRICS[:2]):
        for i, v in enumerate(summary["variants"]):
            if not v["stats"]:
                continue
            s = v["stats"][key]
            ax.bar(i, s["mean"], yerr=s["std"], color=f"C{i}", alpha=0.75, capsize=5)
            ax.annotate(f"{s['mean']:.3f}\n± {s['std']:.3f}", (i, s["mean"] + s["std"]), xytext=(0, 4),
                        textcoords="offset points", ha="center", fontsize=7)
            ax.scatter([i] * len(v["runs"]), [r[key] for r in v["runs"]], color="black", s=12, zorder=3)
        ax.set_xticks(range(len(names)), [n.replace("+", "\n") for n in names],  # grid variants on two lines
                      rotation=30 if len(names) > 4 else 0, ha="right" if len(names) > 4 else "center")
        ax.set_ylabel(label)
        ax.margins(y=0.15)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(f"{summary['kind']} study, {len(summary['seeds'])} seeds per variant (mean ± std, dots: seeds)",
                 fontsize=10)
    return fig


def load_study(folder: Path) -> dict:
    """The summary a study wrote into `folder` (study.json)."""
    path = Path(folder) / "study.json"
    if not path.is_file():
        raise DataError(f"--study {folder}: no study.json there (run `ferviz study ... --out {folder}` first)")
    try:
        summary = json.loads(path.read_text())
    except ValueError as exc:
        raise DataError(f"--study {folder}: study.json is not valid JSON ({exc})") from None
    if summary.get("format") != STUDY_FORMAT:
        raise DataError(f"--study {folder}: study.json is not a ferviz study")
    return summary
