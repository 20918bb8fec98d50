"""The seed network of the original FER2013 report: a small VGG.

Three blocks of two 3x3 convolutions (64-64, 128-128, 128-128). In each block the first conv
pads ("same"), the second does not ("valid"). BatchNorm between conv and ReLU everywhere except
block 2. MaxPool 2x2 + Dropout(0.25) after each block, then
Flatten (2048) -> Dense 512 -> BN -> ReLU -> Dropout(1/3) -> Dense 512 -> BN -> ReLU ->
Dropout(1/3) -> Dense 7. 1,872,327 parameters plus 2,816 BatchNorm running-statistic values,
the 1,875,143 that Keras counted.

Spatial sizes for a 48x48 input: 48 -> 48 -> 46 -> 23 -> 23 -> 21 -> 10 -> 10 -> 8 -> 4.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from ferviz.registry import hookimpl


class Dropout(nn.Dropout):
    """``nn.Dropout`` whose training mask costs a quarter of the random numbers on the CPU.

    torch's CPU dropout draws one random number per element (``bernoulli_``), which took 15% of a
    bf16 training step of this network. Here one 64-bit random word gives four 16-bit uniforms:
    an element is kept when its uniform is at least round(p * 65536) / 65536, so p is applied to
    within 1/65536 (0.25 exactly; 1/3 as 0.33333), and the kept ones are scaled by 1/(1-p) as
    torch does. The same module, state dict and names as ``nn.Dropout``; in eval mode, on other
    devices, in TorchScript and for tensors that are not dense, it is torch's dropout.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (self.training and 0 < self.p < 1 and x.device.type == "cpu" and not torch.jit.is_scripting()
                and (x.is_contiguous() or x.is_contiguous(memory_format=torch.channels_last))):
            return self._cheap(x)
        return F.dropout(x, self.p, self.training, self.inplace)

    @torch.jit.unused
    def _cheap(self, x: torch.Tensor) -> torch.Tensor:
        n = x.numel()
        words = torch.empty((n + 3) // 4, dtype=torch.int64).random_(-2 ** 63, None)  # every bit uniform
        keep = words.view(torch.int16)[:n] >= round(self.p * 65536) - 32768  # as unsigned: u >= p * 2^16
        keep = keep.as_strided(x.shape, x.stride())  # memory order, like x (channels-last or not)
        return x * keep * (1.0 / (1.0 - self.p))


def _conv_block(index: int, c_in: int, c_out: int, batchnorm: bool) -> list[tuple[str, nn.Module]]:
    """Two 3x3 convs (same, then valid padding), each [BN] + ReLU, then pool and dropout."""
    layers: list[tuple[str, nn.Module]] = []
    for k, (cin, padding) in enumerate(((c_in, 1), (c_out, 0))):
        n = 2 * index + k + 1  # conv1..conv6, so layer names match the report's numbering
        layers.append((f"conv{n}", nn.Conv2d(cin, c_out, 3, padding=padding)))
        if batchnorm:
            layers.append((f"bn{n}", nn.BatchNorm2d(c_out)))
        layers.append((f"relu{n}", nn.ReLU()))  # not inplace: hooks and attributions need it
    layers.append((f"pool{index + 1}", nn.MaxPool2d(2)))
    layers.append((f"drop{index + 1}", Dropout(0.25)))
    return layers


class SeedVGG(nn.Module):
    """The report's VGG-like CNN. Input (N, C, S, S) preprocessed floats; output (N, classes) logits."""

    def __init__(self, num_classes: int = 7, in_channels: int = 1, input_size: int = 48, width: int = 1):
        super().__init__()
        c1, c2, hidden = 64 * width, 128 * width, 512 * width
        layers = (
            _conv_block(0, in_channels, c1, batchnorm=True)
            + _conv_block(1, c1, c2, batchnorm=False)
            + _conv_block(2, c2, c2, batchnorm=True)
        )
        self.features = nn.Sequential(OrderedDict(layers))
        size = input_size
        for _ in range(3):
            size = (size - 2) // 2  # "valid" conv then 2x2 pool
        self.classifier = nn.Sequential(OrderedDict([
            ("flatten", nn.Flatten()),                      # (N, 128*4*4 = 2048)
            ("fc1", nn.Linear(c2 * size * size, hidden)),
            ("bn_fc1", nn.BatchNorm1d(hidden)),
            ("relu_fc1", nn.ReLU()),
            ("drop_fc1", Dropout(1 / 3)),
            ("fc2", nn.Linear(hidden, hidden)),
            ("bn_fc2", nn.BatchNorm1d(hidden)),
            ("relu_fc2", nn.ReLU()),
            ("drop_fc2", Dropout(1 / 3)),
            ("fc3", nn.Linear(hidden, num_classes)),
        ]))
        xavier_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))  # (N, C, H, W) -> (N, classes)


def xavier_init(module: nn.Module) -> None:
    """Keras's defaults: Xavier-uniform weights and zero biases for conv and dense layers."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


@hookimpl
def register_models(register):
    register("seed-vgg", SeedVGG)
