"""Pretrained checkpoints that ship inside a package, addressed by name.

A plugin registers each file it ships (hook ``register_pretrained``) with its SHA-256; every
command that takes a checkpoint accepts the name instead of a path::

    ferviz explain -m saliency --checkpoint fer2013-seed-vgg --image face.jpg --out o

The file is checked against its registered SHA-256 every time it is loaded (a changed file is
refused, whatever changed in it) and then goes through the same safe loader as any checkpoint.
A path that exists always wins over a name.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from ferviz.errors import CheckpointError


@dataclass(frozen=True)
class Pretrained:
    """One pretrained checkpoint a plugin ships.

    name:    what users type (``--checkpoint NAME``); lower case, no path separators.
    path:    the file, inside the plugin's own package.
    sha256:  hex SHA-256 of the file's bytes.
    arch:    its architecture (for ``ferviz models list``).
    data:    what it was trained and validated on, in a few words.
    metrics: measured numbers to show, e.g. ``{"val_accuracy": 0.66}``; each should come from a
             command the model card prints beside it.
    summary: one line; card: where its model card is (a path or URL).
    """

    name: str
    path: Path
    sha256: str
    arch: str = ""
    data: str = ""
    metrics: dict = field(default_factory=dict)
    summary: str = ""
    card: str = ""


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verified_path(entry: Pretrained) -> Path:
    """The entry's file, after checking that its bytes are the ones registered."""
    path = Path(entry.path)
    if not path.is_file():
        raise CheckpointError(f"pretrained model {entry.name!r}: its file {path} is missing; "
                              "reinstall the package that provides it")
    digest = file_sha256(path)
    if digest != entry.sha256.lower():
        raise CheckpointError(f"pretrained model {entry.name!r}: {path} fails its SHA-256 check "
                              f"(expected {entry.sha256[:16]}..., found {digest[:16]}...); the file was "
                              "changed or damaged, refused. Reinstall the package that provides it")
    return path


def resolve_checkpoint(spec) -> Path:
    """A checkpoint argument as a file: an existing path as given, else a pretrained name's
    verified file. Anything else is returned unchanged for the loader to report."""
    path = Path(spec)
    if path.exists():
        return path
    from ferviz import registry

    known = registry.pretrained()
    entry = known.get(str(spec))
    if entry is not None:
        return verified_path(entry)
    if len(path.parts) == 1:  # a bare word: say both what it is not and what exists
        names = ", ".join(sorted(known)) or "none installed"
        raise CheckpointError(f"checkpoint {spec}: no such file, and no pretrained model has that name "
                              f"(pretrained: {names}; `ferviz models list` describes them)")
    return path
