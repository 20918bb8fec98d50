"""The model as ferviz uses it: a network together with its classes, input and preprocessing.

`LoadedModel` is what every explainer, metric and ``load_checkpoint`` plugin works with, whatever
file it came from (:mod:`ferviz.model.checkpoint`, :mod:`ferviz.model.foreign`); `model_kind`
tells eager networks, whose layers hooks can see, from compiled ones.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import numpy as np
import torch
from torch import nn

from ferviz.errors import DataError, OptionError, UnknownNameError, UnsupportedModelError
from ferviz.model.declared import OUTPUTS
from ferviz.model.layers import leaf_layers
from ferviz.model.preprocessing import Preprocessing


#: Scopes of :func:`remembered_predictions`, innermost last: key -> (probabilities, images, model).
_REMEMBERED: list[dict] = []


@contextmanager
def remembered_predictions() -> Iterator[None]:
    """Inside, `LoadedModel.predict_proba` of one model on one image array is computed once.

    For a batch job that asks for a split's probabilities several times (``ferviz report``: the
    face selection, accuracy, the confusion matrix and the explorer each need all of them). Within
    the scope a model's weights must not change. A call is the same when the model object, the
    array's memory, shape, strides and dtype, and the batch size are; entries keep the array and
    the model alive, so their memory cannot be reused for another. Tensors are never remembered.
    """
    _REMEMBERED.append({})
    try:
        yield
    finally:
        _REMEMBERED.pop()


#: What the network of a LoadedModel is (``LoadedModel.kind``), in words for messages.
KINDS = {"eager": "an eager PyTorch model", "torchscript": "a TorchScript file",
         "torch.export": "a torch.export program"}


def model_kind(net: nn.Module) -> str:
    """``torchscript`` when any part of `net` is TorchScript, ``torch.export`` for an FX graph (what
    ``torch.export`` programs run as), else ``eager``: ordinary modules, whose layers hooks can see."""
    modules = list(net.modules())
    if any(isinstance(m, torch.jit.ScriptModule) for m in modules):
        return "torchscript"
    if any(isinstance(m, torch.fx.GraphModule) for m in modules):
        return "torch.export"
    return "eager"


class LoadedModel(nn.Module):
    """A network together with what it needs to be used: classes, input spec, preprocessing.

    Public API: explainers, metrics and ``load_checkpoint`` plugins work with it.

    ``forward`` takes plain pixels, float on the 0-255 scale, (N, C, H, W), applies
    `preprocessing` and returns logits (N, classes): scores that softmax turns into class
    probabilities. A network whose forward returns probabilities (``outputs="probabilities"``)
    gives their logarithm, which softmax turns back into the same probabilities.

    net: the network (an ``nn.Module``: eager, TorchScript or a torch.export program's module).
    class_names: in output order. preprocessing: a :class:`~ferviz.model.preprocessing.Preprocessing`.
    in_channels, input_size: the (C, S, S) input the network takes (square). arch, arch_args:
    the registered architecture and its keyword arguments (how ferviz rebuilds it). meta: the
    checkpoint's other fields (history, train_config...). source: the file it came from.
    outputs: ``logits`` (also right for log-probabilities) or ``probabilities``. kind: ``eager``,
    ``torchscript`` or ``torch.export`` (default: worked out from `net`); methods that hook into
    layers (Grad-CAM, filter ascent...) need ``eager`` and refuse the others
    (:meth:`require_eager`).
    """

    def __init__(self, net: nn.Module, class_names, preprocessing: Preprocessing, *,
                 in_channels: int = 1, input_size: int = 48, arch: str = "", arch_args: dict | None = None,
                 meta: dict | None = None, source: str = "", outputs: str = "logits", kind: str | None = None):
        super().__init__()
        if outputs not in OUTPUTS:
            raise OptionError(f"outputs must be one of {', '.join(OUTPUTS)}, got {outputs!r}")
        if kind is not None and kind not in KINDS:
            raise OptionError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        self.net = net
        self.class_names = tuple(class_names)
        self.preprocessing = preprocessing
        self.in_channels = in_channels
        self.input_size = input_size
        self.arch = arch
        self.arch_args = dict(arch_args or {})
        self.meta = dict(meta or {})
        self.source = source
        self.outputs = outputs
        self.kind = kind or model_kind(net)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        out = self.net(self.preprocessing(pixels))
        if self.outputs == "probabilities":  # log p: softmax gives p back; gradients are of log p
            return torch.log(out.clamp_min(torch.finfo(out.dtype).tiny))
        return out

    @property
    def eager(self) -> bool:
        """True for ordinary PyTorch modules, whose layers hooks can see (see `kind`)."""
        return self.kind == "eager"

    def require_eager(self, what: str) -> None:
        """UnsupportedModelError, in one line, unless the network is eager (hooks see its layers)."""
        if self.eager:
            return
        from ferviz import registry

        working = sorted(name for name, cls in registry.explainers().items() if not getattr(cls, "needs_eager", False))
        raise UnsupportedModelError(
            f"{what} needs an eager PyTorch model, because it hooks into the network's layers; "
            f"{self.source or 'this model'} is {KINDS[self.kind]}, whose layers run as compiled code. Methods that "
            f"need only forward passes and input gradients work on it ({', '.join(working)}); for layer methods, "
            "load the network's Python class instead (a model plugin and --arch)")

    @property
    def device(self) -> torch.device:
        for p in self.parameters():
            return p.device
        return torch.device("cpu")

    def pixels(self, images) -> torch.Tensor:
        """uint8 (N, H, W) images (numpy or tensor) -> float (N, C, H, W) pixels on this model's device.

        Float input (0-255 scale) is taken as is; NaN or infinite values raise DataError.
        """
        try:
            x = torch.as_tensor(images)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise DataError(f"images must be a numeric array (N, H, W) or (N, C, H, W): {exc}") from None
        if x.dtype == torch.bool or x.is_complex() or x.ndim not in (3, 4) or 0 in x.shape[-2:]:
            raise DataError(f"images must be (N, H, W) or (N, C, H, W) pixels, got {x.dtype} {tuple(x.shape)}")
        if x.ndim == 4 and x.shape[1] not in (1, self.in_channels):
            raise DataError(f"images have {x.shape[1]} channels; this model takes {self.in_channels}")
        if x.is_floating_point() and not bool(torch.isfinite(x).all()):
            raise DataError("images hold NaN or infinite pixel values")
        if x.ndim == 3:
            x = x.unsqueeze(1)
        x = x.to(self.device, torch.float32)
        if x.shape[1] != self.in_channels:
            x = x.expand(-1, self.in_channels, -1, -1).contiguous()
        if x.shape[-1] != self.input_size or x.shape[-2] != self.input_size:
            x = nn.functional.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear",
                                          align_corners=False, antialias=True)
        return x

    def named_layers(self) -> dict[str, nn.Module]:
        """Module name (``features.conv2``) -> module, for every leaf layer of the network (eager only)."""
        self.require_eager("naming layers")
        return leaf_layers(self.net)

    def layer(self, name: str) -> nn.Module:
        """The module called `name` (UnknownNameError lists the layers; eager networks only)."""
        modules = dict(self.net.named_modules()) if self.eager else {}
        if not name or name not in modules:
            raise UnknownNameError("layer", name, self.named_layers())
        return modules[name]

    @torch.inference_mode()
    def predict_proba(self, images, batch_size: int = 512) -> torch.Tensor:
        """Class probabilities (N, classes) for uint8 images, in eval mode, batched.

        Inside :func:`remembered_predictions`, a repeated call on the same array is answered from memory.
        """
        key = None
        if _REMEMBERED and isinstance(images, np.ndarray):
            key = (id(self), images.__array_interface__["data"][0], images.shape, images.strides, images.dtype.str,
                   batch_size)
            if key in _REMEMBERED[-1]:
                return _REMEMBERED[-1][key][0].clone()
        proba = self._predict_proba(images, batch_size)
        if key is not None:
            _REMEMBERED[-1][key] = (proba.clone(), images, self)
        return proba

    def _predict_proba(self, images, batch_size: int) -> torch.Tensor:
        was_training = self.training
        self.eval()
        out = [torch.softmax(self(self.pixels(images[i:i + batch_size])), dim=1).float().cpu()
               for i in range(0, len(images), batch_size)]
        self.train(was_training)
        return torch.cat(out) if out else torch.empty(0, len(self.class_names))
