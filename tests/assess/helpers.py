"""Small models and model-independent maps for the assessment tests."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ferviz import FER2013_CLASSES
from ferviz.model.loaded import LoadedModel
from ferviz.explain import MapExplainer, Request
from ferviz.model.preprocessing import Preprocessing
from ferviz.registry import hookimpl


def toy_net(num_classes: int = len(FER2013_CLASSES), in_channels: int = 1) -> nn.Module:
    """Two convs (one with BatchNorm), ReLUs, a pooled linear head: small enough to train in a second."""
    return nn.Sequential(
        nn.Conv2d(in_channels, 8, 5, stride=2, padding=2), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(256, num_classes),
    )


def toy_cnn(seed: int = 0) -> LoadedModel:
    """An untrained `toy_net` as a loaded model (architecture ``toy-cnn``, see `ToyArchitecture`)."""
    torch.manual_seed(seed)
    return LoadedModel(toy_net(), FER2013_CLASSES, Preprocessing("standard", 60.0, 70.0), arch="toy-cnn",
                       arch_args={"num_classes": len(FER2013_CLASSES), "in_channels": 1})


class ToyArchitecture:
    """An in-process plugin registering ``toy-cnn``, so that toy checkpoints can be saved and loaded."""

    @hookimpl
    def register_models(self, register):
        register("toy-cnn", toy_net)


def train(model: LoadedModel, images: np.ndarray, labels: np.ndarray, epochs: int = 6, seed: int = 0) -> LoadedModel:
    """A few epochs of Adam; returns the model in eval mode."""
    torch.manual_seed(seed)
    optimiser = torch.optim.Adam(model.parameters(), 3e-3)
    x, y = model.pixels(images), torch.as_tensor(labels)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x))
        for start in range(0, len(x), 64):
            batch = order[start:start + 64]
            loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return model.eval()


class FixedMap(MapExplainer):
    """A test explainer whose map is a fixed function of the images (it never looks at the model)."""

    summary = "test map"
    needs = "images"

    def map_of(self, images: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def attribute(self, batch: Request) -> np.ndarray:
        return self.map_of(batch.images).astype(np.float32)


class EdgeMap(FixedMap):
    """Gradient magnitude of the image: an edge detector, independent of the model."""

    name = "edge-map"

    def map_of(self, images):
        x = images.astype(np.float32)
        gy, gx = np.gradient(x, axis=(1, 2))
        return np.hypot(gx, gy)


class ConstantMap(FixedMap):
    """The same map for every image and every model."""

    name = "constant-map"

    def map_of(self, images):
        return np.ones(images.shape, np.float32)

