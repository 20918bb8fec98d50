"""The Python API for notebooks and scripts: load a model, read faces, explain them.

::

    import ferviz

    model = ferviz.load("fer2013-seed-vgg")                   # a pretrained name or a checkpoint path
    faces = ferviz.read_images(["face.jpg"], model=model)      # the CLI's loader: same pixels
    result = ferviz.explain_faces(model, faces, methods=["saliency", "grad-cam"])
    result                                                     # shows the figure inline in Jupyter
    result.maps("grad-cam").shape                              # (N, 48, 48)

The names follow Captum, torchcam and pytorch-grad-cam where they fit: a model object, inputs,
targets (``target="predicted"``, a class name, or one class per face), one call that returns
arrays, and a figure that draws the maps over the faces. The function is ``explain_faces``, not
``explain``, because :mod:`ferviz.explain` is the plugin authors' module. Everything the CLI
writes, :meth:`Result.save` writes too (the same files, atomically).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ferviz.errors import DataError, OptionError, OutputError
from ferviz.inputs.images import Faces, array_face, read_images


def load(checkpoint: str | Path, *, device: str = "cpu", **declared):
    """A :class:`~ferviz.model.LoadedModel` from a checkpoint path or a pretrained name.

    `declared` are what the CLI's flags declare for foreign files: ``classes``, ``normalize``,
    ``arch``, ``arch_args``, ``size``, ``channels``, ``outputs``, ``trust`` (README, Checkpoints).
    """
    from ferviz.model.checkpoint import load_checkpoint

    return load_checkpoint(checkpoint, device=device, **{k: v for k, v in declared.items() if v is not None})


def methods() -> list[str]:
    """The names of the installed per-image explainers (the ones :func:`explain_faces` runs)."""
    from ferviz import registry

    return sorted(name for name, cls in registry.explainers().items() if cls.needs == "images")


def as_faces(model, faces, find: str | None = None) -> Faces:
    """`faces` as Faces at the model's input size: Faces as they are, a (N, H, W) stack of face
    images converted one by one like any array, anything else read by :func:`read_images`."""
    if isinstance(faces, Faces):
        return faces
    if isinstance(faces, np.ndarray) and faces.ndim == 3 and faces.dtype == np.uint8:
        size = model.input_size
        images = np.stack([array_face(face, f"faces[{i}]", size) for i, face in enumerate(faces)])
        return Faces(images, [f"#{i}" for i in range(len(images))])
    return read_images(faces, model=model, faces=find)


def _options(names: list[str], options: dict | None) -> dict:
    """Python options (``{"opacity": 0.6, "grad-cam": {"layer": "features.conv4"}}``) as CLI keys."""
    flat = {}
    for key, value in (options or {}).items():
        if isinstance(value, dict):
            if key not in names:
                raise OptionError(f"options for {key!r}: it is not one of the methods ({', '.join(names)})")
            flat.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            flat[key] = value
    if len(names) == 1:  # one method takes its own options without a prefix
        flat = {k.partition(".")[2] if k.startswith(names[0] + ".") else k: v for k, v in flat.items()}
    return flat


def _targets(model, target, faces: Faces) -> np.ndarray:
    from ferviz.explain import resolve_targets

    if isinstance(target, str):
        return resolve_targets(model, target, faces.images, None)
    values = list(target)
    if len(values) != len(faces):
        raise DataError(f"target has {len(values)} entries for {len(faces)} faces")
    names = list(model.class_names)
    try:
        return np.array([names.index(t) if isinstance(t, str) else int(t) for t in values], dtype=np.int64)
    except ValueError:
        raise OptionError(f"target: every entry must be a class index or one of {', '.join(names)}") from None


def explain_faces(model, faces, methods="saliency", *, target="predicted", options: dict | None = None,
                  seed: int = 0, find: str | None = None) -> "Result":
    """Explain `faces` with one method or several side by side; a :class:`Result`.

    faces: :class:`~ferviz.inputs.images.Faces`, image paths or folders, arrays (read like the CLI's
    ``--image``). methods: a name, a list, or ``"saliency,grad-cam"``. target: ``"predicted"``,
    a class name, or one class (index or name) per face. options: method options by name
    (``{"steps": 16}``); with several methods a plain key goes to every method that has it, and
    ``{"grad-cam": {"layer": "features.conv4"}}`` to one. Every option is checked first. find:
    how photos become faces when `faces` are paths or arrays (``detect``, ``center``, ``none``;
    the default as in :func:`~ferviz.inputs.images.read_images`).
    """
    from ferviz.explain.compare import combine, plan_methods, split_methods
    from ferviz.inputs.faces import add_photo_overview
    from ferviz.inputs.requests import request_for

    names = split_methods(methods) if isinstance(methods, str) else split_methods(",".join(methods))
    plan = plan_methods(names, _options(names, options))
    for name, (cls, _) in plan.items():
        if cls.needs != "images":
            raise OptionError(f"{name} needs {cls.needs}, not faces: run it with "
                              f"ferviz.explain.run_explainer({name!r}, model, ...)")
    explainers = {name: cls(model, **opts) for name, (cls, opts) in plan.items()}
    faces = as_faces(model, faces, find)
    request = request_for("images", images=faces.images, targets=_targets(model, target, faces), ids=faces.ids,
                          seed=seed)
    per_method = {name: e.run(request) for name, e in explainers.items()}
    combined = combine(per_method, model, request)
    add_photo_overview(combined, faces)  # faces found in photos: their boxes, and the photos with them
    return Result(combined, per_method, faces)


@dataclass
class Result:
    """What :func:`explain_faces` returns: the arrays and figures of one run, shown inline in Jupyter.

    explanation: the :class:`~ferviz.explain.Explanation` the CLI would save (one method's own,
    or the side-by-side one). by_method: each method's own Explanation. faces: what was explained.
    """

    explanation: object
    by_method: dict = field(default_factory=dict)
    faces: Faces | None = None

    @property
    def methods(self) -> list[str]:
        return list(self.by_method)

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        return self.explanation.arrays

    @property
    def figures(self) -> dict:
        return self.explanation.figures

    @property
    def figure(self):
        """The first figure (the side-by-side grid, or the one method's first page)."""
        return next(iter(self.explanation.figures.values()))

    @property
    def summary(self) -> dict:
        return self.explanation.summary

    @property
    def records(self) -> list[dict]:
        """One record per face: id, target, predicted class, the target's probability."""
        return self.explanation.summary["images"]

    def maps(self, method: str | None = None) -> np.ndarray:
        """(N, H, W) attribution maps of `method` (the only one, if not given)."""
        if method is None:
            if len(self.by_method) != 1:
                raise OptionError(f"name the method: maps('{self.methods[0]}'); this result has {self.methods}")
            method = self.methods[0]
        if method not in self.by_method:
            raise OptionError(f"no method {method!r} in this result; it has {', '.join(self.methods)}")
        exp = self.by_method[method]
        return exp.arrays[exp.meta["attribution"]["array"]]

    def save(self, out_dir, fmt: str = "png", *, overwrite: bool = False) -> Path:
        """Write the files the CLI writes (arrays.npz, figures, summary.json, manifest.json).

        An existing `out_dir` is refused unless `overwrite` (which replaces all of it), as in the CLI.
        """
        from ferviz.explain import save
        from ferviz.fileio import check_target

        try:
            check_target(out_dir, folder=True, overwrite=overwrite, owner="manifest.json", option="out_dir")
        except OutputError as exc:  # its hint names the CLI's flag; a Python caller passes the argument
            raise OutputError(str(exc).replace("--overwrite", "overwrite=True")) from None
        return save(self.explanation, out_dir, fmt, overwrite=overwrite, extra={"inputs": {"api": True}})

    def _repr_png_(self) -> bytes:
        from ferviz.explain.figures import figure_png

        return figure_png(self.figure)

    def __repr__(self) -> str:
        return (f"<ferviz.Result {', '.join(self.methods)} on {len(self.records)} face(s): "
                f"arrays {', '.join(self.arrays)}; figures {', '.join(self.figures)}>")
