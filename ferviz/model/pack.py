"""Release copies of a checkpoint (``ferviz models pack``): no resume state, weights in 16 bits
(:mod:`ferviz.model.storage`), written only when the copy's saliency and integrated-gradients
maps match the original's; the digest it prints is what a plugin registers (:mod:`ferviz.model.pretrained`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ferviz.errors import FervizError
from ferviz.fileio import atomic_path, check_target
from ferviz.model.checkpoint import load_checkpoint, save_checkpoint
from ferviz.model.pretrained import file_sha256

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
