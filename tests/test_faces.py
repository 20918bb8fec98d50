"""Faces in ordinary photos: the OpenCV detector on composed photos of real FER2013 faces, --faces on
explain and predict, the boxes in the output, and the fallback without a detector.

These tests need the ``faces`` extra (``pip install -c constraints.txt -e ".[test,faces]"``, as
in the README's test command); no mock stands in for the detector. Without it they skip, saying
so, except under CI (``CI`` set), where that is a failure.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import ferviz
from ferviz import registry
from ferviz.cli import main
from ferviz.errors import DataError, OptionError
from ferviz.inputs.faces import MARGIN, detector, square_around
from ferviz.registry import hookimpl, plugin_table

from tests.conftest import require_extra
from tests.photos import background, committed_faces, compose, iou, photos_of, score, zip_faces

require_extra("cv2", "faces")

#: Recall at IoU 0.5 that the test demands, as the issue asked. The built-in Haar ensemble finds
#: 87 of this test's 96 faces (0.906), and 1,231 of 1,360 random FER2013 faces (0.905) in four
#: samples of three face sizes (README, "Faces in photos": python -m tests.photos). One face fewer
#: here would fail: a change to the detector that loses faces shows at once. The faces it misses are
#: mostly tilted further, turned away, cut off or covered (plugins/face_opencv.py).
MIN_RECALL = 0.9


pytestmark = pytest.mark.usefixtures("clean_registry")  # tests/conftest.py


@pytest.fixture(scope="module")
def group(tmp_path_factory):
    """A photo of four committed FER2013 faces at known boxes, as a JPEG file."""
    photo, boxes = compose(committed_faces()[::3], seed=7)
    path = tmp_path_factory.mktemp("photo") / "group.jpg"
    Image.fromarray(photo).save(path, quality=95)
    return path, boxes


def test_the_detector_finds_real_faces_pasted_into_photos():
    # 96 faces (12 committed, 84 from the zip where it is here), 8 to a photo: enough that one face
    # moves recall by a point, in 12 photos' time
    photos = photos_of(committed_faces() + zip_faces(84, seed=5), seed=11, rows=2)
    found, total, false = score(detector(), photos)
    assert total >= 12 and found / total >= MIN_RECALL, f"recall {found}/{total}, {false} false boxes"


@pytest.mark.parametrize("level", [0, 128, 255])
def test_no_box_on_a_blank_photo_and_a_clear_error_naming_the_file(tmp_path, level):
    blank = np.full((420, 760), level, np.uint8)
    assert detector().detect(blank) == []
    assert detector().detect(background(seed=level)) == []  # light and noise, no face
    path = tmp_path / "empty.png"
    Image.fromarray(blank).save(path)
    with pytest.raises(DataError, match=r"empty.png: no face found by opencv-haar in this 760x420 photo"):
        ferviz.read_images([path], faces="detect")


def test_explain_boxes_each_face_and_the_api_gives_the_same(tiny_checkpoint, group, tmp_path):
    path, truth = group
    out = tmp_path / "o"
    result = CliRunner().invoke(main, ["explain", "-m", "saliency,grad-cam", "--checkpoint", str(tiny_checkpoint),
                                       "--image", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["arrays.npz", "compare.png", "manifest.json", "photos.png",
                                                     "summary.json"]
    summary = json.loads((out / "summary.json").read_text())
    ids = [f["id"] for f in summary["faces"]]
    assert ids == [f"group.jpg#{k}" for k in range(1, len(ids) + 1)] == [r["id"] for r in summary["images"]]
    model = ferviz.load(tiny_checkpoint)
    api = ferviz.explain_faces(model, [path], methods=["saliency", "grad-cam"])
    with np.load(out / "arrays.npz") as arrays:
        boxes, crops = arrays["boxes"], arrays["crops"]
        assert boxes.shape == (len(ids), 4) and arrays["images"].shape == (len(ids), 48, 48)
        for key in arrays.files:
            np.testing.assert_array_equal(arrays[key], api.arrays[key], err_msg=key)
    assert sum(max(iou(t, b) for b in boxes) >= 0.5 for t in truth) >= 3  # of the 4 pasted
    gray = np.asarray(Image.open(path).convert("L"))
    for box, crop, face in zip(boxes, crops, api.arrays["images"]):
        x, y, right, bottom = box
        assert tuple(crop) == square_around((x, y, right - x, bottom - y), gray.shape[1], gray.shape[0], MARGIN)
        want = np.asarray(Image.fromarray(gray).crop(tuple(int(c) for c in crop)).resize((48, 48), Image.BOX))
        np.testing.assert_array_equal(face, want)  # the crop, converted by the usual rules
    assert "photos" in api.figures and api._repr_png_()[:4] == b"\x89PNG"


def test_predict_writes_one_row_per_face(tiny_checkpoint, group, tmp_path):
    path, _ = group
    out = tmp_path / "p.csv"
    result = CliRunner().invoke(main, ["predict", str(tiny_checkpoint), "--data", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = out.read_text().splitlines()
    faces = ferviz.read_images([path], size=48)
    assert rows[0] == "id,label" and [r.split(",")[0] for r in rows[1:]] == faces.ids and len(faces) >= 3


def test_center_and_none_keep_one_face_per_file(tiny_checkpoint, group, tmp_path):
    path, _ = group
    gray = np.asarray(Image.open(path).convert("L"))
    center = ferviz.read_images([path], faces="center", size=48)
    want = np.asarray(Image.fromarray(gray[:, 170:590]).resize((48, 48), Image.BOX))
    np.testing.assert_array_equal(center.images[0], want)
    whole = ferviz.read_images([path], faces="none", size=48)
    padded = np.zeros((760, 760), np.uint8)
    padded[170:590] = gray
    np.testing.assert_array_equal(whole.images[0], np.asarray(Image.fromarray(padded).resize((48, 48), Image.BOX)))
    out = tmp_path / "c"
    result = CliRunner().invoke(main, ["explain", "-m", "saliency", "--checkpoint", str(tiny_checkpoint), "--image",
                                       str(path), "--faces", "center", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["arrays.npz", "manifest.json", "saliency.png", "summary.json"]


def test_a_photo_without_faces_is_a_one_line_error(tiny_checkpoint, tmp_path):
    path = tmp_path / "wall.png"
    Image.fromarray(background(seed=3)).save(path)
    result = CliRunner().invoke(main, ["explain", "-m", "saliency", "--checkpoint", str(tiny_checkpoint), "--image",
                                       str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"{path}: no face found by opencv-haar" in result.output and len(result.output.strip().splitlines()) == 1


def test_without_a_detector_photos_are_center_cropped_with_a_hint(group):
    path, _ = group
    pm = registry.get_plugin_manager()
    pm.unregister(name="ferviz.plugins.face_opencv")
    registry._REGISTRIES.clear()
    assert detector() is None
    with pytest.warns(UserWarning, match=r'pip install "ferviz\[faces\]"'):
        faces = ferviz.read_images([path], size=48)
    assert faces.ids == ["group.jpg"] and faces.photos == {}
    with pytest.raises(OptionError, match=r'--faces detect needs a face detector: pip install "ferviz\[faces\]"'):
        ferviz.read_images([path], faces="detect")


class CentreDetector:
    """A third-party detector (a real plugin): the middle third of the photo."""

    name = "centre-third"
    summary = "the middle third of the photo"

    def detect(self, gray):
        h, w = gray.shape
        return [(w // 3, h // 3, w // 3, h // 3)]


class ThirdParty:
    @hookimpl
    def register_face_detectors(self, register):
        register(CentreDetector())


def test_an_installed_detector_wins_over_the_built_in_one(group):
    path, _ = group
    registry.get_plugin_manager().register(ThirdParty(), name="third-party")
    registry._REGISTRIES.clear()
    faces = ferviz.read_images([path], size=48)
    assert faces.detector == "centre-third" and faces.boxes.tolist() == [[253, 140, 506, 280]]
    rows = {r["name"]: r for r in plugin_table()[0]}
    assert rows["ferviz.plugins.face_opencv"]["registers"] == {"face detectors": ["opencv-haar"]}
