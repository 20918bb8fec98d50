"""Keras HDF5 files (.h5, .hdf5) of a Sequential CNN, read through the ``load_checkpoint`` hook.

Many FER models are Keras (the original report's was ``model.save("model.h5")``). Such a file
holds the architecture (the ``model_config`` attribute, JSON) and the weights
(``model_weights/<layer>/<layer>/kernel:0``...). This reader rebuilds the Sequential stack as
PyTorch modules named after the Keras layers and converts the weights:

- Conv2D kernels (kh, kw, in, out) become (out, in, kh, kw); padding ``valid``, or ``same`` at
  stride 1 (PyTorch pads ``same`` as TensorFlow does there).
- Dense kernels (in, out) become (out, in). Keras flattens (h, w, c) where PyTorch flattens
  (c, h, w), so the inputs of the first Dense after Flatten are reordered.
- BatchNormalization keeps Keras's epsilon (1e-3 by default; PyTorch's is 1e-5).
- The final softmax is left out: ferviz explains logits, and softmax gives the same probabilities.

Layers: InputLayer, Conv2D, BatchNormalization, Activation, ReLU, LeakyReLU, MaxPooling2D,
AveragePooling2D, GlobalAveragePooling2D, Dropout, Flatten, Dense. The file records its input
shape, not its class names or preprocessing: give ``--classes`` and ``--normalize`` as for any
file that lacks them. Needs h5py (``pip install "ferviz[keras]"``). The network is built on the
meta device first, and no array is read that is larger than the config gives it room for, so
a hostile file cannot make the reader allocate much more than the file's own size.

    ferviz evaluate fer.h5 --classes fer2013 --normalize unit --data fer2013.csv
"""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ferviz.model import MAX_INFLATION, MAX_INPUT_CHANNELS, MAX_INPUT_SIZE, LoadedModel
from ferviz.model.declared import declared
from ferviz.errors import CheckpointError
from ferviz.registry import hookimpl

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "elu": nn.ELU, "selu": nn.SELU,
               "linear": None}
IGNORED = ("InputLayer", "Dropout")  # Dropout is the identity at inference


def _pair(value) -> tuple[int, int]:
    return tuple(value) if isinstance(value, (list, tuple)) else (value, value)


class KerasStack:
    """Turns Keras layer configs into named PyTorch modules, tracking the (C, H, W) or (F,) shape."""

    def __init__(self, shape: tuple[int, ...], path):
        self.modules: OrderedDict[str, nn.Module] = OrderedDict()
        self.shape, self.path = shape, path
        self.flattened_from: dict[str, tuple[int, int, int]] = {}  # Dense name -> (c, h, w) before Flatten
        self._pending_flatten: tuple[int, int, int] | None = None

    def refuse(self, name: str, why: str):
        raise CheckpointError(f"checkpoint {self.path}: Keras layer {name!r}: {why}; this reader supports "
                              "Sequential CNNs only")

    def add(self, name: str, module: nn.Module) -> None:
        self.modules[name] = module
        with torch.no_grad():
            self.shape = tuple(module.eval()(torch.empty(1, *self.shape, device="meta")).shape[1:])

    def activation(self, name: str, kind: str, last: bool) -> None:
        if kind == "softmax" and last:
            return  # logits: see the module docstring
        if kind not in ACTIVATIONS:
            self.refuse(name, f"activation {kind!r} is not supported")
        if ACTIVATIONS[kind] is not None:
            self.add(name, ACTIVATIONS[kind]())

    def layer(self, kind: str, config: dict, last: bool) -> None:
        name = config["name"]
        if config.get("data_format", "channels_last") != "channels_last":
            self.refuse(name, "data_format must be channels_last")
        if kind == "Conv2D":
            stride, padding = _pair(config.get("strides", 1)), config.get("padding", "valid")
            if padding == "same" and stride != (1, 1) or _pair(config.get("dilation_rate", 1)) != (1, 1):
                self.refuse(name, "'same' padding is supported at stride 1 only, and no dilation")
            self.add(name, nn.Conv2d(self.shape[0], config["filters"], _pair(config["kernel_size"]), stride,
                                     padding=padding, bias=config.get("use_bias", True)))
            self.activation(f"{name}_{config.get('activation', 'linear')}", config.get("activation", "linear"), last)
        elif kind == "Dense":
            if self._pending_flatten is not None:
                self.flattened_from[name], self._pending_flatten = self._pending_flatten, None
            self.add(name, nn.Linear(self.shape[0], config["units"], bias=config.get("use_bias", True)))
            self.activation(f"{name}_{config.get('activation', 'linear')}", config.get("activation", "linear"), last)
        elif kind == "BatchNormalization":
            if self._pending_flatten is not None:
                self.refuse(name, "BatchNormalization between Flatten and Dense is not supported")
            norm = nn.BatchNorm2d if len(self.shape) == 3 else nn.BatchNorm1d
            self.add(name, norm(self.shape[0], eps=config.get("epsilon", 1e-3)))
        elif kind in ("MaxPooling2D", "AveragePooling2D"):
            if config.get("padding", "valid") != "valid":
                self.refuse(name, "pooling must use 'valid' padding")
            pool = _pair(config.get("pool_size", 2))
            cls = nn.MaxPool2d if kind == "MaxPooling2D" else nn.AvgPool2d
            self.add(name, cls(pool, _pair(config.get("strides") or pool)))
        elif kind == "GlobalAveragePooling2D":
            self.add(name, nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()))
        elif kind == "Flatten":
            self._pending_flatten = self.shape if len(self.shape) == 3 else None
            self.add(name, nn.Flatten())
        elif kind == "Activation":
            self.activation(name, config["activation"], last)
        elif kind in ("ReLU", "LeakyReLU"):
            if config.get("max_value") is not None or config.get("threshold", 0.0):
                self.refuse(name, "ReLU with max_value or threshold is not supported")
            slope = config.get("negative_slope", config.get("alpha", 0.3 if kind == "LeakyReLU" else 0.0)) or 0.0
            self.add(name, nn.LeakyReLU(slope) if slope else nn.ReLU())
        elif kind not in IGNORED:
            self.refuse(name, f"layer type {kind} is not supported")


def keras_weights(group, kind: str, name: str, flattened_from: dict, largest: int, path) -> dict[str, np.ndarray]:
    """The layer's arrays from its HDF5 group, renamed and transposed to PyTorch's layout.

    No array is read that holds more values than `largest`, the module's largest tensor.
    """
    names = [w.decode() if isinstance(w, bytes) else str(w) for w in group.attrs.get("weight_names", [])]
    by_role = {key.rsplit("/", 1)[-1].split(":")[0]: group[key] for key in names}  # kernel, bias, gamma...
    too_big = [key for key, dataset in by_role.items() if dataset.size > largest]
    if too_big:
        size = by_role[too_big[0]].size
        raise CheckpointError(f"checkpoint {path}: Keras layer {name!r}: its {too_big[0]} holds {size:,} values, "
                              "more than the model_config gives it")
    if kind == "Conv2D":
        out = {"weight": np.transpose(by_role["kernel"][()], (3, 2, 0, 1))}
    elif kind == "Dense":
        kernel = by_role["kernel"][()]  # (in, out)
        if name in flattened_from:  # Keras flattened (h, w, c); PyTorch flattens (c, h, w)
            c, h, w = flattened_from[name]
            kernel = kernel.reshape(h, w, c, -1).transpose(2, 0, 1, 3).reshape(c * h * w, -1)
        out = {"weight": kernel.T}
    else:  # BatchNormalization; scale=False or center=False leave gamma or beta out of the file
        mean = by_role["moving_mean"][()]
        out = {"running_mean": mean, "running_var": by_role["moving_variance"][()],
               "weight": by_role["gamma"][()] if "gamma" in by_role else np.ones_like(mean),
               "bias": by_role["beta"][()] if "beta" in by_role else np.zeros_like(mean)}
    if "bias" in by_role and kind != "BatchNormalization":
        out["bias"] = by_role["bias"][()]
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}


def read_keras(path) -> tuple[nn.Module, int, int]:
    """(network, input channels, input size) of a Keras Sequential HDF5 file."""
    import h5py

    with h5py.File(path, "r") as f:
        text = f.attrs.get("model_config")
        if text is None:
            raise CheckpointError(f"checkpoint {path}: an HDF5 file without a Keras model_config (weights saved "
                                  "with save_weights?); save the whole model with model.save")
        config = json.loads(text.decode() if isinstance(text, bytes) else text)
        if config.get("class_name") != "Sequential":
            raise CheckpointError(f"checkpoint {path}: a Keras {config.get('class_name')} model; this reader "
                                  "supports Sequential models only")
        layers = config["config"]["layers"] if isinstance(config["config"], dict) else config["config"]
        first = layers[0]["config"]
        shape = first.get("batch_input_shape") or first.get("batch_shape")
        if (not shape or len(shape) != 4 or shape[1] != shape[2] or not 1 <= shape[1] <= MAX_INPUT_SIZE
                or not 1 <= shape[3] <= MAX_INPUT_CHANNELS):
            raise CheckpointError(f"checkpoint {path}: the model's input {shape} is not square images (None, S, S, "
                                  f"C) of at most {MAX_INPUT_SIZE} pixels and {MAX_INPUT_CHANNELS} channels")
        _, size, _, channels = shape
        stack = KerasStack((channels, size, size), path)
        with torch.device("meta"):  # nothing is allocated before the weights are checked
            for i, layer in enumerate(layers):
                stack.layer(layer["class_name"], layer["config"], last=i == len(layers) - 1)
        net = nn.Sequential(stack.modules)
        declared_bytes = 4 * sum(t.numel() for t in net.state_dict().values())
        if declared_bytes > MAX_INFLATION * Path(path).stat().st_size + 2**20:  # as for ferviz's own files
            raise CheckpointError(f"checkpoint {path}: its model_config declares {declared_bytes:,} bytes of "
                                  "weights, far more than the file holds; refused")
        weights = f["model_weights"] if "model_weights" in f else f
        state = {}
        for layer in layers:
            name, kind = layer["config"]["name"], layer["class_name"]
            if kind in ("Conv2D", "Dense", "BatchNormalization"):
                largest = max(t.numel() for t in stack.modules[name].state_dict().values())
                arrays = keras_weights(weights[name], kind, name, stack.flattened_from, largest, path)
                for key, array in arrays.items():
                    state[f"{name}.{key}"] = torch.from_numpy(array)
                if kind == "BatchNormalization":
                    state[f"{name}.num_batches_tracked"] = torch.zeros((), dtype=torch.long)
    want = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    have = {k: tuple(v.shape) for k, v in state.items()}
    if want != have:
        bad = sorted(set(want) ^ set(have)) or [k for k in want if want[k] != have[k]]
        raise CheckpointError(f"checkpoint {path}: the weights do not fit the model_config at {bad[0]} "
                              f"(file {have.get(bad[0])}, config {want.get(bad[0])})")
    net.load_state_dict(state, assign=True)
    return net, channels, size


@hookimpl
def load_checkpoint(path, options):
    with open(path, "rb") as fh:
        if fh.read(8) != HDF5_SIGNATURE:
            return None  # not HDF5: another reader's turn
    try:
        import h5py  # noqa: F401
    except ImportError:
        raise CheckpointError(f"checkpoint {path} is an HDF5 (Keras) file; reading it needs h5py: "
                              "pip install 'ferviz[keras]'") from None
    d = declared(options, path, "a Keras HDF5 file")  # class names and preprocessing: never guessed
    try:
        net, channels, size = read_keras(path)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, OSError, RuntimeError, RecursionError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else "no detail"
        raise CheckpointError(f"checkpoint {path}: not a Keras Sequential file this reader understands "
                              f"({type(exc).__name__}: {detail})") from None
    if (d.channels or channels, d.size or size) != (channels, size):
        raise CheckpointError(f"checkpoint {path}: the Keras model takes {channels}x{size}x{size} input; "
                              "--channels and --size must agree with it")
    return LoadedModel(net.eval(), d.classes, d.preprocessing, in_channels=channels, input_size=size,
                       arch="keras-h5", source=str(path))
