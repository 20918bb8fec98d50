"""Hook specifications: what a ferviz plugin may implement.

Built-in plugins (`ferviz.plugins.*`, `ferviz.models.*`) implement these exactly as third-party
packages do; a third party declares an entry point in group ``ferviz``::

    [options.entry_points]
    ferviz =
        myplugin = my_package.my_module

Every ``register_*`` hook receives a ``register`` callback and returns nothing; every
implementation is called. A name registered twice is an error naming both plugins.
"""

import pluggy

hookspec = pluggy.HookspecMarker("ferviz")


@hookspec
def register_models(register):
    """Register model architectures.

    Call ``register(name, factory)`` once per architecture. ``factory(num_classes=7,
    in_channels=1, **kwargs)`` returns a fresh ``torch.nn.Module`` that maps (N, C, H, W)
    float input (already preprocessed) to (N, num_classes) logits. Keyword arguments are stored in
    checkpoints, so they must be plain JSON-like values; ``input_size`` is passed too when the
    factory takes it and the user gave ``--size``. docs/plugins.md ("Model plugins") has the
    whole contract and an example.
    """


@hookspec
def register_explainers(register):
    """Register explainers.

    Call ``register(explainer_class)`` once per explainer; the class subclasses
    :class:`ferviz.explain.MapExplainer` (a per-image map: implement ``attribute(batch)``) or
    :class:`ferviz.explain.Explainer` (anything else: implement ``explain(request)``) and names
    itself with its ``name`` attribute.
    """


@hookspec
def register_data_sources(register):
    """Register data-source readers.

    Call ``register(reader)`` once per reader; ``reader`` is a :class:`ferviz.data.sources.Reader`
    with a ``kind`` (the prefix users write, as in ``csv:path``), ``sniff(path) -> bool`` to claim
    an unprefixed path, and ``read(location, options) -> dict[str, Dataset]``.
    """


@hookspec
def register_metrics(register):
    """Register explanation-quality metrics.

    Call ``register(metric_class)`` once per metric; the class subclasses
    :class:`ferviz.assess.Metric` and names itself with its ``name`` attribute.
    """


@hookspec
def register_pretrained(register):
    """Register pretrained checkpoints that this plugin's package ships.

    Call ``register(entry)`` once per file; ``entry`` is a
    :class:`ferviz.model.pretrained.Pretrained` with the name users type (``--checkpoint NAME``), the
    file's path inside the package and its SHA-256. ferviz checks the digest on every load and
    refuses a changed file; the file then goes through the ordinary safe loader (so it is a
    ferviz checkpoint, or a format another plugin's ``load_checkpoint`` reads).
    """


@hookspec
def register_face_detectors(register):
    """Register face detectors, which find the faces in ordinary photos (``--faces detect``).

    Call ``register(detector)`` once per detector: an object with a ``name``, a one-line
    ``summary`` and ``detect(gray) -> list[(left, top, width, height)]``, where ``gray`` is an
    (H, W) uint8 photo and each box a face in its pixels. ferviz turns each box into a square
    crop with a margin and converts it by the usual rules. A detector that needs a package it
    lacks should not register. With several detectors, one that is not built in is used (a
    better one installed wins over ferviz's own); see :mod:`ferviz.inputs.faces`.
    """


@hookspec(firstresult=True)
def load_checkpoint(path, options):
    """Load a checkpoint file whose format ferviz does not know itself.

    ``path`` is a :class:`pathlib.Path`; ``options`` a dict of what the user gave on the command
    line (``classes``, ``normalize``, ``channels``, ``size``, ``arch``, ``arch_args``,
    ``outputs``, ``trust``; :func:`ferviz.model.declared.declared` parses them). Return a
    :class:`ferviz.model.LoadedModel`, or None to let the next plugin try; raise
    :class:`ferviz.errors.CheckpointError` for a file in your format that cannot be read. The
    first non-None answer wins; ferviz's own formats are tried before any plugin, and ferviz
    probes the returned network (output size against the class names, probabilities).
    docs/plugins.md ("Checkpoint-format plugins") has the whole contract and the Keras reader.
    """
