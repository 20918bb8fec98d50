"""`ferviz assess` through click's CliRunner: good runs and bad input."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from ferviz import registry
from ferviz.cli import main
from ferviz.explain import pick_faces

DATA = "synthetic:count=14,val=0,test=14"
QUICK = ("--count", "7", "-p", "deletion.steps=4", "-p", "insertion.steps=4", "-p", "model-randomisation.images=1")


@pytest.fixture(autouse=True)
def clean_registry():
    registry.reset()
    yield
    registry.reset()


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_assess_writes_the_table_and_its_files(tiny_checkpoint, tmp_path):
    out = tmp_path / "assess"
    result = invoke("assess", "--checkpoint", tiny_checkpoint, "--data", DATA, "--methods", "saliency,grad-cam",
                    "--metrics", "pointing-game,relevance-mass,deletion", *QUICK, "--out", out)
    assert result.exit_code == 0, result.output
    table = result.stdout.splitlines()
    assert table[0] == "| method | pointing-game ↑ | relevance-mass ↑ | deletion ↓ | maps (s) |"
    assert [line.split("|")[1].strip() for line in table[2:]] == ["saliency", "grad-cam", "random map (baseline)",
                                                                  "*chance (expected)*"]
    assert "saliency: maps of 7 images" in result.stderr
    data = json.loads((out / "assessment.json").read_text())
    assert data["images"] == 7 and data["target"] == "true" and data["data"] == DATA
    assert data["metrics"]["deletion"]["options"]["steps"] == 4
    assert sorted(data["files"]) == sorted(p.name for p in out.iterdir())


def test_json_output_and_random_labels_checkpoint(tiny_checkpoint, resnet_checkpoint, tmp_path):
    result = invoke("assess", "--checkpoint", tiny_checkpoint, "--data", DATA, "--methods", "saliency",
                    "--metrics", "label-randomisation", "--random-labels-checkpoint", tiny_checkpoint, "--count", "4",
                    "-p", "label-randomisation.images=4", "--json", "--quiet", "--out", tmp_path / "o")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    # the same checkpoint as its own "random-labels" model: identical maps, flagged
    assert data["table"]["saliency"]["label-randomisation"]["mean"] == pytest.approx(1.0)
    assert data["table"]["saliency"]["label-randomisation"]["flagged"] is True
    assert result.stderr == ""


def test_data_without_masks_skips_localisation_or_refuses_it(tiny_checkpoint, random_faces, tmp_path):
    from ferviz.data.npzfile import save_npz

    path = save_npz(random_faces, tmp_path / "faces.npz")
    ok = invoke("assess", "--checkpoint", tiny_checkpoint, "--data", path, "--methods", "saliency", "--metrics",
                "all", *QUICK, "--out", tmp_path / "o")
    assert ok.exit_code == 0, ok.output
    assert "skipping pointing-game" in ok.stderr and "skipping label-randomisation" in ok.stderr
    assert ok.stdout.splitlines()[0] == ("| method | model-randomisation ↓ | deletion ↓ | insertion ↑ | maps (s) |")
    bad = invoke("assess", "--checkpoint", tiny_checkpoint, "--data", path, "--metrics", "pointing-game",
                 "--out", tmp_path / "p")
    assert bad.exit_code == 1 and "needs ground-truth cue masks" in bad.output
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize("args,code,message", [
    (("-p", "nosuch.key=1"), 2, "no method or metric 'nosuch'"),
    (("-p", "steps=3"), 2, "name the method or metric"),
    (("--methods", "saliency", "-p", "occlusion.patch=6"), 2, "occlusion is not among --methods"),
    (("--methods", "saliency", "-p", "saliency.nope=1"), 1, "saliency has no option 'nope'"),
    (("-p", "deletion.fill=black"), 1, "bad value fill='black'"),
    (("--methods", "confusion"), 1, "not a per-image explainer"),
    (("--methods", "sailency"), 1, "unknown explainer 'sailency'"),
    (("--metrics", "pointing"), 1, "unknown metric 'pointing'"),
])
def test_bad_input_fails_before_any_work(tiny_checkpoint, tmp_path, args, code, message):
    result = invoke("assess", "--checkpoint", tiny_checkpoint, "--data", DATA, *args, "--out", tmp_path / "o")
    assert result.exit_code == code, result.output
    assert message in result.output
    assert not (tmp_path / "o").exists()


def test_help_says_where_the_metrics_are_listed():
    result = invoke("assess", "--help")  # listing them would load the plugins and torch (tests/test_startup.py)
    text = " ".join(result.output.split())
    assert result.exit_code == 0 and "`ferviz plugins show METRIC` shows one's options" in text
    listed = invoke("plugins")
    for name in ("pointing-game", "relevance-mass", "model-randomisation", "label-randomisation", "deletion",
                 "insertion"):
        assert name in listed.output


def test_the_assessed_images_take_the_classes_in_turn():
    import numpy as np

    labels = np.array([0, 0, 0, 1, 2, 2, 1])
    assert pick_faces(labels, count=4).tolist() == [0, 1, 3, 4]
    assert pick_faces(labels, count=100).tolist() == list(range(7))
    assert pick_faces(None, count=3, size=10).tolist() == [0, 1, 2]
