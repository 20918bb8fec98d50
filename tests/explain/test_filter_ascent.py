"""Filter gradient ascent: activations rise far above their start; options and hooks behave."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ferviz.errors import OptionError, UnknownNameError
from ferviz.explain import Request, capture_output, run_explainer
from ferviz.plugins.filter_ascent import FilterAscent, parse_filters
from tests.conftest import make_loaded

pytestmark = pytest.mark.numerics  # float results: CI runs them again on another ISA and thread count

NAME = "filter-ascent"


@pytest.fixture(scope="module")
def vgg():
    return make_loaded()


def noise_spread(model, layer: str, count: int) -> np.ndarray:
    """Std over 32 fresh noise starts of each filter's mean activation: what chance alone moves."""
    noise = torch.rand((32, 1, 48, 48), generator=torch.Generator().manual_seed(99)) * 20 + 128
    with capture_output(model.layer(layer)) as store, torch.no_grad():
        model(noise)
    return store["output"][:, :count].mean(dim=(2, 3)).std(dim=0).numpy()


@pytest.mark.parametrize("layer, at_least", [("features.conv2", 8), ("features.relu2", 6)])
def test_ascent_raises_each_filter_far_above_its_start(vgg, layer, at_least):
    exp = run_explainer(NAME, vgg, options={"layer": layer, "filters": "8", "steps": "5"})
    start, end = exp.arrays["activation_start"], exp.arrays["activation_end"]
    margin = 10 * noise_spread(vgg, layer, 8)
    assert (end > start + margin).sum() >= at_least, (start, end, margin)
    assert exp.summary["raised"] >= at_least and exp.summary["layer"] == layer


def test_default_layer_and_outputs(vgg):
    exp = run_explainer(NAME, vgg, options={"filters": "3", "steps": "2"})
    assert exp.summary["layer"] == "features.conv2"
    images = exp.arrays["images"]
    assert images.shape == (3, 48, 48) and images.dtype == np.float32
    assert images.min() >= 0 and images.max() <= 255
    np.testing.assert_array_equal(exp.arrays["filters"], [0, 1, 2])
    titles = [ax.get_title() for ax in exp.figures["filters"].axes if ax.get_title()]
    assert titles[0].startswith("0: ") and len(titles) == 3


def test_noise_start_is_seeded(vgg):
    first = run_explainer(NAME, vgg, options={"filters": "2", "steps": "2"}, seed=3)
    again = run_explainer(NAME, vgg, options={"filters": "2", "steps": "2"}, seed=3)
    other = run_explainer(NAME, vgg, options={"filters": "2", "steps": "2"}, seed=4)
    np.testing.assert_array_equal(first.arrays["images"], again.arrays["images"])
    assert not np.array_equal(first.arrays["images"], other.arrays["images"])


def test_start_from_an_image(vgg, random_faces):
    face = random_faces.images[:1]
    unchanged = run_explainer(NAME, vgg, images=face,
                              options={"start": "image", "filters": "2", "steps": "1", "lr": "0"})
    np.testing.assert_array_equal(unchanged.arrays["images"], np.repeat(face.astype(np.float32), 2, axis=0))
    with pytest.raises(OptionError, match="start=image needs an image"):
        run_explainer(NAME, vgg, options={"start": "image", "filters": "1", "steps": "1"})


def test_regularisers_run_and_still_raise_activations(vgg):
    exp = run_explainer(NAME, vgg, options={"filters": "4", "steps": "8", "jitter": "2", "blur": "0.5",
                                            "blur_every": "4", "tv": "0.01"})
    assert (exp.arrays["activation_end"] > exp.arrays["activation_start"]).all()


def test_hooks_are_removed_even_when_the_run_fails(vgg, monkeypatch):
    layer = vgg.layer("features.conv2")
    explainer = FilterAscent(vgg, filters="2", steps="3")

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(torch.autograd, "grad", broken)
    with pytest.raises(RuntimeError, match="boom"):
        explainer.run(Request())
    assert not layer._forward_hooks
    assert all(p.requires_grad for p in vgg.parameters())


def test_other_architectures_use_their_second_convolution():
    resnet = make_loaded("tiny-resnet", width=8)
    exp = run_explainer(NAME, resnet, options={"filters": "2", "steps": "2"})
    assert exp.summary["layer"] == "features.block1.depthwise"


@pytest.mark.parametrize("spec, expected", [("3", [0, 1, 2]), ("0-2,7", [0, 1, 2, 7]), ("5", [0, 1, 2, 3]),
                                            ("2,2,1", [2, 1])])
def test_parse_filters(spec, expected):
    assert parse_filters(spec, available=4 if spec == "5" else 64) == expected


@pytest.mark.parametrize("spec, message", [("64", None), ("60-70", "filters 0-63"), ("a-b", "a count"),
                                           ("0", "at least one")])
def test_bad_filters(vgg, spec, message):
    if message is None:  # a count larger than the layer: all of them
        assert FilterAscent(vgg, filters=spec).filters == list(range(64))
        return
    with pytest.raises(OptionError, match=message):
        FilterAscent(vgg, filters=spec)


def test_bad_layers_are_refused_before_any_work(vgg):
    with pytest.raises(UnknownNameError, match="features.conv2"):
        FilterAscent(vgg, layer="features.nope")
    with pytest.raises(OptionError, match=r"not \(N, C, H, W\)"):
        FilterAscent(vgg, layer="classifier.fc1")


def test_bf16_steps_reach_the_activations_of_fp32_steps():
    """bf16 is a speed option, checked not assumed: on the shipped FER2013 model (real weights),
    bf16 steps raise every filter and reach the fp32 ascent's activations, measured in fp32.
    Bound: the mean within 5 % and each filter within 25 % (bf16 moves a step's direction a little,
    and ascent is chaotic over many steps; measured: the means agree to 1 %)."""
    from ferviz.model.checkpoint import load_checkpoint

    model = load_checkpoint("fer2013-seed-vgg")
    options = {"layer": "features.conv2", "filters": "8", "steps": "20"}
    fp32 = run_explainer("filter-ascent", model, options={**options, "precision": "fp32"})
    bf16 = run_explainer("filter-ascent", model, options={**options, "precision": "bf16"})
    assert bf16.summary["precision"] == "bf16" and fp32.summary["precision"] == "fp32"
    a, b = fp32.arrays["activation_end"], bf16.arrays["activation_end"]
    assert (b > bf16.arrays["activation_start"]).all()
    assert abs(b.mean() - a.mean()) <= 0.05 * abs(a.mean())
    assert np.all(np.abs(b - a) <= 0.25 * np.abs(a) + 0.05)


@pytest.mark.parametrize("layer, start", [("features.conv2", "noise"), ("features.relu2", "image")])
def test_forty_adam_steps_reach_what_a_hundred_normalised_steps_reach(layer, start, random_faces):
    """The default (Adam, 40 steps) against the original report's recipe (normalised, 100 steps), on
    the shipped FER2013 model: a mean activation at least as high, and no filter short of its
    recipe's by more than 5% of the largest (measured on 32 filters: higher means in all four of
    the report's runs, the worst filter 0.14 short of its recipe's, against activations of about 4)."""
    from ferviz.model.checkpoint import load_checkpoint

    model = load_checkpoint("fer2013-seed-vgg")
    options = {"layer": layer, "filters": "16", "start": start}
    adam = run_explainer(NAME, model, images=random_faces.images[:1], options=options)
    keras = run_explainer(NAME, model, images=random_faces.images[:1],
                          options={**options, "optimizer": "normalised", "steps": "100"})
    assert adam.summary["optimizer"] == "adam" and adam.summary["steps"] == 40
    a, k = adam.arrays["activation_end"], keras.arrays["activation_end"]
    assert a.mean() >= k.mean(), (a.mean(), k.mean())
    assert np.all(a >= k - 0.05 * np.abs(k).max()), (a, k)
