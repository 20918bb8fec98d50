"""describe / format_table: counts, sizes, blank images and duplicates."""

from __future__ import annotations

import json

import numpy as np

from ferviz import FER2013_CLASSES
from ferviz.data import Dataset
from ferviz.data.info import describe, format_table


def make_splits():
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (10, 48, 48), dtype=np.uint8)
    test = rng.integers(0, 256, (4, 48, 48), dtype=np.uint8)
    train[1] = train[0]          # within train, same label
    train[2] = train[0]          # ... three rows of one image
    train[3] = 0                 # blank
    test[0] = train[5]           # shared, same label
    test[1] = train[6]           # shared, different label
    train_labels = np.array([0, 0, 0, 1, 2, 3, 4, 5, 6, 6])
    test_labels = np.array([3, 0, 1, 2])
    return {
        "train": Dataset(train, train_labels, FER2013_CLASSES, "train", "t"),
        "test": Dataset(test, test_labels, FER2013_CLASSES, "test", "t"),
    }


def test_describe_counts_and_duplicates():
    info = describe(make_splits())
    assert info["total"] == 14 and info["class_names"] == list(FER2013_CLASSES)
    train = info["splits"]["train"]
    assert train["count"] == 10 and train["image_size"] == [48, 48] and train["blank_images"] == 1
    assert train["classes"]["angry"] == 3 and train["classes"]["neutral"] == 2
    assert info["duplicates"]["within"]["train"] == {"rows": 2, "groups": 1, "conflicting_labels": 0}
    assert info["duplicates"]["within"]["test"]["rows"] == 0
    (pair,) = info["duplicates"]["between"]
    assert pair["splits"] == ["train", "test"]
    assert pair["shared_images"] == 2 and pair["conflicting_labels"] == 1
    assert pair["rows_in_train"] == 2 and pair["rows_in_test"] == 2
    json.dumps(info)  # plain types only


def test_conflicts_compare_class_names_not_indices():
    splits = make_splits()
    # the same test set with labels in alphabetical order: no new conflicts
    alpha = tuple(sorted(FER2013_CLASSES))
    t = splits["test"]
    splits["test"] = Dataset(t.images, np.array([alpha.index(FER2013_CLASSES[i]) for i in t.labels]),
                             alpha, "test", "t")
    (pair,) = describe(splits)["duplicates"]["between"]
    assert pair["conflicting_labels"] == 1


def test_unlabelled_and_table():
    splits = make_splits()
    splits["faces"] = Dataset(splits["test"].images, None, (), "faces", "x")
    info = describe(splits)
    assert info["splits"]["faces"]["classes"] == {} and not info["splits"]["faces"]["labelled"]
    table = format_table(info)
    lines = table.splitlines()
    assert lines[0].split() == ["images", *FER2013_CLASSES]
    assert lines[1].split()[:3] == ["train", "10", "3"]
    assert lines[3].split()[:3] == ["faces", "4", "-"]
    assert lines[4].split()[:2] == ["total", "18"]
    assert "image size: 48x48" in table
    assert "blank images: train 1" in table
    assert "within train: 2 rows repeat an earlier image" in table
    assert "train & test: 2 images in both, 1 with conflicting labels" in table
    assert "test & faces: 4 images in both" in table
    assert "within test: none" in table
