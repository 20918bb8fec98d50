"""A small zoo of networks that ferviz did not train, in the forms users bring them.

- ``zoo-view``: an eager network that flattens with ``x.view(x.size(0), -1)`` after a conv (no
  ``nn.Flatten``), the style that breaks under channels-last memory format;
- the same network as a TorchScript file and as a ``torch.export`` program (.pt2, exported with
  a batch of one, as ``torch.export.export`` does by default);
- a 64x64 RGB variant trained on [-1, 1] input (``--arch-arg input_size=64``, ``--size 64``,
  ``--channels 3``, ``--normalize signed``);
- a 5-class variant;
- ``zoo-probabilities``: a network whose forward ends in a softmax.

Every network is tiny (a few thousand weights): the zoo tests what ferviz accepts, not accuracy.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ferviz import FER2013_CLASSES
from ferviz.data import Dataset
from ferviz.registry import hookimpl


class ViewNet(nn.Module):
    """conv -> ReLU -> pool -> conv -> ReLU -> pool -> ``.view`` -> linear."""

    def __init__(self, num_classes: int = 7, in_channels: int = 1, width: int = 4, input_size: int = 48):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.pool = nn.MaxPool2d(4)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.fc = nn.Linear(2 * width * (input_size // 16) ** 2, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.relu1(self.conv1(x)))  # (N, w, S/4, S/4)
        x = self.pool(self.relu2(self.conv2(x)))  # (N, 2w, S/16, S/16)
        return self.fc(x.view(x.size(0), -1))  # fails on a channels-last tensor


class ProbabilityNet(ViewNet):
    """ViewNet whose forward returns class probabilities (a softmax at the end)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(super().forward(x), dim=1)


class ZooModels:
    """The zoo's architectures, registered in-process (register and unregister around a test)."""

    @hookimpl
    def register_models(self, register):
        register("zoo-view", ViewNet)
        register("zoo-probabilities", ProbabilityNet)


def make_net(cls=ViewNet, seed: int = 0, **kwargs) -> nn.Module:
    torch.manual_seed(seed)
    return cls(**kwargs).eval()


def save_state_dict(path: Path, net: nn.Module) -> Path:
    torch.save(net.state_dict(), path)
    return path


def save_torchscript(path: Path, net: nn.Module, channels: int = 1, size: int = 48) -> Path:
    with warnings.catch_warnings():  # torch 2.9+ calls TorchScript deprecated; users still ship it
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.trace(net, torch.zeros(1, channels, size, size)), str(path))
    return path


def save_exported(path: Path, net: nn.Module, channels: int = 1, size: int = 48, dynamic_batch: bool = False) -> Path:
    example = (torch.zeros(2 if dynamic_batch else 1, channels, size, size),)
    shapes = ({0: torch.export.Dim("batch", min=1, max=4096)},) if dynamic_batch else None
    torch.export.save(torch.export.export(net, example, dynamic_shapes=shapes), str(path))
    return path


#: The zoo's five-class order (a subset of FER2013's classes, so synthetic-style data fits it).
FIVE = ("angry", "happy", "sad", "surprise", "neutral")


@dataclass
class Entry:
    """One zoo network: its file, the flags that load it, and what ferviz should make of it."""

    path: Path
    flags: tuple[str, ...]
    kind: str = "eager"
    classes: tuple[str, ...] = FER2013_CLASSES
    channels: int = 1
    size: int = 48
    outputs: str = "logits"

    def options(self) -> dict:
        """The flags as ``load_checkpoint`` keyword arguments."""
        out, flags = {}, list(self.flags)
        while flags:
            flag = flags.pop(0)[2:].replace("-", "_")
            if flag == "trust":
                out["trust"] = True
            elif flag == "arch_arg":
                out.setdefault("arch_args", []).append(flags.pop(0))
            else:
                out[flag] = flags.pop(0)
        return out


def build_zoo(folder: Path) -> dict[str, Entry]:
    """Write every zoo network into `folder` (tiny: the whole zoo takes well under a second)."""
    fer = ("--classes", "fer2013")
    return {
        "view": Entry(save_state_dict(folder / "view.pt", make_net()),
                      ("--arch", "zoo-view", *fer, "--normalize", "unit")),
        "torchscript": Entry(save_torchscript(folder / "view.ts", make_net()),
                             ("--trust", *fer, "--normalize", "unit"), kind="torchscript"),
        "export": Entry(save_exported(folder / "view.pt2", make_net()),
                        ("--trust", *fer, "--normalize", "unit"), kind="torch.export"),
        "rgb64": Entry(save_state_dict(folder / "rgb64.pt", make_net(in_channels=3, input_size=64, seed=1)),
                       ("--arch", "zoo-view", *fer, "--normalize", "signed", "--channels", "3", "--size", "64"),
                       channels=3, size=64),
        "five": Entry(save_state_dict(folder / "five.pt", make_net(num_classes=5, width=3, seed=2)),
                      ("--arch", "zoo-view", "--arch-arg", "width=3", "--classes", ",".join(FIVE),
                       "--normalize", "standard:127.5,63.75"), classes=FIVE),
        "probabilities": Entry(save_state_dict(folder / "probabilities.pt", make_net(ProbabilityNet, seed=3)),
                               ("--arch", "zoo-probabilities", *fer, "--normalize", "none"),
                               outputs="probabilities"),
    }


def zoo_faces(classes: tuple[str, ...], per_class: int = 5, seed: int = 0) -> Dataset:
    """Random 48x48 faces, `per_class` of each class, as a labelled test split."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(classes)), per_class)
    images = rng.integers(0, 256, size=(len(labels), 48, 48), dtype=np.uint8)
    return Dataset(images, labels, classes, split="test", source=f"zoo faces ({len(classes)} classes)")
