"""Pretrained checkpoints shipped with ferviz, registered like any plugin's (hook ``register_pretrained``).

``fer2013-seed-vgg``: the report's seed VGG trained with the report's recipe on the FER2013
training split; ``fer2013-seed-vgg-cosine``: a second seed with a cosine learning-rate decay,
for an ensemble of two. docs/model-card-fer2013.md says how they were made and what they score.
Weights are stored as int16 with per-channel scales (``ferviz models pack``) and computed in
float32. The numbers below come from ``ferviz evaluate NAME --data fer2013-train.zip --tta flip``
(the 2,872 validation faces held out of the training split).
"""

from __future__ import annotations

from pathlib import Path

from ferviz.model.pretrained import Pretrained
from ferviz.registry import hookimpl

WEIGHTS = Path(__file__).parent / "weights"


def _fer2013(name: str, sha256: str, metrics: dict, summary: str) -> Pretrained:
    """A seed VGG trained on FER2013's training split, validated on its 10% held out (split seed 0)."""
    return Pretrained(name=name, path=WEIGHTS / f"{name}.pt", sha256=sha256, arch="seed-vgg",
                      data="FER2013 train split, 10% held out (split seed 0)", metrics=metrics, summary=summary,
                      card="docs/model-card-fer2013.md")


FER2013_SEED_VGG = _fer2013(
    "fer2013-seed-vgg", "a95ce579c6d65664a00f30ea39a79fc0fd3a613d8d559dbedc2f517182028191",
    {"val_accuracy": 0.6664, "val_accuracy_flip_tta": 0.6706},
    "The report's seed VGG, trained with the report's recipe on real FER2013 faces.")
FER2013_SEED_VGG_COSINE = _fer2013(
    "fer2013-seed-vgg-cosine", "accfb46e3e809f677014080fb2306834311649ae04cc4ab4317d96562ab4be85",
    {"val_accuracy": 0.6682, "val_accuracy_flip_tta": 0.6744},
    "A second seed with a cosine learning-rate decay; with fer2013-seed-vgg an ensemble of two.")


@hookimpl
def register_pretrained(register):
    register(FER2013_SEED_VGG)
    register(FER2013_SEED_VGG_COSINE)
