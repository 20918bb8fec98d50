"""`ferviz explain -m a,b,c`: methods side by side, one grid, one folder, one manifest."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from ferviz.model.checkpoint import load_checkpoint
from ferviz.cli import main
from ferviz.explain.compare import combine, plan_methods
from ferviz.explain import Request, predicted_classes, run_explainer
from ferviz.inputs.images import read_images

from tests.cli.test_cli_explain import faces  # noqa: F401  (the fixture: two image files)

METHODS = ("saliency", "grad-cam", "integrated-gradients")


def explain(*args):
    return CliRunner().invoke(main, ["explain", *[str(a) for a in args]])


def test_three_methods_give_one_grid_and_each_methods_own_arrays(tiny_checkpoint, faces, tmp_path):  # noqa: F811
    out = tmp_path / "cmp"
    result = explain("-m", ",".join(METHODS), "--checkpoint", tiny_checkpoint, "--image", faces[0], "--image",
                     faces[1], "-p", "integrated-gradients.steps=4", "-p", "threshold=0.4",
                     "-p", "grad-cam.layer=features.conv4", "--out", out)
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == [str(out / f) for f in ("arrays.npz", "compare.png", "summary.json",
                                                            "manifest.json")]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["methods"] == list(METHODS) and manifest["method"] == ",".join(METHODS)
    options = manifest["options"]
    assert options["integrated-gradients"]["steps"] == 4 and options["saliency"]["threshold"] == 0.4
    assert options["grad-cam"]["layer"] == "features.conv4" and options["grad-cam"]["threshold"] == 0.4
    summary = json.loads((out / "summary.json").read_text())
    assert sorted(summary["methods"]) == sorted(METHODS) and len(summary["images"]) == 2
    model = load_checkpoint(tiny_checkpoint)
    images = read_images(faces, model=model).images
    with np.load(out / "arrays.npz") as arrays:
        np.testing.assert_array_equal(arrays["images"], images)
        for method, key in (("saliency", "saliency"), ("grad-cam", "attributions"),
                            ("integrated-gradients", "attributions")):
            alone = run_explainer(method, model, images=images, options=options[method])
            np.testing.assert_allclose(arrays[f"{method}/{key}"], alone.arrays[key], rtol=1e-5, atol=1e-7)
            np.testing.assert_array_equal(arrays[f"{method}/mask"], alone.arrays["mask"])
        assert arrays["grad-cam/cam"].shape == (2, 21, 21)  # conv4 (auto would be conv6, 8x8): the option took


def test_the_grid_has_a_row_per_face_and_a_column_per_method(tiny_checkpoint, faces):  # noqa: F811
    model = load_checkpoint(tiny_checkpoint)
    images = read_images(faces, model=model).images
    plan = plan_methods(["saliency", "grad-cam"], {"opacity": "0.3"})
    explanations = {name: run_explainer(cls, model, images=images, options=opts) for name, (cls, opts) in plan.items()}
    request = Request(images=images, targets=predicted_classes(model, images))
    figure = combine(explanations, model, request).figures["compare"]
    assert len(figure.axes) == 2 * 3
    assert [ax.get_title() for ax in figure.axes[:3]][1:] == ["saliency", "grad-cam"]
    assert all(ax.get_title() == "" for ax in figure.axes[4:6])  # method names head the top row only


@pytest.mark.parametrize("args, message", [
    (["-m", "saliency,confusion"], "side by side takes per-image methods only; confusion (needs dataset)"),
    (["-m", "saliency,saliency"], "method saliency is named twice"),
    (["-m", "saliency,grad-cam", "-p", "steps=4"], "none of saliency, grad-cam has an option 'steps'"),
    (["-m", "saliency,grad-cam", "-p", "occlusion.patch=4"], "'occlusion' is not one of the methods"),
    (["-m", "saliency,grad-cam", "-p", "grad-cam.layer=nope"], "nope"),
    (["-m", "saliency,nosuch"], "nosuch"),
])
def test_bad_method_lists_are_one_line_errors(tiny_checkpoint, faces, tmp_path, args, message):  # noqa: F811
    result = explain(*args, "--checkpoint", tiny_checkpoint, "--image", faces[0], "--out", tmp_path / "o")
    assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "o").exists()


def test_an_existing_folder_is_refused_unless_overwrite(tiny_checkpoint, faces, tmp_path):  # noqa: F811
    out = tmp_path / "cmp"
    args = ["-m", "saliency,grad-cam", "--checkpoint", tiny_checkpoint, "--image", faces[0], "--out", out]
    assert explain(*args).exit_code == 0
    (out / "stale.txt").write_text("from before")
    refused = explain(*args)
    assert refused.exit_code != 0 and "--overwrite" in refused.output and (out / "stale.txt").exists()
    assert explain(*args, "--overwrite").exit_code == 0 and not (out / "stale.txt").exists()
