"""Integrated gradients: completeness, baselines, and agreement with a direct Captum call."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import IntegratedGradients

from ferviz.errors import OptionError
from ferviz.explain import gaussian_blur, run_explainer
from tests.conftest import make_loaded
from tests.explain.helpers import STD, patch_linear_model, smooth_conv_model

pytestmark = pytest.mark.numerics  # float results: CI runs them again on another ISA and thread count

NAME = "integrated-gradients"


@pytest.fixture(scope="module")
def faces(random_faces):
    return random_faces.images[:3]


@pytest.mark.parametrize("baseline", ["black", "mean", "blurred"])
def test_completeness_sum_equals_score_difference(faces, baseline):
    model = smooth_conv_model()
    exp = run_explainer(NAME, model, images=faces, options={"steps": "24", "baseline": baseline})
    total = exp.arrays["attributions"].sum(axis=(1, 2))
    gap = exp.arrays["score_minus_baseline"]
    assert np.all(np.abs(gap) > 1e-3), "degenerate test: the baseline scores like the input"
    np.testing.assert_allclose(total, gap, rtol=1e-3, atol=1e-6)
    assert np.all(np.abs(exp.arrays["delta"]) <= 1e-3 * np.abs(gap) + 1e-6)
    assert exp.summary["max_abs_delta"] == pytest.approx(float(np.abs(exp.arrays["delta"]).max()))


@pytest.mark.parametrize("baseline", ["black", "mean", "blurred"])
def test_linear_model_attributions_are_weight_times_distance_to_baseline(faces, baseline):
    model = patch_linear_model()
    targets = np.array([1, 4, 5])
    exp = run_explainer(NAME, model, images=faces, targets=targets, options={"steps": "4", "baseline": baseline})
    x = torch.as_tensor(faces, dtype=torch.float32).unsqueeze(1)
    reference = {"black": torch.zeros_like(x), "mean": torch.full_like(x, 128.0),
                 "blurred": gaussian_blur(x, 5.0)}[baseline]
    weight = model.net[1].weight.detach().view(7, 48, 48)[targets]
    expected = ((x - reference)[:, 0] * weight / STD).numpy()
    np.testing.assert_allclose(exp.arrays["attributions"], expected, rtol=1e-4, atol=1e-5)


def test_agrees_with_a_direct_captum_call_on_a_relu_network(faces):
    model = make_loaded("tiny-resnet", width=8)
    targets = np.array([0, 3, 6])
    exp = run_explainer(NAME, model, images=faces, targets=targets,
                        options={"steps": "8", "baseline": "black", "batch_size": "2"})
    x = model.pixels(faces)
    for p in model.parameters():
        p.requires_grad_(False)
    attr, delta = IntegratedGradients(model).attribute(x, baselines=torch.zeros_like(x), target=torch.tensor(targets),
                                                       n_steps=8, return_convergence_delta=True)
    ours, theirs = exp.arrays["attributions"], attr.sum(dim=1).numpy()
    # ferviz folds BatchNorm into the convolutions and batches the steps its own way: the same sums
    # in another order, which agree to float32 rounding (rtol 1e-4, about 800 eps; atol 1e-6 for
    # values near 0, on maps whose largest values are about 1e-3)...
    close = np.isclose(ours, theirs, rtol=1e-4, atol=1e-6)
    # ...except where a ReLU's input lies within that rounding of 0 at one of the 8 steps: it opens in
    # one computation and not in the other, and a few pixels' gradients change by a finite amount.
    # Which pixels, if any, depends on the CPU's kernels (AVX2 with one thread: 1 pixel of 6,912).
    assert close.mean() > 0.999, f"{(~close).sum()} of {close.size} values differ"
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=0.01 * np.abs(theirs).max())
    # the completeness gaps differ by exactly what the maps' sums differ by, plus rounding
    gap = np.abs((ours - theirs).reshape(len(targets), -1).sum(axis=1))
    np.testing.assert_array_less(np.abs(exp.arrays["delta"] - delta.numpy()), gap + 1e-6)


def test_blurred_baseline_keeps_the_mean_and_loses_detail(faces):
    x = torch.as_tensor(faces, dtype=torch.float32).unsqueeze(1)
    blurred = gaussian_blur(x, 3.0)
    assert blurred.shape == x.shape
    np.testing.assert_allclose(blurred.mean(dim=(1, 2, 3)), x.mean(dim=(1, 2, 3)), rtol=0.02)
    assert torch.all(blurred.std(dim=(1, 2, 3)) < 0.5 * x.std(dim=(1, 2, 3)))


def test_mask_and_signed_map(faces):
    exp = run_explainer(NAME, patch_linear_model(), images=faces, options={"steps": "4"})
    attributions, mask = exp.arrays["attributions"], exp.arrays["mask"]
    assert (attributions < 0).any() and (attributions > 0).any(), "a signed map has both signs"
    assert sorted(exp.figures) == ["integrated-gradients"]
    # default rule: the region where the blurred map is high and positive
    import torch

    from ferviz.explain import gaussian_blur

    blurred = gaussian_blur(torch.from_numpy(attributions).unsqueeze(1), 2.0)[:, 0].numpy()
    assert mask.any() and np.all(blurred[mask] > 0)
    # the report's own rule: only pixels whose raw attribution is positive
    raw = run_explainer(NAME, patch_linear_model(), images=faces,
                        options={"steps": "4", "mask": "max", "smooth": "0"}).arrays
    assert raw["mask"].any() and np.all(raw["attributions"][raw["mask"]] > 0)


def test_unknown_baseline_lists_the_valid_ones():
    with pytest.raises(OptionError, match=r"baseline='white'.*black\|mean\|blurred"):
        run_explainer(NAME, patch_linear_model(), images=np.zeros((1, 48, 48), np.uint8),
                      options={"baseline": "white"})
