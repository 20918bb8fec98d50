"""Batch augmentation in plain torch: rotation, shear, zoom and horizontal flip, no shift.

One affine matrix per image, applied to the whole batch at once with ``affine_grid`` +
``grid_sample`` on the training device, like Keras's ImageDataGenerator in the original report
(rotation, shear, zoom, horizontal flip; no shift) but without a per-image Python loop.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from ferviz.errors import OptionError


@dataclass(frozen=True)
class Augmentation:
    rotation: float = 10.0  # degrees, uniform in [-rotation, rotation]
    shear: float = 10.0  # degrees, uniform in [-shear, shear]
    zoom: float = 0.1  # scale uniform in [1 - zoom, 1 + zoom]
    flip: bool = True  # horizontal flip with probability 1/2

    def __post_init__(self):
        for name, low, high in (("rotation", 0, 180), ("shear", 0, 60), ("zoom", 0, 0.9)):
            value = getattr(self, name)
            if not low <= value <= high:
                raise OptionError(f"augmentation {name} must lie in [{low}, {high}], got {value}")

    @property
    def identity(self) -> bool:
        return self.rotation == 0 and self.shear == 0 and self.zoom == 0 and not self.flip

    def to_dict(self) -> dict:
        return asdict(self)

    def matrices(self, n: int, generator: torch.Generator, device=None) -> torch.Tensor:
        """(n, 2, 3) affine matrices in normalised coordinates, drawn from `generator` on the CPU."""
        u = torch.rand(n, 4, generator=generator) * 2 - 1  # (n, 4) in [-1, 1)
        angle = torch.deg2rad(u[:, 0] * self.rotation)
        shear = torch.tan(torch.deg2rad(u[:, 1] * self.shear))
        scale = 1.0 + u[:, 2] * self.zoom
        flip = torch.where((u[:, 3] < 0) & self.flip, -1.0, 1.0)
        cos, sin = torch.cos(angle), torch.sin(angle)
        # grid_sample maps output to input coordinates: inverse zoom, rotation, shear, flip
        a = torch.stack([cos, -sin + shear * cos], -1) / scale[:, None]  # (n, 2) first row
        b = torch.stack([sin, cos + shear * sin], -1) / scale[:, None]   # (n, 2) second row
        a = a * torch.stack([flip, torch.ones_like(flip)], -1)
        b = b * torch.stack([flip, torch.ones_like(flip)], -1)
        zeros = torch.zeros(n, 1)
        theta = torch.stack([torch.cat([a, zeros], 1), torch.cat([b, zeros], 1)], 1)  # (n, 2, 3)
        return theta.to(device) if device is not None else theta

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Augment a float batch (N, C, H, W); border pixels are repeated (Keras's 'nearest')."""
        if self.identity:
            return x
        theta = self.matrices(len(x), generator, x.device).to(x.dtype)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def augment_uint8(images: torch.Tensor, aug: Augmentation, generator: torch.Generator,
                  batch_size: int = 1024) -> torch.Tensor:
    """Augmented uint8 copies of uint8 (N, H, W) images, made batch by batch (offline expansion)."""
    out = torch.empty_like(images)
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size].unsqueeze(1).float()
        out[start:start + batch_size] = aug(x, generator).round_().clamp_(0, 255).squeeze(1).to(torch.uint8)
    return out


