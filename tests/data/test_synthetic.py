"""The embedded synthetic faces: reproducibility, balance, masks, facial-action rules, reader."""

from __future__ import annotations

import numpy as np
import pytest

from ferviz import FER2013_CLASSES
from ferviz.data import Dataset
from ferviz.data import synthetic
from ferviz.data.synthetic import params as face_params, render as face_render
from ferviz.data.synthetic import (
    CLASS_NAMES, FER2013_BALANCE, SyntheticReader, generate, render_examples,
)
from ferviz.errors import DataError

NEUTRAL = CLASS_NAMES.index("neutral")


@pytest.fixture(scope="module")
def faces() -> Dataset:
    return generate(700, seed=5)


def rest_faces(label: int, n: int = 60, seed: int = 11, **overrides):
    """(float images, masks) of the same n rest faces (identity, pose, photo) showing `label`."""
    rng = np.random.default_rng(seed)
    params = face_params.draw_params(np.full(n, label, np.int64), rng)
    params.update({k: np.full(n, v, np.float32) for k, v in overrides.items()})
    bank = face_params.noise_bank(rng, 48)
    images, masks = face_render.render_faces(params, 48, bank)
    return images.astype(np.float32), masks


# ---------------------------------------------------------------- shapes and reproducibility

def test_shapes_dtypes_and_names(faces):
    assert faces.images.shape == faces.masks.shape == (700, 48, 48)
    assert faces.images.dtype == np.uint8 and faces.masks.dtype == bool
    assert faces.labels.dtype == np.int64 and faces.labels.shape == (700,)
    assert faces.class_names == CLASS_NAMES == FER2013_CLASSES
    assert faces.source == "synthetic(seed=5)" and faces.split == "train"
    assert faces.images.std() > 20  # not a blank canvas


def test_other_sizes_and_empty():
    big = generate(8, 1, size=64)
    assert big.images.shape == big.masks.shape == (8, 64, 64)
    assert big.masks.any(axis=(1, 2)).all()
    empty = generate(0)
    assert empty.images.shape == (0, 48, 48) and len(empty.labels) == 0


def test_same_seed_same_arrays_other_seed_or_split_differs():
    a, b = generate(40, 3), generate(40, 3)
    for name in ("images", "labels", "masks"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.images, generate(40, 4).images)
    assert not np.array_equal(a.images, generate(40, 3, split="val").images)


def test_output_does_not_depend_on_chunking(monkeypatch):
    reference = generate(70, 9)
    monkeypatch.setattr(synthetic, "_CHUNK", 7)
    rechunked = generate(70, 9)
    np.testing.assert_array_equal(reference.images, rechunked.images)
    np.testing.assert_array_equal(reference.masks, rechunked.masks)


# ---------------------------------------------------------------- class balance

def test_equal_balance_is_as_even_as_possible_and_shuffled():
    labels = generate(702, 2).labels
    counts = np.bincount(labels, minlength=7)
    assert counts.sum() == 702 and counts.max() - counts.min() <= 1
    assert (np.diff(labels) != 0).mean() > 0.5  # shuffled, not in class runs


def test_fer2013_balance():
    assert len(FER2013_BALANCE) == 7 and abs(sum(FER2013_BALANCE) - 1) < 1e-12
    assert FER2013_BALANCE[CLASS_NAMES.index("happy")] == pytest.approx(7215 / 28709)
    counts = np.bincount(generate(1000, 0, class_weights="fer2013").labels, minlength=7)
    np.testing.assert_allclose(counts, 1000 * np.array(FER2013_BALANCE), atol=1)


def test_explicit_weights():
    labels = generate(60, 0, class_weights=[1, 0, 0, 0, 0, 0, 3]).labels
    assert np.bincount(labels, minlength=7).tolist() == [15, 0, 0, 0, 0, 0, 45]


@pytest.mark.parametrize("weights", ["nope", [1, 2], [-1, 1, 1, 1, 1, 1, 1], [0] * 7, [np.nan] * 7])
def test_bad_weights_raise(weights):
    with pytest.raises(DataError, match="weights"):
        generate(10, class_weights=weights)


@pytest.mark.parametrize("kwargs, word", [({"count": -1}, "count"), ({"count": 2.5}, "count"),
                                          ({"count": 5, "seed": -3}, "seed"),
                                          ({"count": 5, "size": 4}, "size")])
def test_bad_arguments_raise(kwargs, word):
    with pytest.raises(DataError, match=word):
        generate(**kwargs)


# ---------------------------------------------------------------- cue masks

def test_masks_are_nonempty_small_and_inside_the_frame_for_every_class(faces):
    area = faces.masks.sum(axis=(1, 2))
    for c in range(7):
        of_class = area[faces.labels == c]
        assert len(of_class) == 100 and of_class.min() > 0
    assert area.max() < 0.4 * 48 * 48
    m = faces.masks
    border = m[:, [0, -1], :].any(axis=(1, 2)) | m[:, :, [0, -1]].any(axis=(1, 2))
    assert border.mean() < 0.02


def test_masks_differ_by_class(faces):
    """Happy marks only the mouth: its masks sit lower and are smaller than surprise's."""
    rows = np.arange(48)[None, :, None]
    centre = (faces.masks * rows).sum(axis=(1, 2)) / faces.masks.sum(axis=(1, 2))
    area = faces.masks.sum(axis=(1, 2))
    happy, surprise = faces.labels == 3, faces.labels == 5
    assert centre[happy].mean() > centre[surprise].mean() + 4
    assert area[happy].mean() < 0.6 * area[surprise].mean()


@pytest.mark.parametrize("label", [c for c in range(7) if c != NEUTRAL],
                         ids=lambda c: CLASS_NAMES[c])
def test_masks_cover_what_the_expression_changes(label):
    """Same faces, neutral vs another class: the pixels that change lie inside the two masks."""
    rest, rest_masks = rest_faces(NEUTRAL)
    moved, moved_masks = rest_faces(label)
    change = np.abs(moved - rest)
    inside = (change * (rest_masks | moved_masks)).sum()
    assert change.sum() > 60 * 200  # the expression visibly changes the faces
    assert inside / change.sum() > 0.95


def test_parts_outside_the_mask_do_not_move():
    """Happy's mask is the mouth only: brows and eyes of a happy face equal the neutral ones."""
    rest, _ = rest_faces(NEUTRAL, rot=0.0)
    happy, happy_masks = rest_faces(CLASS_NAMES.index("happy"), rot=0.0)
    upper = slice(0, 20)  # brows and eyes of an upright face
    assert not happy_masks[:, upper].any()
    np.testing.assert_array_equal(rest[:, upper], happy[:, upper])


def mouth_corner_lift(masks: np.ndarray) -> np.ndarray:
    """Per upright face: mean row of the mask's middle columns minus that of its outer columns."""
    lift = []
    for m in masks:
        rows, cols = np.nonzero(m)
        x = (cols - cols.mean()) / (np.ptp(cols) / 2)
        lift.append(rows[np.abs(x) < 0.25].mean() - rows[np.abs(x) > 0.7].mean())
    return np.array(lift)


def test_happy_corners_up_sad_corners_down():
    upright = dict(rot=0.0, glasses=0, hand=0, bar=0)
    happy = mouth_corner_lift(rest_faces(CLASS_NAMES.index("happy"), **upright)[1])
    sad_masks = rest_faces(CLASS_NAMES.index("sad"), **upright)[1]
    sad_masks[:, :24] = False  # keep the mouth, drop the brows
    sad = mouth_corner_lift(sad_masks)
    assert (happy > 0.5).mean() > 0.9 and (sad < -0.5).mean() > 0.9


def test_action_rules():
    """The drawn facial actions follow the per-class rules on average."""
    labels = np.repeat(np.arange(7), 200)
    p = face_params.draw_params(labels, np.random.default_rng(0))
    mean = {k: np.array([p[k][labels == c].mean() for c in range(7)]) for k in p if p[k].ndim == 1}
    a, d, f, h, s, su, n = range(7)
    assert mean["curve"][h] > 1.5 > mean["curve"][n] > -0.3 > mean["curve"][s]
    assert mean["eye_open"][su] > 1.3 and mean["eye_open"][f] > 1.3 and mean["eye_open"][a] < 0.85
    assert mean["brow_raise"][su] > mean["brow_raise"][f] > 0.5 and mean["brow_raise"][a] < -0.5
    assert mean["brow_in"][f] > 0.5 and mean["brow_in"][a] > 0.5 and abs(mean["brow_in"][su]) < 0.1
    assert mean["brow_inner"][s] > 1 and mean["brow_inner"][a] < -1
    assert mean["mouth_low"][su] > 2 and mean["width"][su] < 0.7 and mean["width"][f] > 1.15
    assert mean["press"][a] > 0.4 and mean["wrinkle"][d] > 0.5
    assert np.all(p["wrinkle"][labels != d] == 0)


# ---------------------------------------------------------------- reader

def test_reader_options_and_splits():
    reader = SyntheticReader()
    assert reader.kind == "synthetic" and reader.location_optional
    options = {"count": "30", "seed": "2", "val": "10", "test": "0", "skip_bad": True}
    splits = reader.read("", options)
    assert sorted(splits) == ["train", "val"]
    assert len(splits["train"]) == 30 and len(splits["val"]) == 10
    assert splits["val"].split == "val" and splits["train"].source == "synthetic(seed=2)"
    train = {img.tobytes() for img in splits["train"].images}
    assert not any(img.tobytes() in train for img in splits["val"].images)
    defaults = reader.read("", {"count": "50", "balance": "fer2013"})
    assert {k: len(v) for k, v in defaults.items()} == {"train": 50, "val": 10, "test": 10}


@pytest.mark.parametrize("options, word", [
    ({"count": "many"}, "count"), ({"count": "0"}, "count"), ({"seed": "-1"}, "seed"),
    ({"val": "x"}, "val"), ({"test": "-2"}, "test"), ({"balance": "skewed"}, "balance"),
    ({"cnt": "5"}, "count, seed, balance, val, test"),
])
def test_reader_rejects_bad_options(options, word):
    with pytest.raises(DataError, match=word):
        SyntheticReader().read("", options)


def test_reader_rejects_a_location():
    with pytest.raises(DataError, match="location"):
        SyntheticReader().read("faces.csv", {})


# ---------------------------------------------------------------- example sheet

def test_render_examples_writes_a_png(tmp_path, faces):
    import matplotlib.image

    path = tmp_path / "sheet" / "examples.png"
    render_examples(faces, path, per_class=3)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert matplotlib.image.imread(path).shape[0] > 7 * 2 * 48
    assert [p.name for p in path.parent.iterdir()] == ["examples.png"]  # no temporary left


def test_render_examples_needs_labels(tmp_path, faces):
    unlabelled = Dataset(faces.images, None, faces.class_names)
    with pytest.raises(DataError):
        render_examples(unlabelled, tmp_path / "x.png")


def test_benchmark_smoke(capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[2] / "benchmarks" / "bench_synthetic.py"
    spec = importlib.util.spec_from_file_location("bench_synthetic", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--count", "40", "--repeat", "2"]) > 0
    assert "faces/s" in capsys.readouterr().out


def test_render_examples_without_masks(tmp_path, faces):
    plain = Dataset(faces.images[:20], faces.labels[:20], faces.class_names)
    render_examples(plain, tmp_path / "plain.png", per_class=2)
    assert (tmp_path / "plain.png").stat().st_size > 0
