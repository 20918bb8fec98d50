"""The sections of `ferviz report`: one question of the original report each.

This module holds the section types and the sections about the model and its numbers (model,
training, accuracy, study); :mod:`ferviz.report.explainers` and :mod:`ferviz.report.filters` the
layouts of the explainer sections. A study is read from its folder (:mod:`ferviz.train.results`):
the report does not import training.

A builder takes the :class:`~ferviz.report.context.ReportContext` and returns a :class:`Section`: a
heading (the question), figures (PNG files written into the report folder), tables, a sentence
or two of findings generated from the numbers, and the numbers themselves (every number a
table or a finding shows is in ``numbers``, which goes to ``report.json``).

Every section is isolated by :func:`ferviz.report.build.build_isolated`: a refusal
(:class:`~ferviz.errors.UnsupportedModelError`, a layer method on a TorchScript or torch.export
network) becomes a note in the section; any other failure an error shown in place (an
unexpected exception also leaves its traceback in report.json), and the report still renders
the other sections, then says which failed (the CLI exits non-zero).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ferviz.model.loaded import KINDS
from ferviz.model.evaluation import evaluate
from ferviz.figures import training_curves
from ferviz.model.summary import counts, layer_table
from ferviz.train.results import load_study, study_sentence, study_table

RIGHT, WRONG = "\u2713", "\u2717"  # check mark and ballot x: both in DejaVu Sans


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    caption: str = ""
    #: Column indices holding numbers (right-aligned in the HTML).
    numeric: tuple[int, ...] = ()


@dataclass
class Section:
    key: str
    title: str
    lead: str = ""  # what the section shows and how it was made, under the heading
    findings: list[str] = field(default_factory=list)
    figures: list[tuple[str, str]] = field(default_factory=list)  # (file name, caption)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    numbers: dict = field(default_factory=dict)
    seconds: float = 0.0
    html: str = ""  # markup of its own (the explorer), already escaped, after the figures and tables
    css: str = ""  # style rules that markup needs, put into the page's <head>

    def to_dict(self) -> dict:
        return {"title": self.title, "lead": self.lead, "findings": self.findings,
                "figures": [f for f, _ in self.figures],
                "notes": self.notes, "errors": self.errors, "numbers": self.numbers,
                "seconds": round(self.seconds, 3)}


#: The question each section about the model answers (its heading); explainers give their own (report_title).
TITLES = {
    "model": "What is the model?",
    "training": "How did training go?",
    "accuracy": "How accurate is it?",
}


def pct(share: float) -> str:
    return f"{share * 100:.0f} %"


# ----------------------------------------------------------------------------- 1. model and training
def model_section(ctx) -> Section:
    section = Section("model", TITLES["model"], lead="The network layer by layer, as Keras's model summary shows "
                      "it: output shape and parameters (BatchNorm running statistics included).")
    seen: dict[str, str] = {}
    models = []
    for name, model in zip(ctx.names, ctx.models):
        signature = f"{model.arch} {sorted(model.arch_args.items())}"
        if signature in seen:
            section.notes.append(f"{name} has the same architecture as {seen[signature]}.")
            continue
        seen[signature] = name
        if model.eager:
            rows = layer_table(model.net, model.in_channels, model.input_size)
        else:  # compiled layers: no hook sees them, so no table; the counts still hold
            rows = []
            section.notes.append(f"{name} is {KINDS[model.kind]}: its layers run as compiled code, so they are not "
                                 "listed.")
        if model.outputs == "probabilities":
            section.notes.append(f"{name} returns probabilities; the explainers explain their logarithm.")
        trainable, statistics = counts(model.net)
        prep = model.preprocessing
        models.append({"checkpoint": name, "arch": model.arch, "arch_args": model.arch_args,
                       "trainable_parameters": trainable, "bn_statistics": statistics,
                       "input": [model.in_channels, model.input_size, model.input_size],
                       "preprocessing": prep.to_dict(), "class_names": list(model.class_names),
                       "layers": [{**r, "shape": list(r["shape"])} for r in rows]})
        section.tables.append(Table(
            ["layer", "type", "output shape", "parameters"],
            [[r["name"], r["type"], " x ".join(map(str, r["shape"])), f"{r['params'] + r['buffers']:,}"]
             for r in rows] + [["total", "", "", f"{trainable + statistics:,}"]],
            caption=f"{model.arch or 'model'} ({name}); parameters include BatchNorm running statistics",
            numeric=(3,)))
        how = {"standard": f"standardised with mean {prep.mean:.1f} and std {prep.std:.1f}",
               "unit": "scaled to 0-1", "none": "fed raw (0-255)"}[prep.mode]
        section.findings.append(
            f"{model.arch or name} has {trainable:,} trainable parameters and {statistics:,} BatchNorm "
            f"statistics{f' in {len(rows)} layers' if rows else ''}; it takes {model.in_channels}x{model.input_size}x"
            f"{model.input_size} pixels, {how}, and predicts {len(model.class_names)} classes.")
    section.numbers = {"models": models}
    return section


def training_section(ctx) -> Section:
    section = Section("training", TITLES["training"])
    runs = {}
    section.lead = ("Train and validation accuracy and loss per epoch from each checkpoint's history, raw (faint) "
                    "and smoothed (bold), as in the original report.")
    for i, (name, model) in enumerate(zip(ctx.names, ctx.models)):
        history, whole = run_history(model, ctx.config.checkpoints[i])
        if not history:
            section.notes.append(f"{name} carries no training history: no curves to draw.")
            continue
        config = model.meta.get("train_config") or {}
        best = max(history, key=lambda h: h.get("val_accuracy") or 0.0)
        last = history[-1]
        budget = config.get("epochs")
        if not whole:
            saved = model.meta.get("epoch", len(history))
            stopped = f"the checkpoint was saved at epoch {saved}" + (f" of {budget}" if budget else "")
        elif budget and len(history) < budget:
            stopped = f"training stopped early after {len(history)} of {budget} epochs"
        else:
            stopped = f"training ran all {len(history)} epochs"
        if whole and len(whole) > len(model.meta.get("history") or []):
            section.notes.append(f"{name}: curves from the history.json beside it ({len(history)} epochs; the "
                                 f"checkpoint itself is from epoch {model.meta.get('epoch', '?')}).")
        runs[name] = {"epochs_run": len(history), "epoch_budget": budget, "best_epoch": best["epoch"],
                      "checkpoint_epoch": model.meta.get("epoch"),
                      "best_val_accuracy": best.get("val_accuracy"), "final_train_accuracy": last.get("train_accuracy"),
                      "final_val_accuracy": last.get("val_accuracy"), "final_train_loss": last.get("train_loss"),
                      "final_val_loss": last.get("val_loss"),
                      "train_config": {k: config.get(k) for k in ("data", "arch", "batch_size", "lr", "normalize",
                                                                   "augment", "augment_copies", "patience", "seed")
                                       if k in config}}
        file = ctx.save_figure(training_curves(history, f"{name}: {model.arch}"), f"curves-{i + 1}")
        section.figures.append((file, f"{name}: train and validation accuracy and loss (raw faint, smoothed bold)"))
        sentence = f"{name}: best val accuracy {best['val_accuracy']:.3f} at epoch {best['epoch']}; {stopped}."
        gap = (last.get("train_accuracy") or 0.0) - (last.get("val_accuracy") or 0.0)
        if last.get("train_accuracy") is not None and last.get("val_accuracy") is not None:
            runs[name]["final_gap"] = gap
            verdict = "a sign of overfitting" if gap > 0.05 else "no sign of overfitting"
            sentence += (f" At the end train accuracy is {last['train_accuracy']:.3f} and val "
                         f"{last['val_accuracy']:.3f}"
                         f" (gap {gap:+.3f}): {verdict}.")
        section.findings.append(sentence)
    if runs:
        section.tables.append(Table(
            ["checkpoint", "epochs run", "best epoch", "best val acc", "final train acc", "final val acc",
             "final val loss"],
            [[n, str(r["epochs_run"]), str(r["best_epoch"]), _f(r["best_val_accuracy"]),
              _f(r["final_train_accuracy"]), _f(r["final_val_accuracy"]), _f(r["final_val_loss"])]
             for n, r in runs.items()], numeric=(1, 2, 3, 4, 5, 6)))
    section.numbers = {"runs": runs}
    return section


def run_history(model, path) -> tuple[list[dict], list[dict] | None]:
    """(history, the same when it is the whole run's): the run's history.json beside the checkpoint
    when it continues the checkpoint's own history (best.pt stops at its best epoch), else the
    checkpoint's history with None."""
    own = list(model.meta.get("history") or [])
    beside = Path(path).parent / "history.json"
    try:
        whole = json.loads(beside.read_text()) if beside.is_file() else None
    except (OSError, ValueError):
        whole = None
    if isinstance(whole, list) and own and whole[:len(own)] == own:
        return whole, whole
    return own, None


def _f(value, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


# ----------------------------------------------------------------------------- 2. accuracy
def accuracy_section(ctx) -> Section:
    section = Section("accuracy", TITLES["accuracy"])
    data = ctx.split
    section.lead = (f"Accuracy on the {len(data):,} images of split {data.split} of {ctx.config.data}, overall and "
                    "per true class; labels are matched to the model's outputs by class name."
                    + (" Each checkpoint, then their ensemble (the mean of their probabilities)."
                       if len(ctx.models) > 1 else ""))
    results = {}
    for name, model in zip(ctx.names, ctx.models):
        with ctx.work(len(data), f"accuracy {name}"):
            results[name] = evaluate([model], data)
    if len(ctx.models) > 1:
        with ctx.work(len(data) * len(ctx.models), "accuracy ensemble"):
            results["ensemble"] = evaluate(ctx.models, data)
    dicts = {k: r.to_dict() for k, r in results.items()}
    section.numbers = {"data": ctx.config.data, "split": data.split, "n": len(data), "results": dicts}
    classes = list(next(iter(results.values())).class_names)
    section.tables.append(Table(
        ["model", "accuracy", *classes],
        [[k, f"{r.accuracy:.3f}", *(_f(r.per_class_accuracy[c]) for c in classes)] for k, r in results.items()],
        caption=f"accuracy and per-class accuracy on {len(data)} images ({data.split} split)",
        numeric=tuple(range(1, len(classes) + 2))))
    file = ctx.save_figure(accuracy_figure(results, classes), "accuracy")
    caption = "accuracy per class" + (", each model and their ensemble" if len(results) > 1 else "")
    section.figures.append((file, caption))
    section.findings.append(accuracy_sentence(results, len(data), data.split))
    return section


def accuracy_sentence(results: dict, n: int, split: str) -> str:
    """`results`: name -> EvalResult, with an optional "ensemble" entry."""
    singles = {k: r for k, r in results.items() if k != "ensemble"}
    best_name = max(singles, key=lambda k: singles[k].accuracy)
    best = singles[best_name]
    if len(singles) == 1:
        text = f"The model recognises {best.accuracy:.1%} of the {n} {split} faces"
    else:
        text = (f"The best of {len(singles)} models, {best_name}, recognises {best.accuracy:.1%} of the {n} "
                f"{split} faces")
    scored = {c: a for c, a in best.per_class_accuracy.items() if a is not None}
    if scored:
        top, low = max(scored, key=scored.get), min(scored, key=scored.get)
        text += f"; {top} is its best recognised class ({scored[top]:.2f}), {low} the worst ({scored[low]:.2f})"
    text += "."
    if "ensemble" in results:
        gain = results["ensemble"].accuracy - best.accuracy
        text += (f" Their ensemble (mean of probabilities) reaches {results['ensemble'].accuracy:.1%}, "
                 f"{gain * 100:+.1f} points over the best single model.")
    return text


def accuracy_figure(results: dict, classes: list[str]) -> Figure:
    """Grouped bars: overall and per-class accuracy, one bar per model (and the ensemble)."""
    labels = ["all", *classes]
    fig = Figure(figsize=(10, 3.2), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / len(results)
    for i, (name, r) in enumerate(results.items()):
        values = [r.accuracy] + [r.per_class_accuracy[c] or 0.0 for c in classes]
        x = np.arange(len(labels)) + (i - (len(results) - 1) / 2) * width
        bars = ax.bar(x, values, width, label=name, color="black" if name == "ensemble" else None,
                      alpha=0.85 if name == "ensemble" else 1.0)
        if len(results) <= 3:
            for bar, v in zip(bars, values):
                ax.text(bar.get_x() + bar.get_width() / 2, v + 0.01, f"{v:.2f}", ha="center", fontsize=7)
    ax.set_xticks(range(len(labels)), labels)
    ax.set_ylim(0, 1.08)
    ax.set_ylabel("accuracy")
    ax.grid(axis="y", alpha=0.3)
    if len(results) > 1:
        ax.legend(fontsize=8, ncols=min(4, len(results)), loc="upper left")
    return fig


# ----------------------------------------------------------------------------- 4. study
def study_section(ctx) -> Section:
    summary = load_study(ctx.config.study)
    section = Section("study", f"Does {summary['kind']} matter?")
    png = ctx.config.study / "study.png"
    if png.is_file():
        shutil.copyfile(png, ctx.folder / "study.png")
        section.figures.append(("study.png", "best val accuracy and final val loss per variant: mean with std "
                                             f"error bars, one dot per seed ({ctx.config.study})"))
    headers, rows = study_table(summary)
    section.lead = f"A {summary['kind']} study from {ctx.config.study}: {summary['description']}."
    section.tables.append(Table(headers, rows, numeric=tuple(range(1, len(headers)))))
    section.findings.append(study_sentence(summary))
    section.numbers = summary
    return section
