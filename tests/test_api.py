"""The Python API (ferviz.load, read_images, explain_faces): the CLI's pixels and maps, inline display."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import ferviz
from ferviz.cli import main
from ferviz.errors import CheckpointError, DataError, OptionError, OutputError, UnknownNameError

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Two non-square RGB files: stretched and center-cropped pixels would differ."""
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(8)
    for name, shape in (("tall.png", (90, 60, 3)), ("wide.jpg", (50, 75, 3))):
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), "RGB").save(folder / name)
    return [folder / "tall.png", folder / "wide.jpg"]


@pytest.mark.parametrize("methods", ["saliency", "saliency,grad-cam"])
def test_the_api_gives_the_clis_pixels_and_maps_for_the_same_files(tiny_checkpoint, photos, tmp_path, methods):
    out = tmp_path / "cli"
    args = ["explain", "-m", methods, "--checkpoint", str(tiny_checkpoint), "--out", str(out)]
    result = CliRunner().invoke(main, args + [a for p in photos for a in ("--image", str(p))])
    assert result.exit_code == 0, result.output
    model = ferviz.load(tiny_checkpoint)
    api = ferviz.explain_faces(model, photos, methods=methods.split(","))
    with np.load(out / "arrays.npz") as cli:
        assert sorted(cli.files) == sorted(api.arrays)
        for key in cli.files:
            np.testing.assert_array_equal(cli[key], api.arrays[key], err_msg=key)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["summary"]["images"] == json.loads(json.dumps(api.records))
    assert api.maps(methods.split(",")[0]).shape == (2, 48, 48)


def test_a_stack_of_non_square_arrays_is_cropped_like_the_files(tiny_checkpoint, photos):
    model = ferviz.load(tiny_checkpoint)
    stack = np.stack([np.asarray(Image.open(photos[0]).convert("L"))] * 2)  # (2, 90, 60) uint8
    from_stack = ferviz.explain_faces(model, stack, methods="saliency")
    from_file = ferviz.explain_faces(model, [photos[0], photos[0]], methods="saliency")
    np.testing.assert_array_equal(from_stack.arrays["images"], from_file.arrays["images"])
    assert from_stack.records[0]["id"] == "#0"


def test_results_and_faces_display_inline_and_save_the_clis_files(tiny_checkpoint, photos, tmp_path):
    model = ferviz.load(tiny_checkpoint)
    faces = ferviz.read_images(photos, model=model)
    assert faces._repr_png_()[:8] == PNG and len(faces) == 2 and np.asarray(faces).shape == (2, 48, 48)
    result = ferviz.explain_faces(model, faces, methods=["saliency", "grad-cam"], target=["happy", 0])
    assert result._repr_png_()[:8] == PNG and "saliency, grad-cam on 2 face(s)" in repr(result)
    assert [r["target"] for r in result.records] == ["happy", "angry"]
    manifest = result.save(tmp_path / "o")
    files = json.loads(manifest.read_text())["files"]
    assert files == ["arrays.npz", "compare.png", "summary.json", "manifest.json"]
    with pytest.raises(OutputError, match="out_dir .* already exists") as refused:
        result.save(tmp_path / "o")
    assert "pass overwrite=True to replace" in str(refused.value) and "--overwrite" not in str(refused.value)
    assert result.save(tmp_path / "o", overwrite=True) == manifest


def test_mistakes_are_one_line_errors(tiny_checkpoint, photos):
    model = ferviz.load(tiny_checkpoint)
    with pytest.raises(UnknownNameError, match="nosuch"):
        ferviz.explain_faces(model, photos, methods="nosuch")
    with pytest.raises(OptionError, match="confusion needs dataset"):
        ferviz.explain_faces(model, photos, methods="confusion")
    with pytest.raises(OptionError, match="'occlusion': it is not one of the methods"):
        ferviz.explain_faces(model, photos, methods="saliency", options={"occlusion": {"patch": 4}})
    with pytest.raises(DataError, match="target has 1 entries for 2 faces"):
        ferviz.explain_faces(model, photos, target=[0])
    result = ferviz.explain_faces(model, photos, methods="saliency,grad-cam")
    with pytest.raises(OptionError, match="name the method"):
        result.maps()
    with pytest.raises(CheckpointError, match="no such file, and no pretrained model has that name"):
        ferviz.load("no-such-model.pt")
    assert {"saliency", "grad-cam", "integrated-gradients"} <= set(ferviz.methods())
    assert "confusion" not in ferviz.methods()


def test_import_ferviz_is_light_and_dir_shows_the_api():
    probe = ("import sys, json, ferviz; names = dir(ferviz); ferviz.read_images; ferviz.Faces; "
             "print(json.dumps({'dir': names, 'heavy': sorted(m for m in sys.modules "
             "if m.split('.')[0] in ('torch', 'matplotlib', 'captum'))}))")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert {"load", "read_images", "explain_faces", "methods", "Faces", "Result"} <= set(result["dir"])
    assert result["heavy"] == []
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        ferviz.nope  # noqa: B018
