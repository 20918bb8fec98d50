"""Pixel preprocessing that travels with a checkpoint (public API: :class:`Preprocessing`).

Convention: every loaded model takes **plain pixels as float on the 0-255 scale**, shape
(N, C, H, W). The checkpoint's preprocessing turns them into what the network was trained on:

- ``standard``: (x - mean) / std, with mean and std **on the 0-255 pixel scale** (ferviz's own
  checkpoints store the training split's data-set-wide mean and std)
- ``unit``: x / 255, the range [0, 1]
- ``none``: x unchanged

A file that does not carry its preprocessing (TorchScript, a plain state_dict, a Keras file)
declares it with ``--normalize``, parsed by :meth:`Preprocessing.parse`: ``standard:MEAN,STD``
(both numbers required), ``unit``, ``none``, or ``signed`` for the range [-1, 1]
(``standard:127.5,127.5``). This module imports neither torch nor matplotlib (the CLI parses
``--normalize`` before loading either).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ferviz.errors import OptionError

MODES = ("standard", "unit", "none")
#: --normalize shorthands: name -> (mode, mean, std) on the 0-255 scale.
SHORTHANDS = {"signed": ("standard", 127.5, 127.5), "unit": ("unit", 0.0, 1.0), "none": ("none", 0.0, 1.0)}
NORMALIZE_HELP = ("standard:MEAN,STD (both on the 0-255 pixel scale, e.g. standard:127.5,63.75) | signed "
                  "(the range [-1, 1], = standard:127.5,127.5) | unit (the range [0, 1]) | none (raw 0-255)")


@dataclass(frozen=True)
class Preprocessing:
    """How plain 0-255 pixels become the network's input: ``x * a + b`` (see :meth:`scale_shift`).

    mode: ``standard`` | ``unit`` | ``none``; mean, std: for ``standard``, on the 0-255 scale.
    Calling it on a tensor (or array) applies it; ``to_dict()`` is what checkpoints store.
    """

    mode: str = "standard"
    mean: float = 0.0
    std: float = 1.0

    def __post_init__(self):
        if self.mode not in MODES:
            raise OptionError(f"normalisation must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.mode == "standard" and not self.std > 0:
            raise OptionError(f"standard normalisation needs std > 0, got {self.std}")

    @classmethod
    def parse(cls, text: str, option: str = "--normalize") -> "Preprocessing":
        """``standard:MEAN,STD`` (both numbers, 0-255 scale), ``signed``, ``unit`` or ``none``.

        A missing number is an error, never a default; so are MEAN and STD both at most 1, which
        are numbers on the 0-1 scale (``standard:0.5,0.5`` means standard:127.5,127.5 here).
        """
        text = str(text).strip().lower()
        if text in SHORTHANDS:
            return cls(*SHORTHANDS[text])
        mode, colon, rest = text.partition(":")
        numbers = [part.strip() for part in rest.split(",")] if colon else []
        if mode != "standard" or len(numbers) != 2 or not all(numbers):
            raise OptionError(f"{option} {text!r}: expected {NORMALIZE_HELP}")
        try:
            mean, std = (float(n) for n in numbers)
        except ValueError:
            raise OptionError(f"{option} {text!r}: MEAN and STD must be numbers, as in standard:127.5,63.75") from None
        if not (np.isfinite(mean) and np.isfinite(std)):
            raise OptionError(f"{option} {text!r}: MEAN and STD must be finite numbers")
        if abs(mean) <= 1 and 0 < std <= 1:
            raise OptionError(f"{option} {text!r}: MEAN and STD are on the 0-255 pixel scale; these look like 0-1 "
                              f"numbers, which would be standard:{mean * 255:g},{std * 255:g} (or use signed for "
                              "[-1, 1], unit for [0, 1])")
        return cls("standard", mean, std)

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

    def __call__(self, x):
        a, b = self.scale_shift()
        return x if (a, b) == (1.0, 0.0) else x * a + b

    def to_dict(self) -> dict:
        return asdict(self)
