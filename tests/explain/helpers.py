"""Small hand-built models whose explanations are known in closed form."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ferviz import FER2013_CLASSES
from ferviz.model.loaded import LoadedModel
from ferviz.model.preprocessing import Preprocessing

STD = 64.0
PATCH = 10  # the linear model only looks at the top-left PATCH x PATCH pixels


def float32_sum_error(terms: np.ndarray, axis) -> np.ndarray:
    """How far a float32 sum of `terms` can lie from the exact sum, in whatever order the additions
    are made: n * eps * sum(|t|), n the non-zero terms (Higham, *Accuracy and Stability of
    Numerical Algorithms*, 2nd ed., eq. 4.4: (n - 1) * eps for the additions, plus one rounding of
    each product). The order is what the CPU's instruction set (AVX2, AVX-512, AMX), the blocking
    of a matrix product and the thread count change, so a result of float arithmetic is only
    defined up to this much: a test that wants "zero" or "equal" must allow it.
    """
    n = np.count_nonzero(terms, axis=axis)
    return n * float(np.finfo(np.float32).eps) * np.abs(terms).sum(axis=axis)


def patch_linear_model(seed: int = 0) -> LoadedModel:
    """logits = W (x - 128) / 64 + b with W zero outside the top-left 10x10 patch.

    d logit_t / d pixel = W[t, pixel] / 64 exactly, so saliency = |W[t]| / 64.
    """
    torch.manual_seed(seed)
    linear = nn.Linear(48 * 48, len(FER2013_CLASSES))
    with torch.no_grad():
        weight = torch.zeros(len(FER2013_CLASSES), 48, 48)
        weight[:, :PATCH, :PATCH] = torch.randn(len(FER2013_CLASSES), PATCH, PATCH)
        linear.weight.copy_(weight.view(len(FER2013_CLASSES), -1))
    net = nn.Sequential(nn.Flatten(), linear)
    return LoadedModel(net, FER2013_CLASSES, Preprocessing("standard", 128.0, STD), arch="patch-linear").eval()


def constant_model(favourite: str) -> LoadedModel:
    """Always predicts class `favourite` (whatever the input)."""
    index = FER2013_CLASSES.index(favourite)

    class Constant(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.zeros(()))

        def forward(self, x):
            logits = torch.zeros(len(x), len(FER2013_CLASSES), device=x.device) + self.scale * x.mean()
            logits[:, index] = 1.0
            return logits

    return LoadedModel(Constant(), FER2013_CLASSES, Preprocessing("none"), arch="constant").eval()


def smooth_conv_model(seed: int = 0) -> LoadedModel:
    """A small conv net with smooth activations (softplus, tanh): integrated gradients converge fast."""
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(1, 8, 5, stride=2), nn.Softplus(),
        nn.Conv2d(8, 16, 3, stride=2), nn.Tanh(),
        nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(64, len(FER2013_CLASSES)),
    )
    return LoadedModel(net, FER2013_CLASSES, Preprocessing("standard", 128.0, STD), arch="smooth").eval()
