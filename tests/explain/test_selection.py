"""The one face picker: the first N of each class, a seeded draw per class, or the classes in turn."""

from __future__ import annotations

import numpy as np
import pytest

from ferviz import FER2013_CLASSES
from ferviz.data import Dataset
from ferviz.errors import DataError, OptionError
from ferviz.explain import pick_faces, select_per_class

LABELS = np.array([2, 0, 0, 1, 2, 0, 1, 2, 0])


def test_per_class_takes_the_head_of_each_class_in_class_order():
    assert pick_faces(LABELS, per_class=2, classes=3).tolist() == [1, 2, 3, 6, 0, 4]
    assert pick_faces(LABELS, per_class=1, classes=4).tolist() == [1, 3, 0]  # an empty class gives nothing
    data = Dataset(np.zeros((9, 4, 4), np.uint8), LABELS, ("a", "b", "c"), ids=np.arange(9).astype(str))
    assert select_per_class(data, 2).ids.tolist() == ["1", "2", "3", "6", "0", "4"]


def test_a_seed_draws_within_each_class_and_keeps_file_order_there():
    drawn = pick_faces(LABELS, per_class=2, classes=3, seed=5)
    assert LABELS[drawn].tolist() == [0, 0, 1, 1, 2, 2]
    for c in range(3):
        part = drawn[LABELS[drawn] == c]
        assert part.tolist() == sorted(part.tolist())
    np.testing.assert_array_equal(drawn, pick_faces(LABELS, per_class=2, classes=3, seed=5))
    unlabelled = pick_faces(None, per_class=2, classes=3, size=9, seed=5)  # as many faces, from all
    assert len(unlabelled) == 6 and unlabelled.tolist() == sorted(unlabelled.tolist())


def test_count_takes_the_classes_in_turn_in_file_order():
    assert pick_faces(LABELS, count=5).tolist() == [0, 1, 2, 3, 6]  # 1, 3, 0 (one of each class), then 2, 6
    assert pick_faces(LABELS, count=0).tolist() == []
    assert pick_faces(np.array([], dtype=np.int64), count=3).tolist() == []


def test_per_class_refusals():
    unlabelled = Dataset(np.zeros((3, 4, 4), np.uint8), None, FER2013_CLASSES)
    with pytest.raises(DataError, match="needs labels"):
        select_per_class(unlabelled, 1)
    with pytest.raises(OptionError, match="at least 1"):
        select_per_class(Dataset(np.zeros((3, 4, 4), np.uint8), np.zeros(3, np.int64), FER2013_CLASSES), 0)
    with pytest.raises(TypeError):
        pick_faces(LABELS, per_class=1, count=1)
