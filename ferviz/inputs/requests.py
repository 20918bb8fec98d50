"""Requests: what an explainer is given, built in one place from what it ``needs``.

:func:`request_for` is the one rule for every caller (``ferviz explain``, the report's plugin
sections, the Python API): a data-set explainer gets the data set alone; any other explainer gets
the images, with their targets, labels and ids, when it is given some (a model-level one may use
them, as filter ascent starts from a face), else only the seed. :func:`explain_request` turns the
command line's inputs (image files, an unlabelled folder or photo, a labelled split) into faces
and the Request for them; :func:`model_split` and :func:`prediction_inputs` are the split and the
faces a checkpoint is scored, explained or predicted on.

Importing this module loads neither torch nor numpy (the CLI reads :data:`DEFAULT_PER_CLASS` for
its help text); the functions import what they need.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

if TYPE_CHECKING:
    import numpy as np

    from ferviz.data import Dataset
    from ferviz.explain import Request
    from ferviz.inputs.images import Faces

#: Images per class explained from a data source when no count is given.
DEFAULT_PER_CLASS = 2


def request_for(needs: str, *, images=None, targets=None, labels=None, ids=None, dataset: Dataset | None = None,
                seed: int = 0, progress: Callable[[int, int], None] | None = None) -> Request:
    """The Request for an explainer that needs `needs` (``images``, ``dataset`` or ``model``).

    ``dataset``: the data set alone. Otherwise the images with their targets, labels and ids, or,
    without images, a request that carries only the seed (a model-level explainer on the model
    alone). Whether the request suits the explainer is checked when it runs (Explainer.run).
    """
    from ferviz.explain import Request

    if needs == "dataset":
        return Request(dataset=dataset, seed=seed, progress=progress)
    if images is None:
        return Request(seed=seed, progress=progress)
    return Request(images=images, targets=targets, labels=labels, ids=ids, seed=seed, progress=progress)


def model_split(spec: str, split: str | None, model, skip_bad: bool = False) -> Dataset:
    """The split of data source `spec` for `model`: `split`, else test, else the validation images
    the model was trained beside (carved out of train as its checkpoint records), never the
    training images."""
    from ferviz.data.sources import Holdout, open_source, select_split

    return select_split(open_source(spec, skip_bad=skip_bad), split, spec, Holdout.of_model(model))


def _quiet(message: str) -> None:
    """The default `log`: say nothing."""


def explain_request(needs: str, model, *, data: str | None = None, split: str | None = None,
                    image_files: Iterable[Path] = (), per_class: int | None = None, target: str = "predicted",
                    seed: int = 0, skip_bad: bool = False, faces_mode: str | None = None,
                    log: Callable[[str], None] = _quiet) -> tuple[Request, Faces | None]:
    """The Request from the command line's inputs, and the Faces read from image files or an
    unlabelled image folder (None for other data).

    A data-set explainer gets the split of `data` (the first `per_class` images of each class
    when given). Other explainers get faces: the `image_files`; else the first images of an
    unlabelled folder or photo, found by `faces_mode`; else the first `per_class` images of each
    class of the split (the first ones of an unlabelled split), :data:`DEFAULT_PER_CLASS` when not
    given. `target` picks the class each face is explained for (see resolve_targets). What is left
    out is said through `log`.
    """
    import numpy as np

    from ferviz.data.sources import unlabelled_images
    from ferviz.explain import resolve_targets, select_per_class
    from ferviz.inputs.images import image_files as files_in, read_images

    if needs == "dataset":
        dataset = model_split(data, split, model, skip_bad).relabelled(model.class_names)
        return request_for(needs, dataset=select_per_class(dataset, per_class) if per_class else dataset,
                           seed=seed), None
    count = (per_class or DEFAULT_PER_CLASS) * len(model.class_names)
    faces = None
    folder = unlabelled_images(data) if data else None
    if image_files:
        faces = read_images(image_files, model=model, faces=faces_mode)
    elif folder is not None:
        files = files_in(folder) if folder.is_dir() else [folder]
        if len(files) > count:
            log(f"{data}: no labels; explaining the first {count} images")
        faces = read_images(files[:count], model=model, faces=faces_mode, skip_bad=skip_bad)
    if faces is not None:
        images, labels, ids = faces.images, None, faces.ids
    elif data:
        dataset = model_split(data, split, model, skip_bad).relabelled(model.class_names)
        if dataset.labelled:
            dataset = select_per_class(dataset, per_class or DEFAULT_PER_CLASS)
        else:
            log(f"{dataset.source}: no labels; explaining the first {count} images")
            dataset = dataset.subset(np.arange(min(count, len(dataset))))
        images, labels = dataset.images, dataset.labels
        ids = ([str(i) for i in dataset.ids] if dataset.ids is not None
               else [f"{dataset.split}:{k}" for k in range(len(images))])
    else:
        return request_for(needs, seed=seed), None  # model-level method without inputs
    targets = resolve_targets(model, target, images, labels)
    return request_for(needs, images=images, targets=targets, labels=labels, ids=ids, seed=seed), faces


def prediction_inputs(data: str, split: str | None, model, skip_bad: bool = False,
                      faces_mode: str | None = None) -> tuple[np.ndarray, Iterable]:
    """(images, ids) to predict: the faces of an unlabelled image folder or photo (found by
    `faces_mode`), else the chosen split of the data source (see :func:`model_split`)."""
    from ferviz.data.sources import unlabelled_images
    from ferviz.inputs.images import read_images

    folder = unlabelled_images(data)
    if folder is not None:
        faces = read_images(folder, model=model, faces=faces_mode, skip_bad=skip_bad)
        return faces.images, faces.ids
    dataset = model_split(data, split, model, skip_bad)
    return dataset.images, (dataset.ids if dataset.ids is not None else range(len(dataset)))
