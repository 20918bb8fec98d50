"""The one image loader (ferviz.inputs.images): the CLI and the Python API feed a model the same pixels."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from ferviz.model.checkpoint import load_checkpoint
from ferviz.cli import main
from ferviz.data.sources import open_source
from ferviz.errors import DataError
from ferviz.explain import run_explainer
from ferviz.inputs.images import array_face, read_images


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    """A non-square RGB photo (a wide 90x60 picture): stretched and center-cropped would differ."""
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (60, 90, 3), dtype=np.uint8)
    rgb[:, :30] = 0  # a black band on the left: a crop drops it, a stretch keeps it
    path = tmp_path_factory.mktemp("photo") / "wide.png"
    Image.fromarray(rgb, "RGB").save(path)
    return path, rgb


def test_a_non_square_file_is_center_cropped_never_stretched(photo):
    path, rgb = photo
    faces = read_images([path], size=30)
    gray = np.asarray(Image.fromarray(rgb, "RGB").convert("L"))
    cropped = Image.fromarray(np.ascontiguousarray(gray[:, 15:75]))  # the middle 60x60 square
    np.testing.assert_array_equal(faces.images[0], np.asarray(cropped.resize((30, 30), Image.BOX)))
    assert faces.ids == ["wide.png"] and faces.sources == [str(path)]


def test_an_array_is_converted_like_the_file_it_came_from(photo):
    path, rgb = photo
    from_file = read_images(path, size=48).images
    np.testing.assert_array_equal(read_images([rgb], size=48).images, from_file)
    np.testing.assert_array_equal(read_images(Image.open(path), size=48).images, from_file)
    np.testing.assert_array_equal(array_face(rgb.astype(np.float64), "x", 48), from_file[0])


def test_cli_image_and_images_folder_and_api_give_the_same_pixels_and_maps(tiny_checkpoint, photo, tmp_path):
    path, _ = photo
    out = tmp_path / "cli"
    result = CliRunner().invoke(main, ["explain", "-m", "saliency", "--checkpoint", str(tiny_checkpoint),
                                       "--image", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    model = load_checkpoint(tiny_checkpoint)
    faces = read_images([path], model=model)
    folder = open_source(f"images:{path.parent}")["test"]
    np.testing.assert_array_equal(folder.images, faces.images)
    api = run_explainer("saliency", model, images=faces.images, ids=faces.ids)
    with np.load(out / "arrays.npz") as cli:
        np.testing.assert_array_equal(cli["images"], faces.images)
        np.testing.assert_array_equal(cli["saliency"], api.arrays["saliency"])


def test_bad_inputs_are_one_line_errors_naming_them(tmp_path):
    with pytest.raises(DataError, match=r"array:0: an image array must be"):
        read_images([np.zeros((4, 4, 2))])
    with pytest.raises(DataError, match=r"NaN"):
        read_images([np.full((4, 4), np.nan)])
    with pytest.raises(DataError, match=r"no such file"):
        read_images([tmp_path / "missing.png"])
    with pytest.raises(DataError, match=r"no image files"):
        read_images(tmp_path)
    (tmp_path / "x.png").write_text("not an image")
    with pytest.raises(DataError, match=r"x.png: unreadable image"):
        read_images(tmp_path)
