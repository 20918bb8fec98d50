"""Figures shared by training and the report. Matplotlib's object API only (no pyplot state)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ferviz.fileio import atomic_file


def smooth(values, weight: float = 0.6) -> np.ndarray:
    """Exponential moving average, as TensorBoard smooths curves (debiased at the start)."""
    out, last, norm = [], 0.0, 0.0
    for v in values:
        last = weight * last + (1 - weight) * v
        norm = weight * norm + (1 - weight)
        out.append(last / norm)
    return np.array(out)


def training_curves(history: list[dict], title: str = "") -> Figure:
    """Train/val accuracy and loss per epoch: raw curves faint, smoothed bold, like the report."""
    fig = Figure(figsize=(10, 4), layout="constrained")
    epochs = [h["epoch"] for h in history]
    for ax, metric in zip(fig.subplots(1, 2), ("accuracy", "loss")):
        for split, colour in (("train", "tab:blue"), ("val", "tab:orange")):
            values = [h.get(f"{split}_{metric}") for h in history]
            if not values or any(v is None for v in values):
                continue
            ax.plot(epochs, values, color=colour, alpha=0.3, linewidth=1)
            ax.plot(epochs, smooth(values), color=colour, linewidth=2.2, label=f"{split} (smoothed)")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return fig


def save_figure(fig: Figure, path: Path, dpi: int = 110, *, overwrite: bool = True) -> Path:
    """Save atomically (an existing file is replaced only with `overwrite`); the format follows
    the suffix (png, pdf, svg)."""
    path = Path(path)
    with atomic_file(path, overwrite=overwrite) as fh:
        fig.savefig(fh, format=path.suffix.lstrip(".") or "png", dpi=dpi)
    return path
