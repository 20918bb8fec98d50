"""Pixel preprocessing that travels with a checkpoint.

Convention: every loaded model takes **plain pixels as float on the 0-255 scale**, shape
(N, C, H, W). The checkpoint's preprocessing turns them into what the network was trained on:

- ``standard``: (x - mean) / std with the training split's data-set-wide mean and std (0-255 scale)
- ``unit``: x / 255
- ``none``: x unchanged
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from ferviz.errors import OptionError

MODES = ("standard", "unit", "none")


@dataclass(frozen=True)
class Preprocessing:
    mode: str = "standard"
    mean: float = 0.0
    std: float = 1.0

    def __post_init__(self):
        if self.mode not in MODES:
            raise OptionError(f"normalisation must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.mode == "standard" and not self.std > 0:
            raise OptionError(f"standard normalisation needs std > 0, got {self.std}")

    @classmethod
    def fit(cls, mode: str, images: np.ndarray) -> "Preprocessing":
        """Preprocessing for `mode`, with mean/std measured on uint8 `images` when needed."""
        if mode != "standard":
            return cls(mode)
        x = images.reshape(len(images), -1)
        # float64 running sums over uint8 chunks: exact, and no full float copy of the data
        total, total_sq, n = 0.0, 0.0, 0
        for start in range(0, len(x), 4096):
            chunk = x[start:start + 4096].astype(np.float64)
            total += chunk.sum()
            total_sq += np.square(chunk).sum()
            n += chunk.size
        mean = total / n
        std = float(np.sqrt(max(total_sq / n - mean * mean, 1e-12)))
        return cls("standard", float(mean), std)

    def scale_shift(self) -> tuple[float, float]:
        """(a, b) such that preprocessing is x * a + b."""
        if self.mode == "standard":
            return 1.0 / self.std, -self.mean / self.std
        if self.mode == "unit":
            return 1.0 / 255.0, 0.0
        return 1.0, 0.0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.scale_shift()
        return x if (a, b) == (1.0, 0.0) else x * a + b

    def to_dict(self) -> dict:
        return asdict(self)
