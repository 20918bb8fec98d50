"""The one layer probe: run a network once on a probe image and see what each layer gives.

`probe` hooks the named layers, runs one forward pass in eval mode without gradients, and
removes every hook again; the model summary (:mod:`ferviz.model.summary`) and layer choices
(Grad-CAM's default layer, the assessment's layer list) read its calls. Hooks see only the
layers of an eager network; TorchScript and torch.export networks are refused before.
"""

from __future__ import annotations

import torch
from torch import nn


def leaf_layers(net: nn.Module) -> dict[str, nn.Module]:
    """Module name (``features.conv2``) -> module, for every leaf layer (a module without children) of `net`."""
    return {name: m for name, m in net.named_modules() if name and not list(m.children())}


def probe(run: nn.Module, x: torch.Tensor, layers: dict[str, nn.Module]) -> list[tuple[str, nn.Module, torch.Tensor]]:
    """(name, module, output) for every call of a module of `layers` whose output is a tensor, in the
    order the forward pass of `run` on `x` makes them (a module run twice is listed twice).

    `run` goes in eval mode without gradients, and gets its training mode back; every hook is
    removed afterwards, also when the forward pass fails.
    """
    calls: list[tuple[str, nn.Module, torch.Tensor]] = []
    handles = []

    def hook(name):
        def record(module, _inputs, output):
            if isinstance(output, torch.Tensor):
                calls.append((name, module, output))
        return record

    was_training = run.training
    try:
        for name, module in layers.items():
            handles.append(module.register_forward_hook(hook(name)))
        run.eval()
        with torch.no_grad():
            run(x)
    finally:
        run.train(was_training)
        for handle in handles:
            handle.remove()
    return calls


def layer_outputs(model) -> list[tuple[str, tuple[int, ...]]]:
    """(module name, output shape) of every named module of a LoadedModel, in the order the forward
    pass runs them.

    One probe image (a flat grey face) goes through the model, its preprocessing included. A
    module run twice is listed once, at its first call. UnsupportedModelError for a TorchScript
    or torch.export network (no hooks there).
    """
    model.require_eager("a layer probe")
    x = torch.full((1, model.in_channels, model.input_size, model.input_size), 128.0, device=model.device)
    seen: dict[str, tuple[int, ...]] = {}
    for name, _, output in probe(model, x, {name: m for name, m in model.net.named_modules() if name}):
        seen.setdefault(name, tuple(output.shape))
    return list(seen.items())
