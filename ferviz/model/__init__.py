"""Models as ferviz loads them: one module a job.

- :mod:`~ferviz.model.loaded`: `LoadedModel`, a network with its classes, input and preprocessing;
- :mod:`~ferviz.model.build`: networks of registered architectures, also on the meta device;
- :mod:`~ferviz.model.checkpoint`: checkpoint files (save, read, load any supported format);
- :mod:`~ferviz.model.validate`: what a checkpoint must hold, checked before a network is built;
- :mod:`~ferviz.model.foreign`: TorchScript, torch.export programs, plain state_dicts, plugins' formats,
  with what the user declares for them (:mod:`~ferviz.model.declared`);
- :mod:`~ferviz.model.pretrained`: pretrained models by name, checked against their SHA-256;
  :mod:`~ferviz.model.pack`: release copies in 16 bits, checked against the original's maps;
- :mod:`~ferviz.model.preprocessing`, :mod:`~ferviz.model.storage` (16-bit weights);
- :mod:`~ferviz.model.layers`: the one layer probe; :mod:`~ferviz.model.summary`: the model summary;
- :mod:`~ferviz.model.evaluation`: accuracy and the confusion matrix.

The names below are importable from ``ferviz.model`` itself. They load on first use (PEP 562), so
importing this package costs nothing (the CLI imports it before torch is needed) and no submodule
has to import the package back.
"""

from __future__ import annotations

from ferviz.lazy import exports

_PUBLIC = {
    "LoadedModel": "loaded", "KINDS": "loaded", "model_kind": "loaded",
    "build_model": "build", "meta_build": "build",
    "load_checkpoint": "checkpoint", "save_checkpoint": "checkpoint", "read_checkpoint_dict": "checkpoint",
    "MAX_INFLATION": "checkpoint",
    "tensor_checksum": "validate", "FORMAT": "validate", "FORMAT_VERSION": "validate",
    "MAX_INPUT_CHANNELS": "declared", "MAX_INPUT_SIZE": "declared",
    "Preprocessing": "preprocessing",
    "resolve_checkpoint": "pretrained",
    "layer_outputs": "layers",
}

__all__ = sorted(_PUBLIC)
__getattr__ = exports(__name__, _PUBLIC)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
