"""Vanilla saliency: known answers on a model that only looks at one patch."""

from __future__ import annotations

import numpy as np
import pytest

from ferviz.errors import DataError, OptionError
from ferviz.explain import run_explainer
from tests.explain.helpers import PATCH, STD, patch_linear_model

pytestmark = pytest.mark.numerics  # float results: CI runs them again on another ISA and thread count


@pytest.fixture(scope="module")
def linear():
    return patch_linear_model()


def test_saliency_mass_lies_in_the_patch_the_model_sees(linear, random_faces):
    exp = run_explainer("saliency", linear, images=random_faces.images[:5])
    saliency = exp.arrays["saliency"]
    assert saliency.shape == (5, 48, 48) and saliency.dtype == np.float32
    outside = saliency.copy()
    outside[:, :PATCH, :PATCH] = 0
    assert np.all(saliency[:, :PATCH, :PATCH].sum(axis=(1, 2)) > 0)
    assert not outside.any(), "saliency outside the patch the model looks at"  # exact: weights 0 there


def test_saliency_equals_the_absolute_weight_of_the_target(linear, random_faces):
    targets = np.array([0, 3, 6])
    exp = run_explainer("saliency", linear, images=random_faces.images[:3], targets=targets)
    weight = linear.net[1].weight.detach().numpy().reshape(7, 48, 48)
    np.testing.assert_allclose(exp.arrays["saliency"], np.abs(weight[targets]) / STD, rtol=1e-5, atol=1e-8)
    np.testing.assert_array_equal(exp.arrays["targets"], targets)


def test_mask_max_rule_keeps_pixels_above_threshold_times_max(linear, random_faces):
    """The report's own rule, with -p mask=max -p smooth=0."""
    exp = run_explainer("saliency", linear, images=random_faces.images[:2],
                        options={"threshold": "0.5", "mask": "max", "smooth": "0"})
    sal, mask = exp.arrays["saliency"], exp.arrays["mask"]
    np.testing.assert_array_equal(mask, sal >= 0.5 * sal.max(axis=(1, 2), keepdims=True))
    assert not mask[:, PATCH:, :].any() and not mask[:, :, PATCH:].any()
    top = run_explainer("saliency", linear, images=random_faces.images[:2],
                        options={"threshold": "1", "mask": "max", "smooth": "0"})
    assert top.arrays["mask"].sum(axis=(1, 2)).tolist() == [1, 1]


def test_default_mask_is_two_standard_deviations_of_the_blurred_map(linear, random_faces):
    """Default: blur (sigma 2), standardise, keep 0.5 + 0.1 z >= 0.7, i.e. z >= 2."""
    import torch

    from ferviz.explain import gaussian_blur

    exp = run_explainer("saliency", linear, images=random_faces.images[:2], options={"style": "panels"})
    sal, mask = exp.arrays["saliency"], exp.arrays["mask"]
    blurred = gaussian_blur(torch.from_numpy(sal).unsqueeze(1), 2.0)[:, 0].numpy()
    z = (blurred - blurred.mean(axis=(1, 2), keepdims=True)) / blurred.std(axis=(1, 2), keepdims=True)
    np.testing.assert_array_equal(mask, z >= 2.0 - 1e-5)
    assert mask.any(axis=(1, 2)).all()
    ys, xs = np.nonzero(mask[0])  # a region around the patch the model looks at, not scattered pixels
    assert ys.max() < PATCH + 6 and xs.max() < PATCH + 6
    page = next(iter(exp.figures.values()))
    assert "0.5+0.1z" in page.axes[2].get_title() and "σ2" in page.axes[2].get_title()


def test_greyed_out_keeps_the_face_inside_the_mask_only():
    from ferviz.explain import greyed_out

    faces = np.array([[[0, 255], [100, 200]]], np.uint8)
    mask = np.array([[[True, False], [False, True]]])
    np.testing.assert_array_equal(greyed_out(faces, mask), [[[0, 160], [121, 200]]])


def test_batches_do_not_change_the_result(linear, random_faces):
    images = random_faces.images[:5]
    whole = run_explainer("saliency", linear, images=images, options={"batch_size": "64"})
    pieces = run_explainer("saliency", linear, images=images, options={"batch_size": "2"})
    # exact: each gradient is one weight times a one-hot output gradient, a sum with one non-zero term
    np.testing.assert_array_equal(whole.arrays["saliency"], pieces.arrays["saliency"])


def test_long_selections_are_split_into_figure_pages(linear, random_faces):
    exp = run_explainer("saliency", linear, images=random_faces.images[:10], options={"style": "panels"})
    assert sorted(exp.figures) == ["saliency-p1", "saliency-p2"]
    assert len(exp.figures["saliency-p1"].axes) == 8 * 3 + 8  # three panels + a colour bar per image
    assert [r["id"] for r in exp.summary["images"]][:2] == ["#0", "#1"]


def test_targets_default_to_the_predicted_class(linear, random_faces):
    images = random_faces.images[:4]
    exp = run_explainer("saliency", linear, images=images)
    predicted = linear.predict_proba(images).argmax(dim=1).numpy()
    np.testing.assert_array_equal(exp.arrays["targets"], predicted)
    assert all(r["target"] == r["predicted"] for r in exp.summary["images"])


@pytest.mark.parametrize("value", ["1.5", "-0.1", "abc", "nan"])
def test_bad_threshold_is_refused_before_any_work(linear, value):
    with pytest.raises(OptionError, match=r"threshold=.*expected float in \[0, 1\]"):
        run_explainer("saliency", linear, images=np.zeros((1, 48, 48), np.uint8), options={"threshold": value})


def test_saliency_needs_images(linear):
    with pytest.raises(DataError, match="explains images"):
        run_explainer("saliency", linear)


def test_positive_region_of_a_signed_map_is_judged_after_smoothing():
    """A signed map that alternates sign pixel by pixel over a positive blob keeps the blob whole."""
    from ferviz.explain import region_mask

    yy, xx = np.mgrid[:48, :48]
    blob = np.exp(-((yy - 30) ** 2 + (xx - 20) ** 2) / 30.0)
    checker = np.where((yy + xx) % 2 == 0, 1.0, -0.6)  # mostly positive on average, signed per pixel
    signed = (blob * checker).astype(np.float32)[None]
    mask = region_mask(signed, 0.7, rule="zscore", smooth=2.0, positive=True)[0]
    assert mask[30, 20] and mask[30, 21] and mask[29, 20]  # both signs inside the blob are kept
    assert not mask[5, 40]
    raw = region_mask(signed, 0.7, rule="zscore", smooth=0.0, positive=True)[0]
    assert not raw[30, 21]  # without smoothing the negative pixels fall out: a broken region
