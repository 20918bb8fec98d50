"""`ferviz evaluate`: the default split of a train-only source, and test-time augmentation."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from ferviz.model.checkpoint import load_checkpoint, save_checkpoint
from ferviz.cli import main
from ferviz.data.sources import Holdout, open_source, select_split, train_val
from ferviz.model.evaluation import ensemble_proba, evaluate
from tests.conftest import make_loaded

TRAIN_ONLY = "synthetic:count=140,val=0,test=0"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def run_split_seed_3(tmp_path_factory):
    """One epoch on a source that has only a train split, holding out 20 % with split seed 3."""
    out = tmp_path_factory.mktemp("runs") / "r"
    result = run("train", "--data", TRAIN_ONLY, "--arch", "tiny-resnet", "--epochs", "1", "--batch-size", "16",
                 "--val-fraction", "0.2", "--split-seed", "3", "--seed", "5", "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    return out


def test_evaluate_scores_the_held_out_images_not_the_training_images(run_split_seed_3):
    result = run("evaluate", run_split_seed_3 / "best.pt", "--data", TRAIN_ONLY, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    config = json.loads((run_split_seed_3 / "config.json").read_text())
    n = report["results"][str(run_split_seed_3 / "best.pt")]["n"]
    assert n == config["val_images"] == 28 and config["train_images"] == 112
    assert report["split"] == "val" and report["split_description"] == "val (20% held out of train with split seed 3)"
    text = run("evaluate", run_split_seed_3 / "best.pt", "--data", TRAIN_ONLY)
    assert "on 28 images" in text.output and "split val (20% held out of train with split seed 3)" in text.output
    assert run("evaluate", run_split_seed_3 / "best.pt", "--data", TRAIN_ONLY, "--split", "train",
               "--json").exit_code == 0


def test_the_holdout_is_the_one_training_used(run_split_seed_3):
    """The same images, not only the same count: a model's record of its split picks them again."""
    model = load_checkpoint(run_split_seed_3 / "best.pt")
    splits = open_source(TRAIN_ONLY)
    scored = select_split(splits, None, TRAIN_ONLY, Holdout.of_model(model))
    _, trained_beside = train_val(splits, 0.2, 3)
    np.testing.assert_array_equal(scored.images, trained_beside.images)
    _, other_seed = train_val(splits, 0.2, 5)  # the training seed (5) does not decide the split
    assert not np.array_equal(scored.images, other_seed.images)


def test_old_checkpoints_carved_with_the_training_seed():
    model = make_loaded()
    model.meta = {"train_config": {"val_fraction": 0.1, "seed": 4}}
    assert Holdout.of_model(model) == Holdout(0.1, 4)
    model.meta = {"train_config": {"val_fraction": 0.25, "seed": 4, "split_seed": 0}}
    assert Holdout.of_model(model) == Holdout(0.25, 0)
    assert Holdout.of_model(make_loaded()) == Holdout(0.1, 0)


def test_report_scores_the_held_out_split(run_split_seed_3, tmp_path):
    out = tmp_path / "rep"
    from ferviz import registry

    skip = [a for name in ({"filters", *registry.explainers()} - {"confusion"}) for a in ("--skip", name)]
    result = run("report", "--checkpoint", run_split_seed_3 / "best.pt", "--data", TRAIN_ONLY, "--out", out,
                 "--quick", "--quiet", *skip)
    assert result.exit_code == 0, result.output
    inputs = json.loads((out / "report.json").read_text())["inputs"]
    assert inputs["split"] == "val" and inputs["images"] == 28 and "split seed 3" in inputs["split_description"]


def test_flip_tta_averages_each_face_with_its_mirror_image(random_faces):
    model = make_loaded(seed=2)
    images = random_faces.images[:10]
    expected = (model.predict_proba(images).numpy() + model.predict_proba(images[..., ::-1].copy()).numpy()) / 2
    np.testing.assert_allclose(ensemble_proba([model], images, tta="flip"), expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(ensemble_proba([model], images, tta="none"), expected, atol=1e-4)
    symmetric = np.concatenate([images[:, :, :24], images[:, :, :24][:, :, ::-1]], axis=2)
    np.testing.assert_allclose(ensemble_proba([model], symmetric, tta="flip"),
                               ensemble_proba([model], symmetric), rtol=1e-5, atol=1e-6)


def test_evaluate_prints_tta_beside_the_plain_accuracy(tmp_path, random_faces):
    path = tmp_path / "m.pt"
    save_checkpoint(path, make_loaded(seed=2))
    result = run("evaluate", path, "--data", "synthetic:count=20,val=0,test=21", "--tta", "flip")
    assert result.exit_code == 0, result.output
    line = result.output.splitlines()[0]
    assert "accuracy" in line and "flip TTA" in line and line.index("accuracy") < line.index("flip TTA")
    report = json.loads(run("evaluate", path, "--data", "synthetic:count=20,val=0,test=21", "--tta", "flip",
                            "--json").output)["results"][str(path)]
    dataset = open_source("synthetic:count=20,val=0,test=21")["test"]
    assert report["accuracy"] == pytest.approx(evaluate(load_checkpoint(path), dataset).accuracy)
    assert report["tta"]["method"] == "flip"
    assert report["tta"]["accuracy"] == pytest.approx(evaluate(load_checkpoint(path), dataset, tta="flip").accuracy)
