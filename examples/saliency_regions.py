"""Where a model's saliency falls on the face, by class: the share of each map in three bands.

For every held-out validation face the model explains its predicted class with vanilla saliency
(|d score / d pixel|). Three horizontal bands of the 48x48 crop: brows and eyes (rows 0-21),
nose (rows 22-31), mouth and chin (rows 32-47). FER2013's crops are registered, so these bands
hold the same parts of most faces. Per predicted class, two numbers per band:

- mass: the mean share of the raw map in the band (each map scaled to sum to 1), beside the
  band's share of the area, which is what a map spread evenly over the face would give;
- peak: the share of faces whose map, blurred as the mask panel blurs it (sigma 2 px), peaks in
  the band: where the masked region of ``ferviz explain -m saliency`` sits.

    python examples/saliency_regions.py --checkpoint fer2013-seed-vgg --data ../shared/data/fer2013-train.zip

It uses ferviz's Python API only: the checkpoint by name, the held-out split the checkpoint
records, and the saliency explainer's ``maps`` (maps without figures).
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from ferviz.model import load_checkpoint, resolve_checkpoint
from ferviz.data.sources import Holdout, describe_split, open_source, select_split
from ferviz.explain import Request, explaining, gaussian_blur, get_explainer, predicted_classes

BANDS = {"brows and eyes": slice(0, 22), "nose": slice(22, 32), "mouth and chin": slice(32, 48)}


def peak_bands(maps: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    """(N,) index of the band holding each map's maximum after a Gaussian blur of `sigma` pixels."""
    blurred = gaussian_blur(torch.as_tensor(maps)[:, None].float(), sigma)[:, 0].numpy()
    rows = blurred.reshape(len(maps), -1).argmax(axis=1) // maps.shape[2]
    return np.array([next(k for k, band in enumerate(BANDS.values()) if band.start <= r < band.stop) for r in rows])


def band_shares(maps: np.ndarray) -> np.ndarray:
    """(N, bands): each map's share of its total in each band."""
    rows = maps.sum(axis=2)  # (N, 48)
    rows = rows / np.maximum(rows.sum(axis=1, keepdims=True), 1e-12)
    return np.stack([rows[:, band].sum(axis=1) for band in BANDS.values()], axis=1)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default="fer2013-seed-vgg", help="a checkpoint file or a pretrained name")
    p.add_argument("--data", required=True, help="the data source the checkpoint was trained on")
    p.add_argument("--limit", type=int, default=0, help="only the first N validation faces (0: all)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a Markdown table")
    args = p.parse_args(argv)
    model = load_checkpoint(resolve_checkpoint(args.checkpoint))
    if model.input_size != 48:
        raise SystemExit(f"{args.checkpoint}: the bands are rows of a 48x48 FER2013 crop; this model takes "
                         f"{model.input_size}x{model.input_size} input")
    val = select_split(open_source(args.data), None, args.data, Holdout.of_model(model))  # as evaluate picks it
    images = val.images[:args.limit] if args.limit else val.images
    predicted = predicted_classes(model, images)
    explainer = get_explainer("saliency")(model)
    with explaining(model):
        maps = explainer.maps(Request(images=images, targets=predicted))
    shares, peaks = band_shares(maps), peak_bands(maps)
    area = [(band.stop - band.start) / maps.shape[1] for band in BANDS.values()]
    rows = {}
    for k, name in enumerate(model.class_names):
        mine = predicted == k
        if mine.any():
            rows[name] = {"faces": int(mine.sum()),
                          "mass": dict(zip(BANDS, shares[mine].mean(axis=0).round(3).tolist())),
                          "peak": {b: round(float((peaks[mine] == j).mean()), 3) for j, b in enumerate(BANDS)}}
    result = {"split": describe_split(val), "faces": len(images), "area": dict(zip(BANDS, np.round(area, 3).tolist())),
              "by_predicted_class": rows}
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(f"{len(images)} faces of {args.data}, split {result['split']}\n")
        print(f"| predicted class | faces | {' | '.join(f'{b}: mass / peak' for b in BANDS)} |")
        print(f"|---|---:|{'---:|' * len(BANDS)}")
        for name, row in rows.items():
            print(f"| {name} | {row['faces']} | "
                  + " | ".join(f"{row['mass'][b]:.2f} / {row['peak'][b]:.2f}" for b in BANDS) + " |")
        print("| (share of the area) | | " + " | ".join(f"{a:.2f}" for a in area) + " |")
    return result


if __name__ == "__main__":
    from ferviz.errors import FervizError

    try:
        main()
    except FervizError as exc:  # a bad path or checkpoint: one line, as the CLI prints it
        raise SystemExit(f"saliency_regions: {exc}") from None
