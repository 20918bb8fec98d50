"""Per-image records: the faces as the model sees them, and what each figure row and summary says about them.

:func:`display_images` gives the uint8 faces at the model's input size (what figures draw under
a map); :func:`image_records` one dict per image (id, target, prediction, the target's
probability, the true class when known), which summaries list; :func:`record_title` a short
figure title made from one record.
"""

from __future__ import annotations

import numpy as np
import torch


def display_images(model, images: np.ndarray) -> np.ndarray:
    """The uint8 (N, S, S) faces exactly as the model sees them (resized, channel mean)."""
    with torch.no_grad():
        x = model.pixels(images).mean(dim=1)
    return x.round().clamp(0, 255).to(torch.uint8).cpu().numpy()


def image_records(model, request) -> list[dict]:
    """Per image: id, target, predicted class, the target's probability (and true label if known)."""
    proba = model.predict_proba(request.images).numpy()
    names = model.class_names
    records = []
    for i, target in enumerate(request.targets):
        record = {"id": request.ids[i], "target": names[target], "predicted": names[int(proba[i].argmax())],
                  "target_probability": round(float(proba[i, target]), 4)}
        if request.labels is not None:
            record["true"] = names[request.labels[i]]
        records.append(record)
    return records


def record_title(record: dict) -> str:
    """``#3: happy p=0.82 | true sad``: a short figure title for one image record."""
    title = f"{record['id']}: {record['target']} p={record['target_probability']:.2f}"
    if record.get("true") is not None and record["true"] != record["target"]:
        title += f" | true {record['true']}"
    if record["predicted"] != record["target"]:
        title += f" | pred {record['predicted']}"
    return title
