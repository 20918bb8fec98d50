"""The Keras HDF5 reader (ferviz.plugins.keras_h5) against Keras's own arithmetic.

Files are laid out as Keras 2's ``model.save`` writes them (tests/keras_files.py) and the
loaded network is compared with an independent NumPy forward pass in Keras's layout (NHWC,
(h, w, c) flattening, epsilon 1e-3), so a wrong transposition or flattening order fails here.
h5py is the ``keras`` extra, which the README's test command installs.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from ferviz import FER2013_CLASSES
from ferviz.model.checkpoint import load_checkpoint
from ferviz.cli import main
from ferviz.errors import CheckpointError
from tests.conftest import require_extra
from tests.keras_files import keras_forward, random_weights, report_like_layers, write_keras_h5

require_extra("h5py", "keras")

FLAGS = {"classes": "fer2013", "normalize": "unit"}


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory):
    layers, weights = report_like_layers(), random_weights(report_like_layers())
    path = tmp_path_factory.mktemp("keras") / "fer.h5"
    write_keras_h5(path, layers, weights)
    return path, layers, weights


def test_the_network_computes_what_keras_computes(keras_file):
    path, layers, weights = keras_file
    model = load_checkpoint(path, **FLAGS)
    assert (model.arch, model.kind, model.in_channels, model.input_size, model.outputs) == (
        "keras-h5", "eager", 1, 12, "logits")
    faces = np.random.default_rng(1).integers(0, 256, (4, 12, 12), dtype=np.uint8)
    nhwc = faces[..., None].astype(np.float64) / 255
    with torch.no_grad():
        logits = model(model.pixels(faces)).double().numpy()
    expected = keras_forward(layers, weights, nhwc)  # before Keras's final softmax
    np.testing.assert_allclose(logits, expected, atol=1e-5 * np.abs(expected).max())  # float32 vs float64
    np.testing.assert_allclose(model.predict_proba(faces).numpy(), keras_forward(layers, weights, nhwc, logits=False),
                               atol=1e-5)


def test_layers_keep_their_keras_names_and_layer_methods_work(keras_file, tmp_path):
    path = keras_file[0]
    flags = ["--classes", "fer2013", "--normalize", "unit"]
    result = CliRunner().invoke(main, ["models", "layers", str(path), *flags, "--json"])
    assert result.exit_code == 0, result.output
    names = [row["name"] for row in json.loads(result.stdout)]
    assert names == ["conv2d", "batch_normalization", "activation", "conv2d_1", "conv2d_1_relu", "max_pooling2d",
                     "flatten", "dense", "batch_normalization_1", "activation_1", "dense_1"]
    faces = tmp_path / "faces.npz"
    from ferviz.data import Dataset
    from ferviz.data.npzfile import save_npz

    save_npz(Dataset(np.random.default_rng(0).integers(0, 256, (14, 48, 48), dtype=np.uint8),
                     np.arange(14) % 7, FER2013_CLASSES, split="test"), faces)
    result = CliRunner().invoke(main, ["explain", "-m", "grad-cam", "--checkpoint", str(path), *flags, "--data",
                                       str(faces), "-p", "layer=conv2d_1", "--per-class", "1", "--out",
                                       str(tmp_path / "gc")])
    assert result.exit_code == 0, result.output
    with np.load(tmp_path / "gc" / "arrays.npz") as arrays:
        assert arrays["cam"].shape == (7, 10, 10) and arrays["attributions"].shape == (7, 12, 12)


def _layers(**changes):
    layers = report_like_layers()
    for layer in layers:
        layer["config"].update(changes.get(layer["config"]["name"], {}))
    return layers


@pytest.mark.parametrize("make, message", [
    (lambda p: write_keras_h5(p, report_like_layers(), random_weights(report_like_layers()), model_config=False),
     "without a Keras model_config .*save the whole model with model.save"),
    (lambda p: write_keras_h5(p, _layers(conv2d={"strides": [2, 2]}), random_weights(report_like_layers())),
     "Keras layer 'conv2d': 'same' padding is supported at stride 1 only"),
    (lambda p: write_keras_h5(p, _layers(dense={"units": 9}), random_weights(report_like_layers())),
     "the weights do not fit the model_config at dense"),
    (lambda p: write_keras_h5(p, _layers(dense={"units": 3}), random_weights(report_like_layers())),
     "Keras layer 'dense': its kernel holds 750 values, more than the model_config gives it"),
    (lambda p: write_keras_h5(p, _layers(conv2d_1={"filters": 10**6}), random_weights(report_like_layers())),
     "its model_config declares .* bytes of weights, far more than the file holds"),
    (lambda p: write_keras_h5(p, _layers(faces={"batch_input_shape": [None, 10**6, 10**6, 1]}),
                              random_weights(report_like_layers())), "is not square images"),
    (lambda p: write_keras_h5(p, _layers(activation={"activation": "swish"}), random_weights(report_like_layers())),
     "Keras layer 'activation': activation 'swish' is not supported"),
    (lambda p: write_keras_h5(p, report_like_layers(classes=5), random_weights(report_like_layers(classes=5))),
     "the network gives 5 outputs per image, but there are 7 class names"),
])
def test_files_it_cannot_read_are_refused_in_one_line(tmp_path, make, message):
    path = tmp_path / "m.hdf5"
    make(path)
    with pytest.raises(CheckpointError, match=message) as refused:
        load_checkpoint(path, **FLAGS)
    assert "\n" not in str(refused.value)


def test_a_functional_model_is_refused(tmp_path, keras_file):
    import h5py

    path = tmp_path / "functional.h5"
    path.write_bytes(keras_file[0].read_bytes())
    with h5py.File(path, "r+") as f:
        f.attrs["model_config"] = json.dumps({"class_name": "Functional", "config": {"layers": []}}).encode()
    with pytest.raises(CheckpointError, match="a Keras Functional model; this reader supports Sequential models only"):
        load_checkpoint(path, **FLAGS)


def test_classes_and_preprocessing_are_declared_never_guessed(keras_file):
    with pytest.raises(CheckpointError, match="is a Keras HDF5 file without class names or preprocessing; give "
                                              "--classes and --normalize"):
        load_checkpoint(keras_file[0])


def test_without_h5py_the_error_says_how_to_install_it(keras_file, monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)  # import h5py now raises ImportError
    with pytest.raises(CheckpointError, match=r"reading it needs h5py: pip install 'ferviz\[keras\]'"):
        load_checkpoint(keras_file[0], **FLAGS)
