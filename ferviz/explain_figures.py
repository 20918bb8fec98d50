"""Figures of the built-in explainers, made without pyplot (no global state, nothing to close).

Every function returns a :class:`matplotlib.figure.Figure` built directly; ``Figure.savefig``
picks the Agg/PDF/SVG canvas itself, so nothing registers with pyplot and nothing leaks.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

#: Images per attribution figure; longer selections are split into pages.
ROWS_PER_FIGURE = 8
#: Colour maps of attribution maps: signed ones centred on zero (red for, blue against), unsigned
#: ones from zero (black) to the map's maximum (white). The report's explorer uses the same.
SIGNED_COLOURS, UNSIGNED_COLOURS = "RdBu_r", "hot"


def pages(n: int, per_page: int = ROWS_PER_FIGURE) -> list[slice]:
    """Slices of range(n), `per_page` at a time."""
    return [slice(s, min(s + per_page, n)) for s in range(0, n, per_page)]


def page_names(base: str, n: int, per_page: int = ROWS_PER_FIGURE) -> list[tuple[str, slice]]:
    """(figure name, slice) per page: ``base`` alone, or ``base-p1``, ``base-p2``..."""
    parts = pages(n, per_page)
    if len(parts) == 1:
        return [(base, parts[0])]
    return [(f"{base}-p{i + 1}", s) for i, s in enumerate(parts)]


def attribution_grid(faces: np.ndarray, maps: np.ndarray, masked: np.ndarray, titles: list[str], *,
                     map_title: str, signed: bool = False, mask_title: str = "mask") -> Figure:
    """Rows = images; columns: the face, the attribution map, the face kept where the mask holds.

    faces, masked: (N, H, W) uint8; maps: (N, H, W) float. `signed` maps use a diverging colour
    map centred on zero (red positive, blue negative); unsigned ones a sequential one.
    """
    n = len(faces)
    fig = Figure(figsize=(7.2, 2.3 * n + 0.3), layout="constrained")
    axes = fig.subplots(n, 3, squeeze=False)
    for i in range(n):
        ax_face, ax_map, ax_mask = axes[i]
        ax_face.imshow(faces[i], cmap="gray", vmin=0, vmax=255)
        ax_face.set_title(titles[i], fontsize=8)
        if signed:
            bound = float(np.abs(maps[i]).max()) or 1.0
            im = ax_map.imshow(maps[i], cmap=SIGNED_COLOURS, vmin=-bound, vmax=bound)
        else:
            im = ax_map.imshow(maps[i], cmap=UNSIGNED_COLOURS, vmin=0, vmax=float(maps[i].max()) or 1.0)
        ax_map.set_title(map_title, fontsize=8)
        colorbar = fig.colorbar(im, ax=ax_map, fraction=0.046, pad=0.02)
        colorbar.ax.tick_params(labelsize=6)
        colorbar.ax.yaxis.get_offset_text().set_fontsize(6)
        ax_mask.imshow(masked[i], cmap="gray", vmin=0, vmax=255)
        ax_mask.set_title(mask_title, fontsize=8)
        for ax in axes[i]:
            ax.set_xticks([])
            ax.set_yticks([])
    return fig


def image_grid(images: np.ndarray, titles: list[str], *, columns: int = 8, suptitle: str = "") -> Figure:
    """A grid of (N, H, W) float images, each contrast-stretched on its own."""
    n = len(images)
    columns = max(1, min(columns, n))
    rows = -(-n // columns)
    fig = Figure(figsize=(1.5 * columns, 1.6 * rows + 0.4), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= n:
            ax.set_axis_off()
            continue
        ax.imshow(images[i], cmap="gray")
        ax.set_title(titles[i], fontsize=7)
    if suptitle:
        fig.suptitle(suptitle, fontsize=9)
    return fig


def confusion_figure(row_normalised: np.ndarray, counts: np.ndarray, class_names, per_class: dict,
                     accuracy: float) -> Figure:
    """Row-normalised confusion matrix (share and count per cell) beside per-class accuracy bars."""
    k = len(class_names)
    fig = Figure(figsize=(11, 5), layout="constrained")
    ax_cm, ax_acc = fig.subplots(1, 2, width_ratios=(1.4, 1))
    im = ax_cm.imshow(row_normalised, cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            share = row_normalised[i, j]
            ax_cm.text(j, i, f"{share:.0%}\n{counts[i, j]}", ha="center", va="center", fontsize=7,
                       color="white" if share > 0.5 else "black")
    ax_cm.set_xticks(range(k), class_names, rotation=45, ha="right")
    ax_cm.set_yticks(range(k), class_names)
    ax_cm.set_xlabel("predicted")
    ax_cm.set_ylabel("true")
    ax_cm.set_title(f"confusion (row-normalised), accuracy {accuracy:.1%}")
    fig.colorbar(im, ax=ax_cm, fraction=0.046, pad=0.02)
    values = [per_class[c] if per_class[c] is not None else 0.0 for c in class_names]
    bars = ax_acc.barh(range(k), values, color="tab:blue")
    for bar, c, n in zip(bars, class_names, counts.sum(axis=1)):
        label = "no images" if per_class[c] is None else f"{per_class[c]:.0%} of {n}"
        ax_acc.text(bar.get_width() + 0.01, bar.get_y() + bar.get_height() / 2, label, va="center", fontsize=8)
    ax_acc.set_yticks(range(k), class_names)
    ax_acc.invert_yaxis()
    ax_acc.set_xlim(0, 1.1)
    ax_acc.set_xlabel("accuracy")
    ax_acc.set_title("per-class accuracy")
    return fig
