"""Overlays: the map blended over the face, the default figure of every attribution explainer."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib import colormaps

from ferviz.errors import OptionError
from ferviz.explain import get_explainer, run_explainer
from ferviz.explain.figures import overlay_image

from tests.conftest import make_loaded

ATTRIBUTION_EXPLAINERS = ("saliency", "integrated-gradients", "smoothgrad", "grad-cam", "guided-grad-cam",
                          "guided-backprop", "occlusion")
FACE = np.array([[0, 64], [128, 255]], np.uint8)


def test_an_unsigned_map_is_blended_at_the_opacity_along_a_sequential_map():
    m = np.array([[0.0, 1.0], [2.0, 4.0]])
    gray = np.repeat(FACE[..., None] / 255.0, 3, axis=2)
    np.testing.assert_allclose(overlay_image(FACE, m, signed=False, opacity=0.0), gray)
    colours = colormaps["inferno"](m / 4.0)[..., :3]
    np.testing.assert_allclose(overlay_image(FACE, m, signed=False, opacity=1.0), colours)
    np.testing.assert_allclose(overlay_image(FACE, m, signed=False, opacity=0.25), 0.75 * gray + 0.25 * colours)
    np.testing.assert_allclose(overlay_image(FACE, m, signed=False, cmap="jet", opacity=1.0),
                               colormaps["jet"](m / 4.0)[..., :3])


def test_a_signed_map_diverges_around_zero_and_leaves_zero_evidence_uncoloured():
    m = np.array([[0.0, 2.0], [-1.0, -2.0]])
    out = overlay_image(FACE, m, signed=True, opacity=1.0)
    np.testing.assert_allclose(out[0, 0], [0.0, 0.0, 0.0])  # zero: the face as it is (black here)
    np.testing.assert_allclose(out[0, 1], colormaps["RdBu_r"](1.0)[:3])  # the largest evidence for: red end
    np.testing.assert_allclose(out[1, 1], colormaps["RdBu_r"](0.0)[:3])  # as large against: blue end
    half = 0.5 * (128 / 255.0) + 0.5 * np.asarray(colormaps["RdBu_r"](0.25)[:3])
    np.testing.assert_allclose(out[1, 0], half)  # half the magnitude: half the opacity


@pytest.fixture(scope="module")
def model():
    return make_loaded(seed=1)


@pytest.mark.parametrize("name", ATTRIBUTION_EXPLAINERS)
def test_every_attribution_explainer_overlays_by_default_and_keeps_the_panels(model, name):
    cls = get_explainer(name)
    assert {"style", "opacity", "cmap"} <= {o.name for o in cls.options}
    faces = np.random.default_rng(5).integers(0, 256, (2, 48, 48), dtype=np.uint8)
    quick = {**cls.quick_options}
    exp = run_explainer(name, model, images=faces, options={**quick, "opacity": "0.7"})
    (figure,) = exp.figures.values()
    overlays = [ax for ax in figure.axes if ax.get_images() and ax.get_images()[0].get_array().ndim == 3]
    assert len(overlays) == 2 and len(figure.axes) == 2 * 3  # face, overlay, colour bar per face
    maps = next(v for k, v in exp.arrays.items() if k in ("saliency", "attributions"))
    signed = bool((maps < 0).any())
    for i, ax in enumerate(overlays):
        want = overlay_image(exp.arrays["images"][i], maps[i], signed=signed, opacity=0.7)
        np.testing.assert_allclose(np.asarray(ax.get_images()[0].get_array()), want, atol=1e-6)
    panels = run_explainer(name, model, images=faces, options={**quick, "style": "panels"})
    (figure,) = panels.figures.values()
    assert len(figure.axes) == 2 * 4  # face, map, masked face, colour bar per face
    np.testing.assert_array_equal(panels.arrays["mask"], exp.arrays["mask"])  # the mask rule is unchanged


def test_a_bad_style_or_colour_map_lists_the_valid_ones(model):
    with pytest.raises(OptionError, match=r"cmap='rainbow'.*one of auto\|RdBu_r"):
        get_explainer("saliency")(model, cmap="rainbow")
    with pytest.raises(OptionError, match=r"style='boxes'.*overlay\|panels"):
        get_explainer("grad-cam")(model, style="boxes")
