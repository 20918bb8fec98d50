"""Session fixtures for the assessment tests: a toy CNN trained in about a second, synthetic masks."""

from __future__ import annotations

import numpy as np
import pytest

from ferviz.data.synthetic import generate
from ferviz import registry
from tests.assess.helpers import ToyArchitecture, toy_cnn, train


@pytest.fixture(scope="session")
def bars_model(bars):
    """The toy CNN trained on the bars set (class c: a bright bar at rows 4+5c..10+5c); ~100 % accurate."""
    train_set, _ = bars
    return train(toy_cnn(), train_set.images, train_set.labels)


@pytest.fixture(scope="session")
def shuffled_bars_model(bars):
    """The same network trained on the bars with shuffled labels (for label randomisation)."""
    train_set, _ = bars
    labels = np.random.default_rng(1).permutation(train_set.labels)
    return train(toy_cnn(seed=1), train_set.images, labels)


@pytest.fixture(scope="session")
def synthetic_masks():
    """Cue masks of 400 synthetic faces (about 8 % of each face's pixels)."""
    return generate(400, seed=3, split="test").masks


@pytest.fixture
def toy_architecture():
    """``toy-cnn`` registered in-process (fresh plugin manager), unregistered after the test."""
    registry.reset()
    registry.get_plugin_manager().register(ToyArchitecture(), name="toy-architecture")
    yield
    registry.reset()
