"""`ferviz explain` and `ferviz plugins` through click's CliRunner: good runs and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from ferviz.cli import main

BUILTINS = ("confusion", "filter-ascent", "integrated-gradients", "saliency")


def lists_builtins(text: str) -> bool:
    return all(name in text for name in BUILTINS)


pytestmark = pytest.mark.usefixtures("clean_registry")  # tests/conftest.py


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    """Two image files of other sizes and modes (RGB 64x80, L 30x30) to be read as 48x48 gray."""
    folder = tmp_path_factory.mktemp("faces")
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (80, 64, 3), dtype=np.uint8), "RGB").save(folder / "a.png")
    Image.fromarray(rng.integers(0, 256, (30, 30), dtype=np.uint8), "L").save(folder / "b.jpg")
    return [folder / "a.png", folder / "b.jpg"]


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def explain(checkpoint, out, *args):
    return invoke("explain", "--checkpoint", checkpoint, "--out", out, *args)


def test_saliency_on_image_files(tiny_checkpoint, faces, tmp_path):
    out = tmp_path / "sal"
    result = explain(tiny_checkpoint, out, "-m", "saliency", "--image", faces[0], "--image", faces[1],
                     "-p", "threshold=0.5", "--device", "cpu")
    assert result.exit_code == 0, result.output
    printed = result.stdout.split()
    assert printed == [str(out / f) for f in ("arrays.npz", "saliency.png", "summary.json", "manifest.json")]
    assert all((out / f).is_file() for f in ("arrays.npz", "saliency.png"))
    assert "saliency: 2 images" in result.stderr and "wrote 4 files" in result.stderr
    with np.load(out / "arrays.npz") as arrays:
        assert arrays["saliency"].shape == (2, 48, 48) and arrays["images"].dtype == np.uint8
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["options"] == {"threshold": 0.5, "mask": "zscore", "smooth": 2.0, "style": "overlay",
                                   "opacity": 0.5, "cmap": "auto", "batch_size": 32,
                                   "precision": "fp32"}
    assert manifest["checkpoint"] == str(tiny_checkpoint) and manifest["inputs"]["images"] == [str(f) for f in faces]
    assert [r["id"] for r in manifest["summary"]["images"]] == ["a.png", "b.jpg"]


def test_per_class_selection_from_data_with_true_targets(tiny_checkpoint, tmp_path):
    out = tmp_path / "ig"
    result = explain(tiny_checkpoint, out, "-m", "integrated-gradients", "--data", "synthetic:count=7,val=0,test=14",
                     "--per-class", "1", "--target", "true", "-p", "steps=4", "--format", "svg")
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert all(r["true"] == r["target"] for r in summary["images"])
    assert [r["target"] for r in summary["images"]] == ["angry", "disgust", "fear", "happy", "sad", "surprise",
                                                        "neutral"]
    assert (out / "integrated-gradients.svg").is_file()


def test_confusion_on_a_split(tiny_checkpoint, tmp_path):
    out = tmp_path / "cm"
    result = explain(tiny_checkpoint, out, "-m", "confusion", "--data", "synthetic:count=7,val=14,test=0",
                     "--split", "val", "--format", "pdf")
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n"] == 14 and 0 <= summary["accuracy"] <= 1
    assert (out / "confusion.pdf").read_bytes().startswith(b"%PDF")


def test_filter_ascent_needs_no_inputs(tiny_checkpoint, tmp_path):
    out = tmp_path / "fa"
    result = explain(tiny_checkpoint, out, "-m", "filter-ascent", "-p", "filters=0-1", "-p", "steps=2",
                     "-p", "layer=features.relu2")
    assert result.exit_code == 0, result.output
    assert json.loads((out / "summary.json").read_text())["layer"] == "features.relu2"


@pytest.mark.parametrize("args, code, message", [
    (["-m", "nope"], 1, "unknown explainer 'nope'; known: confusion, filter-ascent, "),
    ([], 2, "choose a method with --method: confusion, filter-ascent, "),
    (["-m", "saliency", "-p", "colour=red"], 1, "saliency has no option 'colour'; valid options: threshold (float"),
    (["-m", "saliency", "-p", "threshold=high"], 1, "bad value threshold='high': expected float in [0, 1]"),
    (["-m", "saliency", "-p", "threshold"], 1, "is not of the form key=value"),
    (["-m", "integrated-gradients", "-p", "baseline=white"], 1, "expected one of black|mean|blurred"),
    (["-m", "saliency"], 2, "saliency explains images: give --image FILE or --data SOURCE"),
    (["-m", "confusion"], 2, "confusion analyses a data set: give --data SOURCE"),
    (["-m", "filter-ascent", "-p", "layer=features.conv9"], 1, "unknown layer 'features.conv9'; known: "),
    (["-m", "filter-ascent", "-p", "filters=100-200"], 1, "the layer has filters 0-63"),
])
def test_bad_input_gives_one_line_errors(tiny_checkpoint, tmp_path, args, code, message):
    out = tmp_path / "never"
    result = explain(tiny_checkpoint, out, *args)
    assert result.exit_code == code, result.output
    assert message in result.output
    if "explainer" in message or "--method: " in message:
        assert lists_builtins(result.output)
    assert "Traceback" not in result.output
    assert not out.exists() and not list(tmp_path.iterdir()), "something was written on failure"


@pytest.mark.parametrize("target, message", [("true", "--target true needs labelled images"),
                                             ("bored", "unknown target 'bored'; known: ")])
def test_bad_targets(tiny_checkpoint, faces, tmp_path, target, message):
    result = explain(tiny_checkpoint, tmp_path / "o", "-m", "saliency", "--image", faces[0], "--target", target)
    assert result.exit_code == 1 and message in result.output


def test_unreadable_image_and_missing_checkpoint(tiny_checkpoint, tmp_path):
    text = tmp_path / "note.png"
    text.write_text("not an image")
    result = explain(tiny_checkpoint, tmp_path / "o", "-m", "saliency", "--image", text)
    assert result.exit_code == 1 and "unreadable image" in result.output
    result = explain(tmp_path / "missing.pt", tmp_path / "o", "-m", "saliency", "--image", text)
    assert result.exit_code == 1 and "no such file" in result.output


def test_nothing_half_written_when_saving_fails(tiny_checkpoint, faces, tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    def broken_savefig(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken_savefig)
    (tmp_path / "keep").mkdir()
    result = explain(tiny_checkpoint, tmp_path / "keep", "-m", "saliency", "--image", faces[0])
    assert result.exit_code != 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep"] and not list((tmp_path / "keep").iterdir())


@pytest.mark.parametrize("args", [["explain", "--method", "saliency", "--help"],
                                  ["explain", "--help", "-m", "saliency"],
                                  ["explain", "--method=saliency", "--help"]])
def test_method_help_shows_its_options(args):
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert "Options of saliency" in result.output
    assert "threshold=0.7" in result.output and "[float in [0, 1]]" in result.output
    assert "--checkpoint" in result.output  # the generic help is still there


def test_help_points_to_the_methods_and_unknown_method_help_says_so():
    plain = invoke("explain", "--help")  # listing the methods would load torch (tests/test_startup.py)
    assert plain.exit_code == 0 and "`ferviz plugins` lists the installed explainers" in " ".join(plain.output.split())
    assert "Options of" not in plain.output
    unknown = invoke("explain", "-m", "nope", "--help")
    assert unknown.exit_code == 0 and "unknown explainer 'nope'" in unknown.output


def test_plugins_lists_builtins_with_what_they_register():
    result = invoke("plugins")
    assert result.exit_code == 0, result.output
    line = next(line for line in result.stdout.splitlines() if line.startswith("ferviz.plugins.saliency "))
    assert "built-in" in line and "explainers: saliency" in line
    rows = json.loads(invoke("plugins", "--json").stdout)["plugins"]
    names = {r["name"]: r for r in rows}
    assert names["ferviz.models.vgg"]["registers"] == {"models": ["seed-vgg"]}
    assert all(r["status"] == "ok" for r in rows)


def test_plugins_show():
    result = invoke("plugins", "show", "integrated-gradients")
    assert result.exit_code == 0
    assert "needs: images" in result.output and "baseline=black" in result.output and "steps=50" in result.output
    metric = invoke("plugins", "show", "deletion")
    assert metric.exit_code == 0 and metric.output.startswith("deletion: ") and "steps=" in metric.output
    missing = invoke("plugins", "show", "nope")
    assert missing.exit_code == 1 and "unknown explainer 'nope'; known: " in missing.output
    assert lists_builtins(missing.output)


def test_target_by_class_name_and_unlabelled_folder(tiny_checkpoint, faces, tmp_path):
    out = tmp_path / "happy"
    result = explain(tiny_checkpoint, out, "-m", "saliency", "--data", faces[0].parent, "--target", "happy")
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert [r["target"] for r in summary["images"]] == ["happy", "happy"]
    assert [r["id"] for r in summary["images"]] == ["a.png", "b.jpg"]


def test_data_and_image_together_is_a_usage_error(tiny_checkpoint, faces, tmp_path):
    result = explain(tiny_checkpoint, tmp_path / "o", "-m", "saliency", "--data", "synthetic", "--image", faces[0])
    assert result.exit_code == 2 and "give --data or --image, not both" in result.output
