"""A small residual network with depthwise-separable convolutions.

Differently shaped from the seed VGG (skip connections, depthwise convs, global pooling), so
explainers are proven on more than one architecture. Works on 1- or 3-channel input of any size
of at least 16 pixels.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from ferviz.registry import hookimpl


class SeparableBlock(nn.Module):
    """x + pointwise(depthwise(x)), with a strided 1x1 projection when the shape changes."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.depthwise = nn.Conv2d(c_in, c_in, 3, stride=stride, padding=1, groups=c_in, bias=False)
        self.bn1 = nn.BatchNorm2d(c_in)
        self.relu1 = nn.ReLU()
        self.pointwise = nn.Conv2d(c_in, c_out, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = (
            nn.Identity() if stride == 1 and c_in == c_out
            else nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))
        )
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.pointwise(self.relu1(self.bn1(self.depthwise(x)))))
        return self.relu2(y + self.shortcut(x))


class TinyResNet(nn.Module):
    """stem conv -> residual separable blocks -> global average pool -> linear."""

    def __init__(self, num_classes: int = 7, in_channels: int = 1, width: int = 32, depth: int = 3):
        super().__init__()
        blocks: list[tuple[str, nn.Module]] = [
            ("stem", nn.Conv2d(in_channels, width, 3, padding=1, bias=False)),
            ("stem_bn", nn.BatchNorm2d(width)),
            ("stem_relu", nn.ReLU()),
        ]
        c = width
        for i in range(depth):
            blocks.append((f"block{i + 1}", SeparableBlock(c, c * 2 if i else c, stride=2 if i else 1)))
            c = c * 2 if i else c
        self.features = nn.Sequential(OrderedDict(blocks))
        self.head = nn.Sequential(OrderedDict([
            ("pool", nn.AdaptiveAvgPool2d(1)),
            ("flatten", nn.Flatten()),
            ("fc", nn.Linear(c, num_classes)),
        ]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))  # (N, C, H, W) -> (N, classes)


@hookimpl
def register_models(register):
    register("tiny-resnet", TinyResNet)
