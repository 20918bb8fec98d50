"""Grad-CAM, Guided Grad-CAM, SmoothGrad, occlusion and guided backprop: known answers.

The shared contract (shapes, files, hooks, state) is checked for them by test_contract.py; here
each method meets a model whose right answer is known in closed form.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from ferviz import FER2013_CLASSES
from ferviz.model.loaded import LoadedModel
from ferviz.errors import OptionError, UnknownNameError
from ferviz.explain import run_explainer
from ferviz.model.preprocessing import Preprocessing
from tests.conftest import make_loaded
from tests.explain.helpers import PATCH, STD, float32_sum_error, patch_linear_model, smooth_conv_model

pytestmark = pytest.mark.numerics  # float results: CI runs them again on another ISA and thread count

ROWS, COLS = slice(30, 40), slice(10, 24)  # the only region the region model can see


class RegionNet(nn.Module):
    """x * region -> conv (stride 2, positive weights, no bias) -> ReLU -> mean -> positive linear head."""

    def __init__(self):
        super().__init__()
        region = torch.zeros(1, 1, 48, 48)
        region[..., ROWS, COLS] = 1
        self.register_buffer("region", region)
        self.conv = nn.Conv2d(1, 4, 3, stride=2, padding=1, bias=False)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(4, len(FER2013_CLASSES))
        with torch.no_grad():
            self.conv.weight.abs_()
            self.fc.weight.abs_()

    def forward(self, x):
        return self.fc(self.flatten(self.pool(self.relu(self.conv(x * self.region)))))


@pytest.fixture(scope="module")
def region_model():
    torch.manual_seed(0)
    return LoadedModel(RegionNet(), FER2013_CLASSES, Preprocessing("unit"), arch="region").eval()


@pytest.fixture(scope="module")
def faces():
    return np.random.default_rng(3).integers(1, 256, size=(5, 48, 48), dtype=np.uint8)


def inside(maps: np.ndarray, grow: int) -> np.ndarray:
    """Share of each map's absolute mass inside the region grown by `grow` pixels."""
    region = np.zeros(maps.shape[1:], bool)
    region[ROWS.start - grow:ROWS.stop + grow, COLS.start - grow:COLS.stop + grow] = True
    total = np.abs(maps).sum(axis=(1, 2))
    return np.abs(maps * region).sum(axis=(1, 2)) / total


# ----------------------------------------------------------------------------- Grad-CAM
def test_grad_cam_lights_up_the_only_region_the_model_sees(region_model, faces):
    exp = run_explainer("grad-cam", region_model, images=faces)
    maps, cam = exp.arrays["attributions"], exp.arrays["cam"]
    assert maps.shape == (5, 48, 48) and cam.shape == (5, 24, 24)  # the conv's stride-2 grid
    assert exp.summary["layer"] == "conv"  # auto: the last (only) Conv2d
    assert (maps >= 0).all() and (maps.max(axis=(1, 2)) > 0).all()
    assert (inside(maps, grow=3) > 0.99).all()
    assert (inside(maps, grow=0) > 0.8).all()
    peaks = maps.reshape(5, -1).argmax(axis=1)
    rows, cols = np.unravel_index(peaks, (48, 48))
    assert ((rows >= ROWS.start - 1) & (rows < ROWS.stop + 1) & (cols >= COLS.start - 1) & (cols < COLS.stop + 1)).all()


def test_guided_grad_cam_is_zero_outside_the_region(region_model, faces):
    maps = run_explainer("guided-grad-cam", region_model, images=faces).arrays["attributions"]
    assert (inside(maps, grow=0) == 1.0).all()
    assert (maps.max(axis=(1, 2)) > 0).all()


def test_grad_cam_layer_auto_named_and_refused():
    vgg = make_loaded()
    exp = run_explainer("grad-cam", vgg, images=np.full((2, 48, 48), 128, np.uint8))
    assert exp.summary["layer"] == "features.conv6" and exp.arrays["cam"].shape == (2, 8, 8)
    named = run_explainer("grad-cam", vgg, images=np.full((1, 48, 48), 128, np.uint8),
                          options={"layer": "features.relu4"})
    assert named.arrays["cam"].shape == (1, 21, 21)
    with pytest.raises(UnknownNameError, match="features.conv6"):
        run_explainer("grad-cam", vgg, images=np.zeros((1, 48, 48), np.uint8), options={"layer": "features.conv9"})
    with pytest.raises(OptionError, match="not \\(N, K, h, w\\) maps"):
        run_explainer("grad-cam", vgg, images=np.zeros((1, 48, 48), np.uint8), options={"layer": "classifier.fc1"})


# ----------------------------------------------------------------------------- occlusion
@pytest.fixture(scope="module")
def linear():
    return patch_linear_model()


def test_occlusion_of_single_pixels_is_each_pixels_linear_contribution(linear, faces):
    targets = np.array([0, 2, 4, 6, 1])
    exp = run_explainer("occlusion", linear, images=faces, targets=targets, options={"patch": "1", "stride": "1"})
    weight = linear.net[1].weight.detach().numpy().reshape(7, 48, 48)
    mean = faces.reshape(5, -1).mean(axis=1).reshape(-1, 1, 1)
    expected = weight[targets] * (faces - mean) / STD
    np.testing.assert_allclose(exp.arrays["attributions"], expected, rtol=1e-4, atol=1e-4)


def test_occlusion_patches_share_their_drop_and_see_only_the_patch(linear, faces):
    targets = np.zeros(5, np.int64)
    exp = run_explainer("occlusion", linear, images=faces, targets=targets, options={"patch": "4", "stride": "4"})
    weight = linear.net[1].weight.detach().numpy().reshape(7, 48, 48)[0]
    bias = float(linear.net[1].bias.detach()[0])
    mean = faces.reshape(5, -1).mean(axis=1).reshape(-1, 1, 1)
    per_pixel = weight * (faces - mean) / STD  # (5, 48, 48)
    per_patch = per_pixel.reshape(5, 12, 4, 12, 4).sum(axis=(2, 4))
    expected = np.repeat(np.repeat(per_patch, 4, axis=1), 4, axis=2)
    # Each drop is logit(face) - logit(face with one patch at its mean), two float32 sums of up to
    # 101 terms (the 100 weights the model sees and the bias). Their rounding, which depends on the
    # CPU's instruction set and thread count (an AMX CPU gave -1.4e-06 where the drop is exactly 0),
    # is bounded by float32_sum_error of the terms of either logit; the occluded logit's terms are at
    # most the face's own plus the mean's.
    face_terms = np.concatenate([(weight * (faces - 128.0) / STD).reshape(5, -1), np.full((5, 1), bias)], axis=1)
    mean_terms = (np.abs(weight) * np.abs(mean - 128.0) / STD).reshape(5, -1)
    tolerance = 2 * float32_sum_error(np.concatenate([face_terms, mean_terms], axis=1), axis=1)  # (5,)
    error = np.abs(exp.arrays["attributions"] - expected).reshape(5, -1).max(axis=1)
    assert (error <= tolerance).all(), (error, tolerance)
    outside = np.concatenate([exp.arrays["attributions"][:, 12:, :].reshape(5, -1),
                              exp.arrays["attributions"][:, :12, 12:].reshape(5, -1)], axis=1)
    assert (np.abs(outside).max(axis=1) <= tolerance).all()  # zero, up to rounding: the model sees none of it
    assert (np.abs(per_patch[:, :2, :2]).max(axis=(1, 2)) > 100 * tolerance).all()  # what is seen is far above it


def test_occlusion_refuses_a_stride_that_leaves_a_border(linear):
    with pytest.raises(OptionError, match=r"stride=4 does not tile .* strides that fit: 1, 2, 3, 6, 7, 14, 21, 42"):
        run_explainer("occlusion", linear, images=np.zeros((1, 48, 48), np.uint8), options={"patch": "6",
                                                                                            "stride": "4"})


# ----------------------------------------------------------------------------- guided backprop
def test_guided_backprop_on_a_linear_model_is_the_signed_weight(linear, faces):
    targets = np.array([1, 3, 5, 0, 6])
    exp = run_explainer("guided-backprop", linear, images=faces, targets=targets)
    weight = linear.net[1].weight.detach().numpy().reshape(7, 48, 48)
    np.testing.assert_allclose(exp.arrays["attributions"], weight[targets] / STD, rtol=1e-5, atol=1e-8)
    assert not exp.arrays["attributions"][:, PATCH:, :].any()  # exact: those weights are 0, no sum is rounded


def test_guided_backprop_passes_only_positive_signals_through_relu(faces):
    torch.manual_seed(1)
    net = nn.Sequential(nn.Flatten(), nn.Linear(48 * 48, 16), nn.ReLU(), nn.Linear(16, 7))
    model = LoadedModel(net, FER2013_CLASSES, Preprocessing("standard", 128.0, STD), arch="mlp").eval()
    targets = np.arange(5) % 7
    exp = run_explainer("guided-backprop", model, images=faces, targets=targets)
    w1, w2 = net[1].weight.detach(), net[3].weight.detach()
    with torch.no_grad():
        hidden = net[1]((torch.as_tensor(faces, dtype=torch.float32).view(5, -1) - 128.0) / STD)
    signal = w2[torch.as_tensor(targets)]  # (5, 16): d logit / d relu output
    guided = signal.clamp(min=0) * (hidden > 0)  # positive signals, where the ReLU was open
    expected = (guided @ w1 / STD).view(5, 48, 48).numpy()
    np.testing.assert_allclose(exp.arrays["attributions"], expected, rtol=1e-4, atol=1e-7)


# ----------------------------------------------------------------------------- SmoothGrad
def test_smoothgrad_over_saliency_of_a_linear_model_is_its_weight_whatever_the_noise(linear, faces):
    targets = np.array([0, 1, 2, 3, 4])
    exp = run_explainer("smoothgrad", linear, images=faces, targets=targets, options={"samples": "4", "stdev": "50"})
    weight = linear.net[1].weight.detach().numpy().reshape(7, 48, 48)
    np.testing.assert_allclose(exp.arrays["attributions"], np.abs(weight[targets]) / STD, rtol=1e-5, atol=1e-8)


def test_smoothgrad_over_integrated_gradients_without_noise_is_integrated_gradients(linear, faces):
    targets = np.array([6, 5, 4, 3, 2])
    exp = run_explainer("smoothgrad", linear, images=faces, targets=targets,
                        options={"base": "integrated-gradients", "stdev": "0", "samples": "2", "steps": "4"})
    weight = linear.net[1].weight.detach().numpy().reshape(7, 48, 48)
    np.testing.assert_allclose(exp.arrays["attributions"], faces * weight[targets] / STD, rtol=1e-4, atol=1e-5)


def test_smoothgrad_noise_follows_the_seed():
    model = smooth_conv_model()
    images = np.random.default_rng(0).integers(0, 256, size=(3, 48, 48), dtype=np.uint8)
    options = {"samples": "3"}

    def maps(seed):
        return run_explainer("smoothgrad", model, images=images, options=options, seed=seed).arrays["attributions"]

    np.testing.assert_array_equal(maps(1), maps(1))
    assert not np.allclose(maps(1), maps(2))
    torch.manual_seed(5)
    before = torch.rand(1)
    torch.manual_seed(5)
    maps(3)
    assert torch.rand(1) == before, "the global torch generator was disturbed"
