"""Confusion analysis: numbers equal ferviz.model.evaluation.evaluate; pairs in words; labels by name."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from ferviz import FER2013_CLASSES
from ferviz.data import Dataset
from ferviz.errors import DataError
from ferviz.model.evaluation import evaluate
from ferviz.explain import run_explainer
from tests.conftest import make_loaded
from tests.explain.helpers import constant_model


def test_numbers_equal_evaluate(random_faces):
    model = make_loaded()
    exp = run_explainer("confusion", model, dataset=random_faces)
    result = evaluate(model, random_faces)
    np.testing.assert_array_equal(exp.arrays["confusion"], result.confusion)
    np.testing.assert_allclose(exp.arrays["row_normalised"], result.row_normalised())
    assert exp.summary["accuracy"] == pytest.approx(result.accuracy)
    assert exp.summary["per_class_accuracy"] == result.per_class_accuracy
    assert exp.summary["n"] == len(random_faces) == exp.arrays["confusion"].sum()
    pairs = [(p["true"], p["predicted"], p["count"]) for p in exp.summary["most_confused"]]
    assert pairs == [(t, p, c) for t, p, _, c in result.most_confused(5)]


def test_known_answer_with_a_model_that_always_says_neutral(random_faces):
    exp = run_explainer("confusion", constant_model("neutral"), dataset=random_faces, options={"top": "2"})
    confusion = exp.arrays["confusion"]
    counts = np.bincount(random_faces.labels, minlength=7)
    np.testing.assert_array_equal(confusion[:, 6], counts)
    assert confusion[:, :6].sum() == 0
    summary = exp.summary
    assert summary["accuracy"] == pytest.approx(counts[6] / counts.sum())
    assert summary["best_class"] == "neutral" and summary["per_class_accuracy"]["neutral"] == 1.0
    assert [p["text"] for p in summary["most_confused"]] == ["angry -> neutral 100 %", "disgust -> neutral 100 %"]
    assert len(exp.figures["confusion"].axes) == 3  # matrix, accuracy bars, colour bar


def test_labels_are_matched_by_class_name_not_position(random_faces):
    alphabetical = tuple(sorted(FER2013_CLASSES))
    remap = np.array([alphabetical.index(c) for c in FER2013_CLASSES])
    folder_order = replace(random_faces, labels=remap[random_faces.labels], class_names=alphabetical)
    model = constant_model("happy")
    same = run_explainer("confusion", model, dataset=random_faces)
    moved = run_explainer("confusion", model, dataset=folder_order)
    np.testing.assert_array_equal(same.arrays["confusion"], moved.arrays["confusion"])


def test_empty_classes_have_no_accuracy_and_no_nan(random_faces):
    only_two = random_faces.subset(np.flatnonzero(random_faces.labels < 2))
    exp = run_explainer("confusion", make_loaded(), dataset=only_two)
    assert exp.summary["per_class_accuracy"]["neutral"] is None
    assert np.isfinite(exp.arrays["row_normalised"]).all()


def test_unlabelled_data_is_refused():
    unlabelled = Dataset(np.zeros((3, 48, 48), np.uint8), None, FER2013_CLASSES, split="test", source="faces/")
    with pytest.raises(DataError, match="no labels"):
        run_explainer("confusion", make_loaded(), dataset=unlabelled)


def test_confusion_needs_a_data_set():
    with pytest.raises(DataError, match="--data"):
        run_explainer("confusion", make_loaded())
