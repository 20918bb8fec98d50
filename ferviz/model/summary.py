"""A Keras-like model summary: layer, output shape, parameters; trainable vs BN statistics."""

from __future__ import annotations

import torch
from torch import nn

from ferviz.model.layers import leaf_layers, probe


def layer_table(net: nn.Module, in_channels: int = 1, size: int = 48) -> list[dict]:
    """One row per call of a leaf layer on a black probe image: name, type, output shape (without
    batch), parameters, buffer values (:func:`ferviz.model.layers.probe`)."""
    device = next((p.device for p in net.parameters()), torch.device("cpu"))
    calls = probe(net, torch.zeros(1, in_channels, size, size, device=device), leaf_layers(net))
    return [{"name": name, "type": type(module).__name__, "shape": tuple(output.shape[1:]),
             "params": sum(p.numel() for p in module.parameters(recurse=False)),
             "buffers": sum(b.numel() for n, b in module.named_buffers(recurse=False) if n != "num_batches_tracked")}
            for name, module, output in calls]


def counts(net: nn.Module) -> tuple[int, int]:
    """(trainable parameters, non-trainable BN running-statistic values)."""
    trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
    stats = sum(b.numel() for n, b in net.named_buffers() if not n.endswith("num_batches_tracked"))
    return trainable, stats


def format_summary(net: nn.Module, title: str, in_channels: int = 1, size: int = 48) -> str:
    rows = layer_table(net, in_channels, size)
    header = f"{'Layer (type)':<34}{'Output Shape':<22}{'Param #':>12}"
    rule = "=" * len(header)
    lines = [f'Model: "{title}"', rule, header, rule]
    for r in rows:
        shape = "(None, " + ", ".join(str(s) for s in r["shape"]) + ")"
        lines.append(f"{r['name'] + ' (' + r['type'] + ')':<34}{shape:<22}{r['params'] + r['buffers']:>12,}")
    trainable, stats = counts(net)
    lines += [rule, f"Total params: {trainable + stats:,}", f"Trainable params: {trainable:,}",
              f"Non-trainable params: {stats:,} (BatchNorm running mean and variance)", "_" * len(header)]
    return "\n".join(lines)
