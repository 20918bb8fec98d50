"""The shipped FER2013 model on real faces: its registered numbers, and the commands of the README.

These read the real FER2013 training split (../shared/data/fer2013-train.zip); where it is
absent they skip, saying so.
"""

from __future__ import annotations

import json
import zipfile

import pytest
from click.testing import CliRunner

from ferviz import registry
from ferviz.model.checkpoint import load_checkpoint
from ferviz.cli import main


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_registered_accuracy_is_what_evaluate_measures_on_the_held_out_faces(fer2013_zip):
    names = ["fer2013-seed-vgg", "fer2013-seed-vgg-cosine"]
    result = run("evaluate", *names, "--data", fer2013_zip, "--tta", "flip", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["split_description"] == "val (10% held out of train with split seed 0)"
    for name in names:
        entry, scored = registry.pretrained()[name], report["results"][name]
        assert scored["n"] == 2872  # the held-out faces, not the 28,709 training images
        assert scored["accuracy"] == pytest.approx(entry.metrics["val_accuracy"], abs=5e-4)
        assert scored["tta"]["accuracy"] == pytest.approx(entry.metrics["val_accuracy_flip_tta"], abs=5e-4)
    ensemble = report["results"]["ensemble"]
    assert ensemble["accuracy"] > max(report["results"][n]["accuracy"] for n in names)


def test_explain_a_face_file_with_the_pretrained_name(fer2013_zip, tmp_path):
    """The issue's 'done when': a fresh install explains a face image with the shipped model."""
    with zipfile.ZipFile(fer2013_zip) as zf:
        name = next(n for n in zf.namelist() if n.startswith("train/happy/") and n.endswith(".jpg"))
        (tmp_path / "face.jpg").write_bytes(zf.read(name))
    out = tmp_path / "o"
    result = run("explain", "-m", "saliency", "--checkpoint", "fer2013-seed-vgg", "--image", tmp_path / "face.jpg",
                 "--out", out)
    assert result.exit_code == 0, result.output
    assert (out / "saliency.png").is_file() and (out / "arrays.npz").is_file()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["images"][0]["id"] == "face.jpg"
    # the image-folder version's alphabetical order, not the CSV's (the model card warns about it)
    assert load_checkpoint("fer2013-seed-vgg").class_names == (
        "angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")


def test_saliency_regions_example_runs_on_the_held_out_faces(fer2013_zip, capsys):
    """examples/saliency_regions.py, whose table the README quotes, on the first 40 held-out faces."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "examples" / "saliency_regions.py"
    spec = importlib.util.spec_from_file_location("saliency_regions", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.main(["--data", str(fer2013_zip), "--limit", "40", "--json"])
    assert result["split"] == "val (10% held out of train with split seed 0)" and result["faces"] == 40
    assert sum(row["faces"] for row in result["by_predicted_class"].values()) == 40
    for row in result["by_predicted_class"].values():
        assert sum(row["mass"].values()) == pytest.approx(1.0, abs=2e-3)
        assert sum(row["peak"].values()) == pytest.approx(1.0, abs=2e-3)
    assert json.loads(capsys.readouterr().out)["faces"] == 40
