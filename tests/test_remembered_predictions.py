"""remembered_predictions: a batch job scores a split once per model, and nothing leaks out of its scope."""

from __future__ import annotations

import numpy as np
import torch

from ferviz.model.loaded import remembered_predictions
from tests.conftest import make_loaded


def counting(model):
    calls = []
    model.net.register_forward_hook(lambda mod, inp, out: calls.append(len(inp[0])) and None)
    return calls


def test_one_model_on_one_array_is_computed_once_inside_the_scope():
    model = make_loaded()
    calls = counting(model)
    images = np.random.default_rng(0).integers(0, 256, (10, model.input_size, model.input_size), dtype=np.uint8)
    with remembered_predictions():
        first = model.predict_proba(images, batch_size=4)
        again = model.predict_proba(images, batch_size=4)
        assert calls == [4, 4, 2]
        assert torch.equal(first, again) and again is not first
        model.predict_proba(images[:5], batch_size=4)  # another array (a view of other memory): computed
        model.predict_proba(images, batch_size=8)  # another batch size: computed
        model.predict_proba(torch.as_tensor(images), batch_size=4)  # tensors are never remembered
        assert len(calls) == 3 + 2 + 2 + 3
    calls.clear()
    outside = model.predict_proba(images, batch_size=4)
    assert calls == [4, 4, 2] and torch.equal(outside, again)


def test_two_models_are_not_confused():
    a, b = make_loaded(seed=1), make_loaded(seed=2)
    images = np.random.default_rng(1).integers(0, 256, (6, a.input_size, a.input_size), dtype=np.uint8)
    with remembered_predictions():
        pa, pb = a.predict_proba(images), b.predict_proba(images)
    assert torch.equal(pa, a.predict_proba(images)) and torch.equal(pb, b.predict_proba(images))
    assert not torch.equal(pa, pb)
