"""Models as ferviz loads them: one module a job.

- :mod:`~ferviz.model.loaded`: `LoadedModel`, a network with its classes, input and preprocessing;
- :mod:`~ferviz.model.build`: networks of registered architectures, also on the meta device;
- :mod:`~ferviz.model.checkpoint`: the checkpoint file format (save, read, validate, load);
- :mod:`~ferviz.model.foreign`: TorchScript, torch.export programs, plain state_dicts, plugins' formats,
  with what the user declares for them (:mod:`~ferviz.model.declared`);
- :mod:`~ferviz.model.pretrained`: pretrained models by name, checked against their SHA-256;
- :mod:`~ferviz.model.preprocessing`, :mod:`~ferviz.model.storage` (16-bit weights);
- :mod:`~ferviz.model.layers`: the one layer probe; :mod:`~ferviz.model.summary`: the model summary;
- :mod:`~ferviz.model.evaluation`: accuracy and the confusion matrix.

The names below are importable from ``ferviz.model`` itself. They load on first use (PEP 562), so
importing this package costs nothing (the CLI imports it before torch is needed) and no submodule
has to import the package back.
"""

from __future__ import annotations

import importlib

_PUBLIC = {
    "LoadedModel": "loaded", "KINDS": "loaded", "model_kind": "loaded",
    "build_model": "build", "meta_build": "build",
    "load_checkpoint": "checkpoint", "save_checkpoint": "checkpoint", "read_checkpoint_dict": "checkpoint",
    "tensor_checksum": "checkpoint", "FORMAT": "checkpoint", "FORMAT_VERSION": "checkpoint",
    "MAX_INFLATION": "checkpoint",
    "MAX_INPUT_CHANNELS": "declared", "MAX_INPUT_SIZE": "declared",
    "Preprocessing": "preprocessing",
    "resolve_checkpoint": "pretrained",
    "layer_outputs": "layers",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
