"""Several attribution explainers side by side on the same faces: one grid, one set of arrays.

``ferviz explain -m saliency,grad-cam,integrated-gradients ...`` and the Python API's
``ferviz.explain_faces(model, faces, methods=[...])`` both run each method on the same request (same
faces, same targets) and combine the results into one :class:`~ferviz.explain.Explanation`:

- figure ``compare`` (``compare-p1``, ... for long selections): rows are faces; columns the face,
  then each method's map blended over it with its mask outlined (each method's own ``cmap`` and
  ``opacity`` options);
- arrays ``images`` and ``targets`` once, then each method's own arrays under its name
  (``saliency/saliency``, ``grad-cam/attributions``, ``grad-cam/cam``, ...);
- summary ``images`` (one record per face) and ``methods`` (each method's own summary, its
  per-image records included);
- meta ``methods`` (the names, in order) and ``options`` per method.

Options given as ``-p KEY=VALUE`` go to every method that declares KEY (an error when none does);
``-p METHOD.KEY=VALUE`` goes to that method only.
"""

from __future__ import annotations

from ferviz.errors import OptionError

#: Figure name of the side-by-side grid.
FIGURE = "compare"
#: Arrays the methods share; kept once, not per method.
SHARED_ARRAYS = ("images", "targets")


def split_methods(spec: str) -> list[str]:
    """``"saliency, grad-cam"`` -> ``["saliency", "grad-cam"]``; a name given twice is an error."""
    names = [n.strip() for n in spec.split(",") if n.strip()]
    if not names:
        raise OptionError(f"no method named in {spec!r}: give one (-m saliency) or several (-m saliency,grad-cam)")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise OptionError(f"method {', '.join(twice)} is named twice in {spec!r}")
    return names


def route_options(classes: list, given: dict) -> dict[str, dict]:
    """Each method's share of `given` options (see the module docstring); checked, not parsed."""
    routed: dict[str, dict] = {cls.name: {} for cls in classes}
    for key, value in given.items():
        method, dot, option = key.partition(".")
        if dot:
            if method not in routed:
                raise OptionError(f"option {key!r}: {method!r} is not one of the methods "
                                  f"({', '.join(routed)})")
            routed[method][option] = value
            continue
        takers = [cls.name for cls in classes if key in {o.name for o in cls.options}]
        if not takers:
            raise OptionError(f"none of {', '.join(routed)} has an option {key!r}; "
                              f"`ferviz plugins show NAME` lists a method's options")
        for name in takers:
            routed[name][key] = value
    return routed


def check_comparable(classes: list) -> None:
    """Only per-image methods can share a grid of faces: refuse the others by name."""
    other = [f"{cls.name} (needs {cls.needs})" for cls in classes if cls.needs != "images"]
    if other:
        raise OptionError(f"side by side takes per-image methods only; {', '.join(other)} cannot join; "
                          "run it on its own")


def side_by_side(explanations: dict, model, request):
    """One Explanation from each method's explanation of the same `request` (module docstring)."""
    from ferviz.explain import Explanation, display_images, image_records, record_title
    from ferviz.explain.figures import MapColumn, method_grid, page_names

    columns, arrays, summaries = [], {}, {}
    for name, exp in explanations.items():
        about = exp.meta.get("attribution")
        if about is None:
            raise OptionError(f"{name} gives no per-image attribution map (it does not use "
                              "attribution_explanation), so it cannot join a side-by-side grid")
        options = exp.meta.get("options", {})
        columns.append(MapColumn(name, exp.arrays[about["array"]], exp.arrays["mask"], about["signed"],
                                 options.get("cmap", "auto"), options.get("opacity", 0.5)))
        arrays.update({f"{name}/{k}": v for k, v in exp.arrays.items() if k not in SHARED_ARRAYS})
        summaries[name] = exp.summary
    faces = display_images(model, request.images)
    records = image_records(model, request)
    titles = [record_title(r) for r in records]
    figures = {fig: method_grid(faces[part], titles[part], [MapColumn(c.title, c.maps[part], c.masks[part],
                                                                      c.signed, c.cmap, c.opacity)
                                                            for c in columns])
               for fig, part in page_names(FIGURE, len(faces))}
    return Explanation(arrays={"images": faces, "targets": request.targets, **arrays}, figures=figures,
                       summary={"images": records, "methods": summaries},
                       meta={"method": ",".join(explanations), "methods": list(explanations),
                             "options": {n: e.meta.get("options", {}) for n, e in explanations.items()},
                             "checkpoint": getattr(model, "source", ""), "arch": getattr(model, "arch", ""),
                             "class_names": list(model.class_names), "seed": request.seed})


def plan_methods(names: list[str], given: dict | None = None) -> dict[str, tuple[type, dict]]:
    """name -> (explainer class, its options from `given`) for each method, every option checked.

    One method takes `given` as it is; several must all be per-image methods and share `given`
    by the rules of the module docstring. Nothing is loaded or run: a mistake fails first.
    """
    from ferviz.explain import get_explainer, parse_options

    classes = [get_explainer(n) for n in names]
    if len(classes) > 1:
        check_comparable(classes)
    routed = route_options(classes, given or {}) if len(classes) > 1 else {classes[0].name: dict(given or {})}
    for cls in classes:
        parse_options(cls, routed[cls.name])
    return {cls.name: (cls, routed[cls.name]) for cls in classes}


def combine(explanations: dict, model, request):
    """The one explanation of a single method as it is; several methods side by side."""
    if len(explanations) == 1:
        return next(iter(explanations.values()))
    return side_by_side(explanations, model, request)
