"""The numerics behind the explanation-quality metrics: plain functions on arrays and models.

Maps are (N, H, W) float attributions at the model's input size, masks (N, H, W) bool. Every
function is batched over images and returns one value per image (or one curve per image).
"""

from __future__ import annotations

import copy
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from ferviz.model.layers import layer_outputs
from ferviz.explain import chunks, gaussian_blur

NORMS = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm, nn.modules.instancenorm._InstanceNorm)


# ----------------------------------------------------------------------------- localisation
def mask_share(masks: np.ndarray) -> np.ndarray:
    """(N,) share of each image's pixels inside its mask: what a random map scores on average."""
    return masks.reshape(len(masks), -1).mean(axis=1)


def dilate(masks: np.ndarray, pixels: int) -> np.ndarray:
    """Masks grown by `pixels` (a square neighbourhood), for a pointing-game tolerance."""
    if pixels <= 0:
        return masks
    grown = nn.functional.max_pool2d(torch.as_tensor(masks, dtype=torch.float32).unsqueeze(1),
                                     2 * pixels + 1, stride=1, padding=pixels)
    return grown[:, 0].numpy() > 0


def pointing_game(maps: np.ndarray, masks: np.ndarray, tolerance: int = 0) -> np.ndarray:
    """(N,) hit of each map's maximum in its mask (Zhang et al. 2016), ties shared.

    The hit is the share of the pixels that attain the map's maximum (to a relative 1e-6) lying
    inside the mask grown by `tolerance` pixels: 1 or 0 for a map with one peak, and the mask's
    area share for a constant map, which points nowhere in particular.
    """
    flat = maps.reshape(len(maps), -1).astype(np.float64)
    grown = dilate(masks, tolerance).reshape(len(masks), -1)
    peak = flat.max(axis=1, keepdims=True)
    top = flat >= peak - 1e-6 * np.maximum(np.abs(peak), 1e-30)
    return (top & grown).sum(axis=1) / top.sum(axis=1)


def relevance_mass(maps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """(N,) share of the positive attribution that lies inside the mask (Arras et al. 2022).

    NaN for a map with no positive value at all (it attributes nothing).
    """
    positive = np.clip(maps.reshape(len(maps), -1).astype(np.float64), 0, None)
    total = positive.sum(axis=1)
    inside = (positive * masks.reshape(len(masks), -1)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, inside / np.where(total > 0, total, 1), np.nan)


# ----------------------------------------------------------------------------- rank correlation
def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks along the last axis (0-based), ties given their average rank (as scipy's rankdata)."""
    values = np.asarray(values, dtype=np.float64)
    flat = values.reshape(-1, values.shape[-1])
    ranks = np.empty_like(flat)
    for row, out in zip(flat, ranks):
        order = np.argsort(row, kind="stable")
        sorted_row = row[order]
        starts = np.concatenate(([True], sorted_row[1:] != sorted_row[:-1]))
        group = np.cumsum(starts) - 1
        first = np.flatnonzero(starts)
        last = np.concatenate((first[1:], [len(row)])) - 1
        out[order] = ((first + last) / 2.0)[group]
    return ranks.reshape(values.shape)


def spearman(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N,) Spearman rank correlation between maps a[i] and b[i] (flattened).

    Two constant maps count as identical (1.0); a constant map against a varying one as 0.0.
    """
    ra = average_ranks(a.reshape(len(a), -1))
    rb = average_ranks(b.reshape(len(b), -1))
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    norm = np.sqrt((ra * ra).sum(axis=1) * (rb * rb).sum(axis=1))
    flat_a, flat_b = np.ptp(a.reshape(len(a), -1), axis=1) == 0, np.ptp(b.reshape(len(b), -1), axis=1) == 0
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (ra * rb).sum(axis=1) / np.where(norm > 0, norm, 1)
    return np.where(flat_a & flat_b, 1.0, np.where(flat_a | flat_b, 0.0, rho))


# ----------------------------------------------------------------------------- randomisation
def top_overlap(a: np.ndarray, b: np.ndarray, share: float = 0.1) -> np.ndarray:
    """(N,) share of map a[i]'s top `share` pixels that are also among b[i]'s top `share` pixels.

    Each map keeps its k = ceil(share x pixels) highest pixels (ties broken by position, stably).
    """
    flat_a, flat_b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    k = max(1, int(np.ceil(share * flat_a.shape[1])))
    top_a = np.argsort(-flat_a, axis=1, kind="stable")[:, :k]
    top_b = np.argsort(-flat_b, axis=1, kind="stable")[:, :k]
    return np.array([len(np.intersect1d(x, y)) / k for x, y in zip(top_a, top_b)])


def forward_order(model) -> list[str]:
    """Names of the leaf modules holding parameters, in the order one forward pass runs them."""
    modules = dict(model.net.named_modules())
    return [name for name, _ in layer_outputs(model)
            if not list(modules[name].children()) and any(True for _ in modules[name].parameters(recurse=False))]


def randomisation_steps(model) -> list[list[str]]:
    """The cascade of Adebayo et al. (2018), from the logits towards the input.

    Each step is one weight layer (conv, linear...) together with the normalisation layers that
    follow it before the next weight layer; steps are listed top (logits) first.
    """
    layers = model.named_layers()
    groups: list[list[str]] = []
    for name in forward_order(model):
        if groups and isinstance(layers[name], NORMS):
            groups[-1].append(name)
        else:
            groups.append([name])
    return groups[::-1]


@contextmanager
def seeded(seed: int, device: torch.device):
    """Torch's global generators seeded for a block, then restored."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        yield


def reinitialise(model, names: list[str], seed: int) -> None:
    """Re-draw the parameters (and reset the statistics) of the named modules of `model`, in place.

    Modules with ``reset_parameters`` use their own default initialisation; any other parameter
    is drawn from a normal distribution with its current standard deviation.
    """
    with seeded(seed, model.device), torch.no_grad():
        for name in names:
            module = model.layer(name)
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
                continue
            for p in module.parameters(recurse=False):
                std = float(p.std()) if p.numel() > 1 else 1.0
                p.normal_(0.0, std or 1.0)


def cascading_randomisation(model, images, targets, explain_fn, *, seed: int = 0):
    """(maps before, [maps after each step], step names): the cascade on a deep copy of `model`.

    ``explain_fn(model, images, targets) -> (N, H, W) maps``; `model` itself is left untouched.
    """
    steps = randomisation_steps(model)
    original = explain_fn(model, images, targets)
    work = copy.deepcopy(model)
    after = []
    for k, names in enumerate(steps):
        reinitialise(work, names, seed + k)
        after.append(explain_fn(work, images, targets))
    return original, after, ["+".join(names) for names in steps]


# ----------------------------------------------------------------------------- deletion / insertion
def pixel_order(maps: np.ndarray, seed: int) -> np.ndarray:
    """(N, P) pixel indices from the most to the least positive attribution, ties in random order."""
    flat = maps.reshape(len(maps), -1)
    tie = np.random.default_rng(seed).random(flat.shape)
    return np.stack([np.lexsort((t, -row)) for row, t in zip(flat, tie)])


def reference_pixels(pixels: torch.Tensor, kind: str, sigma: float) -> torch.Tensor:
    """What a removed pixel becomes: the image's mean grey (``mean``) or a blurred copy (``blur``)."""
    if kind == "mean":
        return pixels.mean(dim=(1, 2, 3), keepdim=True).expand_as(pixels)
    if kind == "blur":
        return gaussian_blur(pixels, sigma)
    raise ValueError(f"unknown reference {kind!r}")


@torch.no_grad()
def perturbation_curves(model, pixels: torch.Tensor, maps: np.ndarray, targets: np.ndarray, *,
                        mode: str, reference: torch.Tensor, steps: int = 20, score: str = "probability",
                        batch_size: int = 256, seed: int = 0) -> np.ndarray:
    """(N, steps + 1) target score as pixels are deleted from (or inserted into) each image.

    ``deletion``: start from the image, replace the top k pixels of the map by `reference`;
    ``insertion``: start from `reference`, put back the top k pixels of the image. Step j moves
    round(j / steps * P) pixels, in the map's order (most positive first, ties random). `score` is
    the target's softmax ``probability`` or its ``logit``. All (N x steps + 1) images go through
    the model in batches of `batch_size`.
    """
    n, c, h, w = pixels.shape
    order = torch.as_tensor(pixel_order(maps, seed), device=pixels.device)  # (N, P)
    counts = [round(j / steps * h * w) for j in range(steps + 1)]
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(h * w, device=pixels.device).expand(n, -1))  # pixel -> position
    targets_t = torch.as_tensor(targets, dtype=torch.int64, device=pixels.device)
    # job m = (image m // (steps + 1), step m % (steps + 1)): row-major, like the output
    image_of = torch.arange(n, device=pixels.device).repeat_interleave(steps + 1)
    count_of = torch.tensor(counts, device=pixels.device).repeat(n)
    out = torch.empty(n * (steps + 1))
    for part in chunks(len(image_of), batch_size):
        idx = image_of[part]
        moved = (rank[idx] < count_of[part].view(-1, 1)).view(-1, 1, h, w)  # (B, 1, H, W)
        start, end = (pixels[idx], reference[idx]) if mode == "deletion" else (reference[idx], pixels[idx])
        logits = model(torch.where(moved, end, start))
        values = torch.softmax(logits, dim=1) if score == "probability" else logits
        out[part] = values.gather(1, targets_t[idx].view(-1, 1)).view(-1).float().cpu()
    return out.view(n, steps + 1).numpy()


def curve_auc(curves: np.ndarray) -> np.ndarray:
    """(N,) area under each curve over the moved fraction 0..1 (trapezoid rule)."""
    steps = curves.shape[1] - 1
    return (curves[:, 1:] + curves[:, :-1]).sum(axis=1) / (2 * steps)
