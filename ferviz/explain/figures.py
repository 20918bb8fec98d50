"""Figures of the built-in explainers, made without pyplot (no global state, nothing to close).

Every function returns a :class:`matplotlib.figure.Figure` built directly; ``Figure.savefig``
picks the Agg/PDF/SVG canvas itself, so nothing registers with pyplot and nothing leaks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

#: Images per attribution figure; longer selections are split into pages.
ROWS_PER_FIGURE = 8
#: Colour maps of attribution maps: signed ones centred on zero (red for, blue against), unsigned
#: ones from zero (black) to the map's maximum (white). The report's explorer uses the same.
SIGNED_COLOURS, UNSIGNED_COLOURS = "RdBu_r", "hot"
#: Figure styles of attribution explainers (option ``style``): the map blended over the face, or
#: the report's panels (face, raw map with a colour bar, the face where the mask holds).
STYLES = ("overlay", "panels")
#: Colour maps an overlay may use (option ``cmap``); ``auto`` is SIGNED_COLOURS for signed maps
#: and OVERLAY_COLOURS for unsigned ones. Diverging ones suit signed maps, sequential ones unsigned.
OVERLAY_COLOURS = "inferno"
COLOUR_MAPS = ("auto", "RdBu_r", "coolwarm", "bwr", "seismic", "PiYG",
               "inferno", "magma", "hot", "viridis", "jet", "turbo", "gray")


def figure_png(figure: Figure, dpi: int = 100) -> bytes:
    """A Figure as PNG bytes: what Jupyter shows inline for an object with ``_repr_png_``."""
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


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
        lo, hi = map_bounds(maps[i], signed)
        im = ax_map.imshow(maps[i], cmap=SIGNED_COLOURS if signed else UNSIGNED_COLOURS, vmin=lo, vmax=hi)
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


def map_bounds(m: np.ndarray, signed: bool) -> tuple[float, float]:
    """Colour limits of one map: symmetric about 0 for a signed map, 0..max for an unsigned one."""
    if signed:
        bound = float(np.abs(m).max()) or 1.0
        return -bound, bound
    return 0.0, float(m.max()) or 1.0


def colour_map(name: str, signed: bool) -> str:
    """The colour map called `name`, with ``auto`` resolved for a signed or unsigned map."""
    return (SIGNED_COLOURS if signed else OVERLAY_COLOURS) if name == "auto" else name


def overlay_image(face: np.ndarray, m: np.ndarray, *, signed: bool, cmap: str = "auto",
                  opacity: float = 0.5) -> np.ndarray:
    """(H, W, 3) float RGB in [0, 1]: map `m` in colour blended over the gray `face` (uint8).

    An unsigned map is blended at `opacity` everywhere, 0 to its maximum along a sequential colour
    map (the CAM convention of torchcam and pytorch-grad-cam). A signed map diverges around 0,
    symmetric in its largest magnitude, and each pixel is blended at `opacity` x |m| / max |m|: zero
    evidence leaves the face as it is, evidence for and against shows in the two colours.
    """
    from matplotlib import colormaps

    lo, hi = map_bounds(m, signed)
    colours = colormaps[colour_map(cmap, signed)]((np.clip(m, lo, hi) - lo) / (hi - lo))[..., :3]
    alpha = opacity * (np.clip(np.abs(m) / hi, 0.0, 1.0) if signed else np.ones_like(m, dtype=np.float64))
    gray = np.repeat(face.astype(np.float64)[..., None] / 255.0, 3, axis=2)
    return (1.0 - alpha[..., None]) * gray + alpha[..., None] * colours


def draw_overlay(fig: Figure, ax, face: np.ndarray, m: np.ndarray, *, signed: bool, cmap: str = "auto",
                 opacity: float = 0.5, mask: np.ndarray | None = None, title: str = "", bar: bool = True) -> None:
    """Draw :func:`overlay_image` on `ax`, the mask's outline in white and a colour bar of the map."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    ax.imshow(overlay_image(face, m, signed=signed, cmap=cmap, opacity=opacity))
    if mask is not None and mask.any() and not mask.all():
        ax.contour(mask.astype(np.float32), levels=[0.5], colors="white", linewidths=0.7)
    ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    if bar:
        lo, hi = map_bounds(m, signed)
        mappable = ScalarMappable(Normalize(lo, hi), colour_map(cmap, signed))
        colorbar = fig.colorbar(mappable, ax=ax, fraction=0.046, pad=0.02)
        colorbar.ax.tick_params(labelsize=6)
        colorbar.ax.yaxis.get_offset_text().set_fontsize(6)


def overlay_grid(faces: np.ndarray, maps: np.ndarray, masks: np.ndarray, titles: list[str], *, map_title: str,
                 signed: bool = False, cmap: str = "auto", opacity: float = 0.5, mask_title: str = "mask") -> Figure:
    """Rows = images; columns: the face, the map blended over it (mask outlined, see draw_overlay)."""
    n = len(faces)
    fig = Figure(figsize=(6.6, 2.6 * n + 0.3), layout="constrained")
    axes = fig.subplots(n, 2, squeeze=False)
    for i in range(n):
        ax_face, ax_over = axes[i]
        ax_face.imshow(faces[i], cmap="gray", vmin=0, vmax=255)
        ax_face.set_title(titles[i], fontsize=8)
        ax_face.set_xticks([])
        ax_face.set_yticks([])
        draw_overlay(fig, ax_over, faces[i], maps[i], signed=signed, cmap=cmap, opacity=opacity, mask=masks[i],
                     title=f"{map_title}\noutline: {mask_title}")
    return fig


@dataclass(frozen=True)
class MapColumn:
    """One method's column of a side-by-side grid: (N, H, W) maps and masks, and how to colour them."""

    title: str
    maps: np.ndarray
    masks: np.ndarray
    signed: bool
    cmap: str = "auto"
    opacity: float = 0.5


def method_grid(faces: np.ndarray, titles: list[str], columns: list[MapColumn]) -> Figure:
    """Rows = faces; columns: the face, then each method's map blended over it (mask outlined)."""
    n, k = len(faces), len(columns)
    fig = Figure(figsize=(1.9 * (k + 1) + 0.4, 2.1 * n + 0.4), layout="constrained")
    axes = fig.subplots(n, k + 1, squeeze=False)
    for i in range(n):
        axes[i, 0].imshow(faces[i], cmap="gray", vmin=0, vmax=255)
        axes[i, 0].set_title(titles[i], fontsize=7)
        axes[i, 0].set_xticks([])
        axes[i, 0].set_yticks([])
        for j, col in enumerate(columns, start=1):
            draw_overlay(fig, axes[i, j], faces[i], col.maps[i], signed=col.signed, cmap=col.cmap,
                         opacity=col.opacity, mask=col.masks[i], title=col.title if i == 0 else "", bar=False)
    return fig


def photo_overview(photos: list[tuple[str, np.ndarray, list, list[str]]]) -> Figure:
    """One panel per photo (title, (H, W) uint8 gray, boxes (left, top, right, bottom), labels):
    the photo with each face's box and its label (number, class, probability) above it."""
    from matplotlib.patches import Rectangle

    n = len(photos)
    fig = Figure(figsize=(6.4, 4.6 * n), layout="constrained")
    axes = fig.subplots(n, 1, squeeze=False)[:, 0]
    for ax, (title, photo, boxes, labels) in zip(axes, photos):
        ax.imshow(photo, cmap="gray", vmin=0, vmax=255)
        for (left, top, right, bottom), label in zip(boxes, labels):
            ax.add_patch(Rectangle((left, top), right - left, bottom - top, fill=False, edgecolor="yellow",
                                   linewidth=1.5))
            ax.text(left, top - 3, label, color="black", fontsize=8, va="bottom",
                    bbox={"facecolor": "yellow", "edgecolor": "none", "pad": 1.5})
        ax.set_title(title, fontsize=8)
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
