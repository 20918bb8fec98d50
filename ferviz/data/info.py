"""Describe a data source: counts per split and class, image size, duplicates, blank images.

``describe(splits)`` returns plain JSON-ready data; ``format_table(info)`` renders it for people.
Duplicates are images with identical pixels (same size, same bytes), found by hashing each
image's bytes: within a split (rows that repeat an earlier row) and between each pair of splits
(distinct images present in both: a leak between train and test). Duplicates whose labels
disagree are counted too (compared by class name). Blank images are those of one single value
(FER2013 has a few all-black ones).
"""

from __future__ import annotations

import hashlib
from itertools import combinations

import numpy as np

from ferviz.data import Dataset


def _hashes(images: np.ndarray) -> list[bytes]:
    images = np.ascontiguousarray(images)
    shape = repr(images.shape[1:]).encode()  # images of other sizes never match
    out = []
    for img in images:
        h = hashlib.blake2b(shape, digest_size=16)
        h.update(img.tobytes())
        out.append(h.digest())
    return out


def _names(d: Dataset) -> list[str | None]:
    if d.labels is None:
        return [None] * len(d)
    names = np.asarray(d.class_names, dtype=object)
    return names[d.labels].tolist()


def describe(splits: dict[str, Dataset]) -> dict:
    """Counts, class counts, image size, blank images and duplicates of each split.

    Returns ``{"total", "class_names", "splits": {name: {...}}, "duplicates": {"within": {...},
    "between": [...]}}`` with plain ints, strings and lists only.
    """
    class_names: list[str] = []
    for d in splits.values():
        class_names += [c for c in d.class_names if c not in class_names]
    info: dict = {"total": int(sum(len(d) for d in splits.values())), "class_names": class_names,
                  "splits": {}, "duplicates": {"within": {}, "between": []}}
    groups: dict[str, dict[bytes, list[str | None]]] = {}
    for name, d in splits.items():
        flat = d.images.reshape(len(d), -1)
        blank = int((flat.min(axis=1) == flat.max(axis=1)).sum()) if len(d) else 0
        entry = {
            "count": len(d),
            "labelled": d.labels is not None,
            "classes": d.class_counts() if d.labels is not None else {},
            "image_size": list(d.images.shape[1:]),
            "blank_images": blank,
            "source": d.source,
        }
        info["splits"][name] = entry
        seen: dict[bytes, list[str | None]] = {}
        for h, label in zip(_hashes(d.images), _names(d)):
            seen.setdefault(h, []).append(label)
        groups[name] = seen
        repeated = [v for v in seen.values() if len(v) > 1]
        info["duplicates"]["within"][name] = {
            "rows": int(sum(len(v) - 1 for v in repeated)),
            "groups": len(repeated),
            "conflicting_labels": int(sum(1 for v in repeated if len(set(v)) > 1)),
        }
    for a, b in combinations(splits, 2):
        shared = groups[a].keys() & groups[b].keys()
        conflicts = sum(1 for h in shared if len(set(groups[a][h]) | set(groups[b][h])) > 1)
        info["duplicates"]["between"].append({
            "splits": [a, b],
            "shared_images": len(shared),
            f"rows_in_{a}": int(sum(len(groups[a][h]) for h in shared)),
            f"rows_in_{b}": int(sum(len(groups[b][h]) for h in shared)),
            "conflicting_labels": int(conflicts),
        })
    return info


def format_table(info: dict) -> str:
    """A plain-text table of `describe`'s result: one row per split, one column per class."""
    classes = info["class_names"]
    splits = info["splits"]
    width = max([5] + [len(s) for s in splits])
    cols = ["images"] + classes
    widths = [max(len(c), 6) for c in cols]
    lines = ["  ".join([" " * width] + [c.rjust(w) for c, w in zip(cols, widths)])]
    totals = [0] * len(cols)
    for name, s in splits.items():
        cells = [str(s["count"])]
        totals[0] += s["count"]
        for i, c in enumerate(classes, start=1):
            if s["labelled"]:
                n = s["classes"].get(c, 0)
                totals[i] += n
                cells.append(str(n))
            else:
                cells.append("-")
        lines.append("  ".join([name.ljust(width)] + [v.rjust(w) for v, w in zip(cells, widths)]))
    if len(splits) > 1:
        lines.append("  ".join(["total".ljust(width)] + [str(v).rjust(w) for v, w in zip(totals, widths)]))
    sizes = sorted({"x".join(map(str, s["image_size"])) for s in splits.values()})
    lines.append("")
    lines.append(f"image size: {', '.join(sizes)}")
    blanks = {n: s["blank_images"] for n, s in splits.items() if s["blank_images"]}
    if blanks:
        lines.append("blank images: " + ", ".join(f"{n} {c}" for n, c in blanks.items()))
    lines.append("duplicates (identical pixels):")
    for name, d in info["duplicates"]["within"].items():
        if not d["rows"]:
            lines.append(f"  within {name}: none")
            continue
        conflict = f", {d['conflicting_labels']} with conflicting labels" if d["conflicting_labels"] else ""
        lines.append(f"  within {name}: {d['rows']} rows repeat an earlier image "
                     f"({d['groups']} distinct images{conflict})")
    for d in info["duplicates"]["between"]:
        a, b = d["splits"]
        conflict = f", {d['conflicting_labels']} with conflicting labels" if d["conflicting_labels"] else ""
        lines.append(f"  {a} & {b}: {d['shared_images']} images in both{conflict}")
    return "\n".join(lines)
