"""The assessment runner: maps computed once, metrics chosen and skipped, plugins, results."""

from __future__ import annotations

import numpy as np
import pytest

from ferviz import registry
from ferviz.assess import (RANDOM_ROW, Metric, assess, attribution_map, explainer_fn, fit_masks, resolve_methods,
                           resolve_metrics)
from ferviz.errors import DataError, OptionError
from ferviz.explain import Explanation, Option, run_explainer
from ferviz.registry import hookimpl
from tests.assess.helpers import ConstantMap, EdgeMap

pytestmark = pytest.mark.numerics  # float results: CI runs them again on another ISA and thread count

NEW_EXPLAINERS = {"grad-cam", "guided-grad-cam", "smoothgrad", "occlusion", "guided-backprop"}


class CountingEdgeMap(EdgeMap):
    """EdgeMap counting how often its maps are made."""

    name = "counting-edge-map"
    calls = 0

    def attribute(self, request):
        type(self).calls += 1
        return super().attribute(request)


class Recorder(Metric):
    """Keeps the maps it is handed; scores each image by its map's mean."""

    name = "recorder"
    summary = "records its inputs"
    headline = "mean"
    options = (Option("scale", float, 1.0, "multiplier"),)

    def __init__(self, **options):
        super().__init__(**options)
        self.seen = []

    def score(self, model, images, targets, maps, masks, *, explain_fn):
        self.seen.append(maps)
        return {"mean": maps.reshape(len(maps), -1).mean(axis=1) * self.opts.scale, "total": 7.0,
                "curve": np.ones((len(maps), 3)), "layers": ["a", "b"]}


@pytest.fixture
def faces(bars):
    return bars[1].subset(np.arange(14))


def test_maps_are_computed_once_and_shared_by_every_metric(bars_model, faces):
    CountingEdgeMap.calls = 0
    first, second = Recorder(), Recorder()
    result = assess(bars_model, faces.images, faces.labels, methods=[CountingEdgeMap],
                    metrics=[first, second, "deletion"])
    assert CountingEdgeMap.calls == 1
    assert first.seen[0] is second.seen[0] is result.maps["counting-edge-map"]
    assert result.rows == ["counting-edge-map", RANDOM_ROW]
    assert first.seen[1] is result.maps[RANDOM_ROW]


def test_results_means_per_class_curves_and_extras(bars_model, faces):
    result = assess(bars_model, faces.images, faces.labels, methods=[ConstantMap], metrics=[Recorder(scale=2.0)],
                    baseline=False)
    assert result.value("constant-map", "recorder") == pytest.approx(2.0)
    assert result.value("constant-map", "recorder", "total") == 7.0
    per_class = result.per_class("constant-map", "recorder")
    present = set(faces.class_names[c] for c in faces.labels)
    assert {c for c, v in per_class.items() if v is not None} == present
    assert result.curves("constant-map", "recorder")["curve"].tolist() == [1.0, 1.0, 1.0]
    assert result.sem("constant-map", "recorder") == 0.0
    assert not result.flagged("constant-map", "recorder")


def test_masks_are_needed_by_localisation_metrics(bars_model, faces):
    with pytest.raises(DataError, match="pointing-game cannot run here: it needs ground-truth cue masks"):
        assess(bars_model, faces.images, faces.labels, methods=["saliency"], metrics=["pointing-game"])


def test_all_skips_what_cannot_run_but_a_named_metric_fails():
    chosen, skipped = resolve_metrics("all", has_masks=False)
    assert [m.name for m in chosen] == ["model-randomisation", "deletion", "insertion"]
    assert set(skipped) == {"pointing-game", "relevance-mass", "label-randomisation"}
    chosen, skipped = resolve_metrics("all", has_masks=True,
                                      options={"label-randomisation": {"checkpoint": "x.pt"}})
    assert [m.name for m in chosen][:4] == ["pointing-game", "relevance-mass", "model-randomisation",
                                            "label-randomisation"] and not skipped
    with pytest.raises(DataError, match="label-randomisation cannot run here"):
        resolve_metrics("deletion,label-randomisation", has_masks=True)
    with pytest.raises(OptionError, match="deletion has no option 'stpes'"):
        resolve_metrics("deletion", has_masks=False, options={"deletion": {"stpes": "3"}})


def test_methods_all_are_the_per_image_explainers():
    names = resolve_methods("all")
    assert NEW_EXPLAINERS | {"saliency", "integrated-gradients"} <= set(names)
    assert "filter-ascent" not in names and "confusion" not in names
    assert resolve_methods("saliency, grad-cam") == ["saliency", "grad-cam"]
    with pytest.raises(OptionError, match="not a per-image explainer"):
        resolve_methods("confusion")


def test_attribution_map_is_the_declared_array_or_refused():
    maps = np.ones((2, 4, 4), np.float32)
    declared = Explanation(arrays={"saliency": maps, "images": np.zeros((2, 4, 4), np.uint8)},
                           meta={"attribution": {"array": "saliency", "signed": False, "title": "x"}})
    assert attribution_map(declared, "x") is not None and attribution_map(declared, "x").shape == (2, 4, 4)
    with pytest.raises(DataError, match="no per-image map"):  # no guessing from names or shapes
        attribution_map(Explanation(arrays={"saliency": maps, "mask": maps > 0}), "x")


def test_assess_takes_a_map_explainers_maps_and_equals_a_full_run(bars_model, faces):
    from ferviz.explain import get_explainer

    for name in ("saliency", "grad-cam"):
        fast = explainer_fn(get_explainer(name))(bars_model, faces.images[:4], faces.labels[:4])
        full = run_explainer(name, bars_model, images=faces.images[:4], targets=faces.labels[:4])
        np.testing.assert_allclose(fast, attribution_map(full, name), rtol=1e-5, atol=1e-7)


def test_masks_follow_the_model_input_size():
    masks = np.zeros((1, 96, 96), bool)
    masks[0, :48] = True
    fitted = fit_masks(masks, 48)
    assert fitted.shape == (1, 48, 48) and fitted[0, :24].all() and not fitted[0, 24:].any()


class RecorderPlugin:
    @hookimpl
    def register_metrics(self, register):
        register(Recorder)


def test_a_metric_plugin_registers_through_the_hook(bars_model, faces):
    registry.reset()
    try:
        registry.get_plugin_manager().register(RecorderPlugin(), name="recorder-plugin")
        assert registry.metrics()["recorder"] is Recorder
        assert registry.metrics().owner["recorder"] == "recorder-plugin"
        result = assess(bars_model, faces.images, faces.labels, methods=["saliency"], metrics=["recorder"],
                        metric_options={"recorder": {"scale": "0"}}, baseline=False)
        assert result.value("saliency", "recorder") == 0.0
    finally:
        registry.reset()
    assert "recorder" not in registry.metrics()
