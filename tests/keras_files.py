"""Keras HDF5 files made without Keras, and Keras's own arithmetic in NumPy, to check a reader against.

`write_keras_h5` lays a file out as Keras 2's ``model.save("m.h5")`` does: root attributes
``keras_version``, ``backend`` and ``model_config`` (the Sequential's JSON), and a group
``model_weights`` with one group per layer holding ``<layer>/kernel:0``-style datasets listed in
its ``weight_names`` attribute. `keras_forward` computes what Keras computes, in its own layout
(NHWC images, (kh, kw, in, out) kernels, (h, w, c) flattening, BatchNorm epsilon from the config):
it shares no code with the reader, so a transposition the reader gets wrong shows up.
"""

from __future__ import annotations

import json

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def report_like_layers(size: int = 12, classes: int = 7) -> list[dict]:
    """A small Sequential in the original report's style: conv same -> BN -> ReLU, conv valid (relu),
    max-pool, dropout, flatten, dense -> BN -> ReLU, dense softmax."""
    return [
        {"class_name": "InputLayer", "config": {"name": "faces", "batch_input_shape": [None, size, size, 1]}},
        {"class_name": "Conv2D", "config": {"name": "conv2d", "filters": 4, "kernel_size": [3, 3], "strides": [1, 1],
                                            "padding": "same", "activation": "linear", "use_bias": True}},
        {"class_name": "BatchNormalization", "config": {"name": "batch_normalization", "epsilon": 0.001}},
        {"class_name": "Activation", "config": {"name": "activation", "activation": "relu"}},
        {"class_name": "Conv2D", "config": {"name": "conv2d_1", "filters": 5, "kernel_size": [3, 3], "strides": [1, 1],
                                            "padding": "valid", "activation": "relu", "use_bias": True}},
        {"class_name": "MaxPooling2D", "config": {"name": "max_pooling2d", "pool_size": [2, 2], "strides": [2, 2],
                                                  "padding": "valid"}},
        {"class_name": "Dropout", "config": {"name": "dropout", "rate": 0.25}},
        {"class_name": "Flatten", "config": {"name": "flatten"}},
        {"class_name": "Dense", "config": {"name": "dense", "units": 6, "activation": "linear", "use_bias": True}},
        {"class_name": "BatchNormalization", "config": {"name": "batch_normalization_1", "epsilon": 0.001}},
        {"class_name": "Activation", "config": {"name": "activation_1", "activation": "relu"}},
        {"class_name": "Dense", "config": {"name": "dense_1", "units": classes, "activation": "softmax",
                                           "use_bias": True}},
    ]


def random_weights(layers: list[dict], seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """Keras-layout weights for `layers`: layer name -> {kernel, bias, gamma, beta, moving_*}."""
    rng = np.random.default_rng(seed)
    shape = tuple(layers[0]["config"]["batch_input_shape"][1:])  # (h, w, c)
    weights = {}
    for layer in layers:
        kind, config = layer["class_name"], layer["config"]
        if kind == "Conv2D":
            kh, kw = config["kernel_size"]
            weights[config["name"]] = {"kernel": rng.normal(0, 0.5, (kh, kw, shape[-1], config["filters"])),
                                       "bias": rng.normal(0, 0.1, config["filters"])}
            trim = 0 if config["padding"] == "same" else kh - 1
            shape = (shape[0] - trim, shape[1] - trim, config["filters"])
        elif kind == "MaxPooling2D":
            shape = (shape[0] // 2, shape[1] // 2, shape[2])
        elif kind == "Flatten":
            shape = (int(np.prod(shape)),)
        elif kind == "Dense":
            weights[config["name"]] = {"kernel": rng.normal(0, 0.3, (shape[0], config["units"])),
                                       "bias": rng.normal(0, 0.1, config["units"])}
            shape = (config["units"],)
        elif kind == "BatchNormalization":
            n = shape[-1]
            weights[config["name"]] = {"gamma": rng.uniform(0.5, 1.5, n), "beta": rng.normal(0, 0.2, n),
                                       "moving_mean": rng.normal(0, 0.3, n), "moving_variance": rng.uniform(0.5, 2, n)}
    return {name: {k: v.astype(np.float32) for k, v in w.items()} for name, w in weights.items()}


def write_keras_h5(path, layers: list[dict], weights: dict, *, model_config: bool = True) -> None:
    import h5py

    order = {"kernel": 0, "gamma": 0, "bias": 1, "beta": 1, "moving_mean": 2, "moving_variance": 3}
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.4.0"
        f.attrs["backend"] = b"tensorflow"
        if model_config:
            f.attrs["model_config"] = json.dumps({"class_name": "Sequential",
                                                  "config": {"name": "sequential", "layers": layers}}).encode()
        root = f.create_group("model_weights")
        names = [layer["config"]["name"] for layer in layers if layer["class_name"] != "InputLayer"]
        root.attrs["layer_names"] = [n.encode() for n in names]
        for name in names:
            group = root.create_group(name)
            arrays = sorted(weights.get(name, {}).items(), key=lambda kv: order[kv[0]])
            group.attrs["weight_names"] = [f"{name}/{role}:0".encode() for role, _ in arrays]
            for role, array in arrays:
                group.create_dataset(f"{name}/{role}:0", data=array)


def keras_forward(layers: list[dict], weights: dict, x: np.ndarray, *, logits: bool = True) -> np.ndarray:
    """What Keras computes for NHWC input `x` (float64); the final softmax left out when `logits`."""
    x = x.astype(np.float64)
    for i, layer in enumerate(layers):
        kind, config = layer["class_name"], layer["config"]
        w = weights.get(config["name"], {})
        if kind == "Conv2D":
            kernel = w["kernel"].astype(np.float64)
            kh, kw = kernel.shape[:2]
            if config["padding"] == "same":  # TensorFlow: the smaller half before, the rest after
                x = np.pad(x, ((0, 0), ((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2), (0, 0)))
            windows = sliding_window_view(x, (kh, kw), axis=(1, 2))  # (N, H', W', C, kh, kw)
            x = np.einsum("nhwcij,ijco->nhwo", windows, kernel) + w["bias"]
        elif kind == "Dense":
            x = x @ w["kernel"].astype(np.float64) + w["bias"]
        elif kind == "BatchNormalization":
            x = (x - w["moving_mean"]) / np.sqrt(w["moving_variance"] + config["epsilon"]) * w["gamma"] + w["beta"]
        elif kind == "MaxPooling2D":
            n, h, wd, c = x.shape
            x = x[:, :h // 2 * 2, :wd // 2 * 2].reshape(n, h // 2, 2, wd // 2, 2, c).max(axis=(2, 4))
        elif kind == "Flatten":
            x = x.reshape(len(x), -1)  # (h, w, c) order
        activation = config.get("activation", "linear") if kind in ("Conv2D", "Dense", "Activation") else "linear"
        if activation == "relu":
            x = np.maximum(x, 0)
        elif activation == "softmax" and not (logits and i == len(layers) - 1):
            e = np.exp(x - x.max(axis=1, keepdims=True))
            x = e / e.sum(axis=1, keepdims=True)
    return x
