"""The metrics separate good maps from bad ones: known answers for every built-in metric."""

from __future__ import annotations

import numpy as np
import pytest

from ferviz import registry
from ferviz.assess import assess, get_metric
from ferviz.errors import CheckpointError
from ferviz.assess.tools import mask_share
from tests.assess.helpers import ConstantMap, EdgeMap
from tests.explain.helpers import STD, patch_linear_model

pytestmark = pytest.mark.numerics  # float results: CI runs them again on another ISA and thread count


def score(name: str, maps, masks=None, *, model=None, images=None, targets=None, explain_fn=None, **options):
    n = len(maps)
    metric = get_metric(name)(**options)
    return metric.score(model, images if images is not None else np.zeros((n, 48, 48), np.uint8),
                        targets if targets is not None else np.zeros(n, np.int64), maps, masks,
                        explain_fn=explain_fn)


def test_every_builtin_metric_is_registered_and_declared():
    assert {"pointing-game", "relevance-mass", "model-randomisation", "label-randomisation", "deletion",
            "insertion"} <= set(registry.metrics())
    for name, cls in registry.metrics().items():
        assert cls.name == name and cls.summary and cls.__doc__ and cls.headline
        assert isinstance(cls.needs_masks, bool)


# ----------------------------------------------------------------------------- localisation
@pytest.mark.parametrize("name,key", [("pointing-game", "hit"), ("relevance-mass", "mass")])
def test_a_map_equal_to_the_cue_mask_scores_one(name, key, synthetic_masks):
    result = score(name, synthetic_masks.astype(np.float32), synthetic_masks)
    np.testing.assert_allclose(result[key], 1.0)


@pytest.mark.parametrize("name,key", [("pointing-game", "hit"), ("relevance-mass", "mass")])
def test_a_random_map_scores_the_mask_area_share(name, key, synthetic_masks):
    maps = np.random.default_rng(0).random(synthetic_masks.shape, dtype=np.float32)
    result = score(name, maps, synthetic_masks)
    chance = mask_share(synthetic_masks).mean()
    np.testing.assert_allclose(result["chance"], mask_share(synthetic_masks))
    assert 0.03 < chance < 0.2
    assert abs(result[key].mean() - chance) < (0.035 if name == "pointing-game" else 0.01)


def test_a_constant_map_points_at_chance_not_at_the_first_pixel(synthetic_masks):
    result = score("pointing-game", np.ones(synthetic_masks.shape, np.float32), synthetic_masks)
    np.testing.assert_allclose(result["hit"], mask_share(synthetic_masks))


def test_pointing_tolerance_grows_the_mask():
    masks = np.zeros((1, 48, 48), bool)
    masks[0, 20:24, 20:24] = True
    maps = np.zeros((1, 48, 48), np.float32)
    maps[0, 25, 22] = 1.0  # two pixels below the mask (rows 20-23)
    assert score("pointing-game", maps, masks)["hit"][0] == 0
    assert score("pointing-game", maps, masks, tolerance=2)["hit"][0] == 1


def test_relevance_mass_counts_positive_attribution_only():
    masks = np.zeros((2, 48, 48), bool)
    masks[:, :24] = True
    maps = np.zeros((2, 48, 48), np.float32)
    maps[0, :24] = 1.0
    maps[0, 24:] = -5.0  # negative evidence outside does not dilute the mass
    maps[1] = -1.0  # nothing positive at all: undefined
    mass = score("relevance-mass", maps, masks)["mass"]
    assert mass[0] == 1.0 and np.isnan(mass[1])


# ----------------------------------------------------------------------------- sanity checks
@pytest.fixture(scope="module")
def bars_test(bars):
    return bars[1].subset(np.arange(24))


@pytest.mark.parametrize("fake", [ConstantMap, EdgeMap])
def test_maps_independent_of_the_model_are_flagged(fake, bars_model, bars_test):
    result = assess(bars_model, bars_test.images, bars_test.labels, methods=[fake, "saliency"],
                    metrics=["model-randomisation"], baseline=True)
    assert result.value(fake.name, "model-randomisation") > 0.99
    assert result.flagged(fake.name, "model-randomisation")
    assert result.value("saliency", "model-randomisation") < 0.3
    assert not result.flagged("saliency", "model-randomisation")
    assert abs(result.value("random-map", "model-randomisation")) < 0.1


def test_cascade_goes_from_the_logits_to_the_input_and_leaves_the_model_alone(bars_model, bars_test):
    before = {k: v.clone() for k, v in bars_model.state_dict().items()}
    result = assess(bars_model, bars_test.images, bars_test.labels, methods=["saliency"],
                    metrics=["model-randomisation"], baseline=False)
    raw = result.results["saliency"]["model-randomisation"]
    assert raw["layers"] == ["7", "3", "0+1"]  # linear head, second conv, first conv with its BatchNorm
    cascade = result.curves("saliency", "model-randomisation")["cascade"]
    assert cascade.shape == (3,) and cascade[0] > cascade[-1]
    assert np.isfinite(raw["spearman"]).sum() == 8  # the default subset of images
    for key, value in bars_model.state_dict().items():
        assert np.array_equal(value.numpy(), before[key].numpy()), f"{key} changed"


def test_label_randomisation_flags_a_model_independent_map(bars_model, shuffled_bars_model, bars_test, tmp_path,
                                                           toy_architecture):
    from ferviz.model.checkpoint import save_checkpoint

    path = save_checkpoint(tmp_path / "shuffled.pt", shuffled_bars_model)
    options = {"label-randomisation": {"checkpoint": str(path)}}
    result = assess(bars_model, bars_test.images, bars_test.labels, methods=[EdgeMap, "saliency"],
                    metrics=["label-randomisation"], metric_options=options, baseline=False)
    assert result.flagged("edge-map", "label-randomisation")
    assert not result.flagged("saliency", "label-randomisation")


def test_label_randomisation_refuses_a_model_with_other_classes(bars_model, tmp_path, toy_architecture):
    from ferviz.model.checkpoint import save_checkpoint
    from tests.assess.helpers import toy_cnn

    other = toy_cnn()
    other.class_names = tuple(reversed(other.class_names))
    path = save_checkpoint(tmp_path / "other.pt", other)
    with pytest.raises(CheckpointError, match="classes"):
        score("label-randomisation", np.zeros((2, 48, 48), np.float32), model=bars_model,
              images=np.zeros((2, 48, 48), np.uint8), explain_fn=lambda m, i, t: np.zeros((len(i), 48, 48)),
              checkpoint=str(path))


# ----------------------------------------------------------------------------- faithfulness
@pytest.fixture(scope="module")
def linear_case():
    """The patch-linear model, faces, targets, and each pixel's true contribution to the target logit."""
    model = patch_linear_model()
    images = np.random.default_rng(5).integers(0, 256, size=(12, 48, 48), dtype=np.uint8)
    targets = np.arange(12) % 7
    weight = model.net[1].weight.detach().numpy().reshape(7, 48, 48)
    fill = images.reshape(12, -1).mean(axis=1).reshape(-1, 1, 1)
    truth = weight[targets] * (images - fill) / STD  # what removing each pixel (to the mean) costs the logit
    return model, images, targets, truth.astype(np.float32)


@pytest.mark.parametrize("score_kind", ["logit", "probability"])
def test_deletion_of_the_true_importance_beats_random_order(linear_case, score_kind):
    model, images, targets, truth = linear_case
    noise = np.random.default_rng(0).random(truth.shape, dtype=np.float32)
    good = score("deletion", truth, model=model, images=images, targets=targets, score=score_kind)
    bad = score("deletion", noise, model=model, images=images, targets=targets, score=score_kind)
    worst = score("deletion", -truth, model=model, images=images, targets=targets, score=score_kind)
    assert good["curve"].shape == (12, 21)
    assert (good["auc"] < bad["auc"]).all()
    assert good["auc"].mean() < bad["auc"].mean() < worst["auc"].mean()


def test_insertion_of_the_true_importance_beats_random_order(linear_case):
    model, images, targets, truth = linear_case
    noise = np.random.default_rng(0).random(truth.shape, dtype=np.float32)
    good = score("insertion", truth, model=model, images=images, targets=targets, start="mean", score="logit")
    bad = score("insertion", noise, model=model, images=images, targets=targets, start="mean", score="logit")
    assert (good["auc"] > bad["auc"]).all()


def test_deletion_curve_ends_at_the_fill_image_and_is_batch_independent(linear_case):
    import torch

    model, images, targets, truth = linear_case
    whole = score("deletion", truth, model=model, images=images, targets=targets, score="logit", steps=5)
    pieces = score("deletion", truth, model=model, images=images, targets=targets, score="logit", steps=5,
                   batch_size=7)
    np.testing.assert_allclose(whole["curve"], pieces["curve"], rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        x = model.pixels(images)
        logits = model(x).numpy()[np.arange(12), targets]
        flat = model(x.mean(dim=(1, 2, 3), keepdim=True).expand_as(x)).numpy()[np.arange(12), targets]
    np.testing.assert_allclose(whole["curve"][:, 0], logits, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(whole["curve"][:, -1], flat, rtol=1e-4, atol=1e-4)
