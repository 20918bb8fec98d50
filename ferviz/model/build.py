"""Building a network of a registered architecture (hook ``register_models``), for real or on the
meta device, where it allocates nothing: how the checkpoint loader sizes up arguments read from
a file before it trusts them."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ferviz.errors import CheckpointError, FervizError
from ferviz.model.messages import first_sentence, short


def build_model(arch: str, **arch_args) -> nn.Module:
    """A fresh network of a registered architecture (UnknownNameError lists the known ones)."""
    from ferviz import registry

    factory = registry.models().get_or_raise(arch)
    try:
        return factory(**arch_args)
    except TypeError as exc:
        raise FervizError(f"model {arch!r} does not accept arguments {short(arch_args)}: {exc}") from exc


def meta_build(arch: str, arch_args: dict, path: Path) -> nn.Module | None:
    """The network built on the meta device (no memory), or None for a factory that needs real
    tensors in ``__init__`` (NotImplementedError or a "meta" error: the real build decides).

    CheckpointError when `arch_args` cannot build it at all.
    """
    try:
        with torch.device("meta"):
            return build_model(arch, **arch_args)
    except FervizError:
        raise
    except Exception as exc:  # noqa: BLE001  a factory given arguments from a file
        if isinstance(exc, NotImplementedError) or "meta" in str(exc).lower():
            return None
        raise build_error(arch, arch_args, path, exc) from None


def build_error(arch: str, arch_args: dict, path: Path, exc: Exception) -> CheckpointError:
    """The one-line error for a factory that failed on `arch_args` read from checkpoint `path`."""
    return CheckpointError(f"checkpoint {path}: architecture {arch!r} cannot be built with arguments "
                           f"{short(arch_args)}: {type(exc).__name__}: {first_sentence(exc)}")
