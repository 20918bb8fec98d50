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


#: Explainers whose maps a 16-bit copy must reproduce, and the least Spearman correlation per face.
FIDELITY_METHODS = ("saliency", "integrated-gradients")
MIN_SPEARMAN = 0.999


@dataclass
class PackResult:
    path: Path
    sha256: str
    bytes: int
    storage: str
    spearman: dict  # method -> {"min", "mean", "faces"}: the packed model's maps against the original's


def map_fidelity(reference, packed, images, methods=FIDELITY_METHODS) -> dict:
    """Per method, Spearman correlation of `packed`'s maps with `reference`'s on `images`
    (each explained for the reference's predicted class): min and mean over faces."""
    from ferviz.explain import predicted_classes, run_explainer
    from ferviz.assess.tools import spearman

    targets = predicted_classes(reference, images)
    out = {}
    for method in methods:
        a, b = (run_explainer(method, m, images=images, targets=targets).arrays for m in (reference, packed))
        key = next(k for k in a if k not in ("mask", "images", "targets") and a[k].shape == (len(images), *images.shape[1:]))
        rho = spearman(a[key], b[key])
        out[method] = {"min": float(rho.min()), "mean": float(rho.mean()), "faces": len(images)}
    return out


def pack_checkpoint(source, out: Path, *, storage: str = "int16", faces=None,
                    min_spearman: float = MIN_SPEARMAN, overwrite: bool = False) -> PackResult:
    """Write a release copy of checkpoint `source` to `out`: no resume state, weights stored as
    `storage` (:mod:`ferviz.model.storage`). With `faces` (uint8 (N, H, W)), the copy's saliency and integrated-gradients maps
    must match the original's to a mean Spearman correlation over the faces of at least
    `min_spearman`, or nothing is written. (The mean, not the least face: on a face whose map is
    near zero over much of the image, the order of those pixels is numerical noise, and any
    change of the weights, even 1e-4 relative, moves that face's correlation below 0.999.)"""
    from ferviz.model.checkpoint import load_checkpoint, save_checkpoint
    from ferviz.errors import FervizError
    from ferviz.fileio import atomic_path, check_target

    out = check_target(out, folder=False, overwrite=overwrite)
    reference = load_checkpoint(source)
    own = {"format", "version", "arch", "arch_args", "class_names", "input", "preprocessing", "ferviz_version",
           "checksum", "storage", "scales"}
    extra = {k: v for k, v in reference.meta.items() if k not in own}
    with atomic_path(out, overwrite=overwrite) as candidate:  # checked where it is written, then moved in
        save_checkpoint(candidate, reference, storage=storage, **extra)
        packed = load_checkpoint(candidate)
        fidelity = map_fidelity(reference, packed, faces) if faces is not None else {}
        worst = {m: r["mean"] for m, r in fidelity.items() if r["mean"] < min_spearman}
        if worst:
            raise FervizError(f"{storage} storage changes the maps too much (mean Spearman over faces: "
                              + ", ".join(f"{m} {v:.4f}" for m, v in worst.items())
                              + f", below {min_spearman}); try another --storage")
    return PackResult(out, file_sha256(out), out.stat().st_size, storage, fidelity)
