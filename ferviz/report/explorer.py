"""The report's explorer: click through every attribution explainer's maps of chosen faces.

Which faces: the report's selected faces (``--per-class`` per class, a seeded draw) and, for
each non-empty cell of the confusion matrix, its first ``--cell-faces`` faces in the cell's
order. Faces are ordered wrong predictions first, then by the probability of the true class,
lowest first: in a cell the faces the model is least sure of (off the diagonal, the most
confidently wrong) come first.

Which classes: for each face its predicted class, its true class (labelled data) and its
runner-up (the second most probable class); a class that plays two roles is explained once.

Which explainers: every installed per-image explainer (``needs = "images"``, as ``ferviz
assess`` finds them) that ``--skip`` does not name, in ``report_order`` (then by name), with
the report's options (``--quick``, ``-p``). Each gives one map per (face, class). A
third-party explainer that fails, or gives no per-image map, is left out with a note; a ferviz
bug raises.

Filters: the runs of the filter-grid sections (filter ascent's; ``ferviz explore`` runs them
itself), each filter an image of its own that enlarges on click.

The files go into ``explorer/`` beside ``index.html`` (see :mod:`ferviz.report.page`); their
number is faces x explainers x classes (at most 3) maps, one face each, and the filter images, so
the size grows linearly with faces x explainers x classes; the section states it.
"""

from __future__ import annotations

import time
import traceback

import numpy as np

from ferviz.report.describe import contained_errors, estimate
from ferviz.report.sections import Section

FOLDER = "explorer"
TITLE = "Explore it: faces, maps, confusions and filters"
ROLES = ("predicted", "true", "runner-up")
#: Faces listed per confusion cell, row or column (their order: see the module docstring).
LIST_LIMIT = 60


def attribution_explainers(skip) -> list[str]:
    """The installed per-image explainers that `skip` does not name, in report order (then by name)."""
    from ferviz import registry
    from ferviz.assess import resolve_methods

    names = [name for name in resolve_methods("all") if name not in skip]
    return sorted(names, key=lambda name: (registry.explainers()[name].report_order, name))


def explorer_cost(ctx, skip) -> int:
    """Rough work units (one image through the network each), for the progress bar."""
    k = len(ctx.models[0].class_names)
    faces = len(ctx.selection.ids) + (k * k * ctx.config.cell_faces // 2 if ctx.dataset.labelled else 0)
    return len(ctx.dataset) + sum(_units(ctx, name, 3 * faces) for name in attribution_explainers(skip))


def _units(ctx, name: str, maps: int) -> int:
    """Work units of `maps` maps of explainer `name` (one image each): its own estimate."""
    from ferviz import registry

    return estimate(ctx, registry.explainers()[name], maps)


# ----------------------------------------------------------------------------- which faces
def face_order(index: np.ndarray, labels: np.ndarray, predicted: np.ndarray, p_true: np.ndarray) -> np.ndarray:
    """`index` reordered: wrong predictions first, then by the true class's probability, lowest first."""
    right = labels[index] == predicted[index]
    return index[np.lexsort((index, p_true[index], right))]


def groups_of(labels: np.ndarray, predicted: np.ndarray, p_true: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Ordered face indices per confusion cell (``cell-i-j``), true class (``row-i``) and prediction (``col-j``)."""
    groups = {}
    for i in range(k):
        groups[f"row-{i}"] = face_order(np.flatnonzero(labels == i), labels, predicted, p_true)
        groups[f"col-{i}"] = face_order(np.flatnonzero(predicted == i), labels, predicted, p_true)
        for j in range(k):
            groups[f"cell-{i}-{j}"] = face_order(np.flatnonzero((labels == i) & (predicted == j)), labels,
                                                 predicted, p_true)
    return groups


def explored_faces(selected: np.ndarray, groups: dict[str, np.ndarray] | None, cell_faces: int,
                   labels: np.ndarray | None, predicted: np.ndarray) -> tuple[np.ndarray, dict[int, str]]:
    """(indices of the faces to explain, in (true, predicted) order; index -> why it was chosen)."""
    why = {int(i): "selected" for i in selected}
    for key, members in (groups or {}).items():
        if key.startswith("cell-"):
            for i in members[:cell_faces]:
                why.setdefault(int(i), "from its confusion cell")
    index = np.array(sorted(why), dtype=np.int64)
    if labels is not None and len(index):
        index = index[np.lexsort((index, predicted[index], labels[index]))]
    return index, why


def classes_of_interest(proba: np.ndarray, label: int | None) -> dict[str, int | None]:
    """Role -> class for one face: predicted, true (None without a label) and runner-up (None for one class)."""
    order = np.argsort(-proba, kind="stable")
    return {"predicted": int(order[0]), "true": None if label is None else int(label),
            "runner-up": int(order[1]) if len(order) > 1 else None}


# ----------------------------------------------------------------------------- maps
def explain_faces(ctx, names: list[str], images: np.ndarray, targets: list[dict], section: Section):
    """{explainer: {(face, class): map}} and the seconds each took; failures become notes."""
    from ferviz import registry
    from ferviz.assess import explainer_fn

    pairs = sorted({(f, c) for f, roles in enumerate(targets) for c in roles.values() if c is not None})
    faces = np.array([f for f, _ in pairs], dtype=np.int64)
    classes = np.array([c for _, c in pairs], dtype=np.int64)
    maps, seconds = {}, {}
    for name in names if pairs else ():
        start = time.perf_counter()
        try:
            with ctx.work(_units(ctx, name, len(pairs)), f"explorer {name}"):
                explain = explainer_fn(registry.explainers()[name], ctx.options(name), ctx.config.seed)
                result = explain(ctx.models[0], images[faces], classes)
        except contained_errors(name) as exc:  # noqa: BLE001 - a third-party plugin's failure, shown in place
            last = traceback.format_exception_only(type(exc), exc)[-1].strip()
            section.notes.append(f"{name} is left out of the explorer: {last}")
            continue
        seconds[name] = round(time.perf_counter() - start, 3)
        maps[name] = {pair: np.asarray(m, dtype=np.float32) for pair, m in zip(pairs, result)}
    return maps, seconds


# ----------------------------------------------------------------------------- the section
def explorer_section(ctx, skip) -> Section:
    from ferviz.report.context import choose_faces
    from ferviz.report.page import explorer_css, explorer_html

    section = Section("explorer", TITLE)
    model, data = ctx.models[0], ctx.dataset
    (ctx.folder / FOLDER).mkdir(exist_ok=True)
    classes = list(model.class_names)
    with ctx.work(len(data), "explorer: predictions"):
        proba = model.predict_proba(data.images).numpy()
    predicted = proba.argmax(axis=1)
    labels = data.labels
    groups = None
    if labels is not None:
        groups = groups_of(labels, predicted, proba[np.arange(len(data)), labels], len(classes))
    selected = choose_faces(data, ctx.config.per_class, ctx.config.seed)
    chosen, why = explored_faces(selected, groups, ctx.config.cell_faces, labels, predicted)
    targets = [classes_of_interest(proba[i], None if labels is None else labels[i]) for i in chosen]
    maps, seconds = explain_faces(ctx, attribution_explainers(skip), data.images[chosen], targets, section)
    sizes = {"faces": 0, "maps": 0, "filters": 0}
    explainers = [_explainer_entry(name, by_pair) for name, by_pair in maps.items()]
    faces = [{"id": _face_id(data, i), "true": None if labels is None else int(labels[i]), "pred": int(predicted[i]),
              "proba": [round(float(p), 3) for p in proba[i]], "targets": roles, "why": why[int(i)]}
             for i, roles in zip(chosen, targets)] if explainers else []  # no maps: nothing to view
    _write_faces(ctx, data.images[chosen], faces, explainers, maps, sizes)
    position = {int(i): f for f, i in enumerate(chosen)} if faces else {}
    listed, group_data = _listed(data, labels, predicted, proba, groups, position, classes)
    page = {"classes": classes, "explainers": explainers, "faces": faces, "listed": listed, "groups": group_data,
            "counts": None if groups is None else [[len(groups[f"cell-{i}-{j}"]) for j in range(len(classes))]
                                                   for i in range(len(classes))],
            "confusion_note": _confusion_note(ctx, len(data)),
            "filters": _filters(ctx, section, sizes)}
    section.html, section.css = explorer_html(page), explorer_css()
    _describe(ctx, section, page, sizes, seconds)
    return section


def _explainer_entry(name: str, maps: dict) -> dict:
    """What the page says about an explainer: signed maps (any value below zero) or not, its legend."""
    from ferviz import registry
    from ferviz.explain.figures import SIGNED_COLOURS, UNSIGNED_COLOURS
    from ferviz.report.page import gradient_css

    signed = bool(any(m.min() < 0 for m in maps.values()))
    return {"name": name, "summary": registry.explainers()[name].summary, "signed": signed,
            "legend": gradient_css(SIGNED_COLOURS if signed else UNSIGNED_COLOURS),
            "low": "- largest" if signed else "0", "high": "+ largest" if signed else "largest"}


def _write_faces(ctx, images: np.ndarray, faces: list[dict], explainers: list[dict], maps: dict, sizes: dict):
    """Each face as the model sees it and its maps, as PNG files; their names go into `faces`."""
    from ferviz.explain import display_images
    from ferviz.explain.figures import SIGNED_COLOURS, UNSIGNED_COLOURS
    from ferviz.report.page import colour_table, map_levels, write_png

    if not faces:
        return
    shown = display_images(ctx.models[0], images)
    tables = {signed: colour_table(SIGNED_COLOURS if signed else UNSIGNED_COLOURS) for signed in (False, True)}
    for f, face in enumerate(faces):
        face["face"] = f"{FOLDER}/face-{f}.png"
        sizes["faces"] += write_png(ctx.folder / face["face"], shown[f])
        face["maps"] = {}
        for e, info in enumerate(explainers):
            files = face["maps"][info["name"]] = {}
            for c in sorted({c for c in face["targets"].values() if c is not None}):
                files[str(c)] = f"{FOLDER}/map-{f}-{e}-{c}.png"
                levels = map_levels(maps[info["name"]][(f, c)], info["signed"])
                sizes["maps"] += write_png(ctx.folder / files[str(c)], levels, tables[info["signed"]])


def _face_id(data, i: int) -> str:
    return str(data.ids[i]) if data.ids is not None else f"{data.split}:{i}"


def _listed(data, labels, predicted, proba, groups, position: dict[int, int], classes: list[str]):
    """(the listed faces, {group: title, count and indices into the listed faces}): each group's first LIST_LIMIT."""
    if groups is None:
        return [], {}
    listed, where = [], {}
    out = {}
    for key, members in groups.items():
        kind, *ij = key.split("-")
        i = int(ij[0])
        title = {"cell": lambda: f"true {classes[i]}, predicted {classes[int(ij[1])]}",
                 "row": lambda: f"true {classes[i]}, every prediction", "col": lambda: f"predicted {classes[i]}, "
                 "every true class"}[kind]()
        entries = []
        for index in members[:LIST_LIMIT]:
            index = int(index)
            if index not in where:
                where[index] = len(listed)
                listed.append({"id": _face_id(data, index), "true": int(labels[index]), "pred": int(predicted[index]),
                               "p_true": round(float(proba[index, labels[index]]), 3),
                               "p_pred": round(float(proba[index, predicted[index]]), 3),
                               "face": position.get(index, -1)})
            entries.append(where[index])
        out[key] = {"title": title, "count": len(members), "faces": entries}
    return listed, out


def _filters(ctx, section: Section, sizes: dict) -> list[dict]:
    from ferviz.report.filters import filter_runs, origin
    from ferviz.report.page import stretched, write_png

    runs = []
    for start, exp in [run for name in ctx.layer_runs for run in filter_runs(ctx, name)]:
        if isinstance(exp, str):
            section.errors.append(exp)
            continue
        s, r = exp.summary, len(runs)
        where = origin(ctx, start)
        tiles = []
        for t, (image, number, activation) in enumerate(zip(exp.arrays["images"], exp.arrays["filters"],
                                                            exp.arrays["activation_end"])):
            file = f"{FOLDER}/filter-{r}-{t}.png"
            sizes["filters"] += write_png(ctx.folder / file, stretched(image))
            tiles.append({"file": file, "filter": int(number), "activation": round(float(activation), 3),
                          "alt": f"filter {int(number)} of {s['layer']} after {s['steps']} ascent steps from "
                                 f"{where}: mean activation {float(activation):.2f}"})
        runs.append({"index": r, "title": f"{s['layer']} from {where}: {s['count']} filters, {s['steps']} steps",
                     "tiles": tiles})
    return runs


def _confusion_note(ctx, n: int) -> str:
    return (f"The {n:,} faces of split {ctx.dataset.split} as {ctx.names[0]} predicts them. Click a count to list "
            f"its faces, a class name to list its row or column: wrong predictions first, then the least sure of "
            f"the true class (up to {LIST_LIMIT} listed). Faces with a picture open in the viewer; the first "
            f"{ctx.config.cell_faces} of each cell (and the selected faces) are explained.")


def _describe(ctx, section: Section, page: dict, sizes: dict, seconds: dict) -> None:
    faces, explainers = len(page["faces"]), len(page["explainers"])
    maps = sum(len(m) for face in page["faces"] for m in face["maps"].values())
    inline = len(section.html.encode("utf-8"))
    total = sum(sizes.values()) + inline
    section.lead = (
        "Pick a face, switch the explainer and the class it explains, fade the map in and out over the face; "
        "open the faces behind a cell of the confusion matrix; enlarge a filter. The faces: the selected ones "
        f"({ctx.config.per_class} per class) and the first {ctx.config.cell_faces} of each confusion cell (wrong "
        "predictions first, then the least sure of the true class). The classes: predicted, true and runner-up. "
        "Each map is scaled to its own largest value (signed maps: red for, blue against).")
    section.findings.append(
        f"The explorer holds {faces} faces x {explainers} explainers x up to 3 classes: {maps} maps "
        f"({sizes['maps'] / max(maps, 1) / 1000:.1f} kB each), {_mb(total)} in all ({_mb(sum(sizes.values()))} of "
        f"images in {FOLDER}/, {_mb(inline)} inline in index.html). Its size grows linearly with faces x "
        "explainers x classes.")
    section.numbers = {"faces": faces, "explainers": [e["name"] for e in page["explainers"]], "maps": maps,
                       "cell_faces": ctx.config.cell_faces, "bytes": {**sizes, "inline": inline, "total": total},
                       "seconds_per_explainer": seconds,
                       "filters": [{"title": r["title"], "count": len(r["tiles"])} for r in page["filters"]]}


def _mb(size: int) -> str:
    return f"{size / 1e6:.2f} MB" if size >= 1e5 else f"{size / 1e3:.0f} kB"
