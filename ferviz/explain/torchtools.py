"""Torch helpers for explainers: eval-and-frozen runs, fast copies, layer hooks, batching, blur.

:func:`explaining` is what :meth:`~ferviz.explain.Explainer.run` wraps every explainer in (eval
mode, frozen parameters, channels-last on the CPU where the network gives the same outputs in it,
all restored afterwards). :func:`folded` is a BatchNorm-folded copy for explainers that need only
outputs and input gradients. :func:`capture_output` and :func:`forward_to` read one layer's output
(and may stop the forward pass there); :func:`chunks` batches a selection; :func:`gaussian_blur`
blurs (N, C, H, W) pixels.
"""

from __future__ import annotations

import copy
from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn


@contextmanager
def explaining(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode and frozen parameters for the duration; both restored afterwards.

    Frozen parameters mean backward passes compute input gradients only, no weight gradients.
    On the CPU the model also runs in channels-last memory format, which the convolutions
    there are faster in, when it works in that format (:func:`channels_last_works`); restored
    afterwards too.
    """
    was_training = model.training
    flags = [(p, p.requires_grad) for p in model.parameters()]
    model.eval()
    for p, _ in flags:
        p.requires_grad_(False)
    channels_last = _on_cpu(model) and not _is_channels_last(model) and channels_last_works(model)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    try:
        yield model
    finally:
        if channels_last:
            model.to(memory_format=torch.contiguous_format)
        for p, flag in flags:
            p.requires_grad_(flag)
        model.train(was_training)


def _on_cpu(model: nn.Module) -> bool:
    return all(p.device.type == "cpu" for p in model.parameters())


def _is_channels_last(model: nn.Module) -> bool:
    return any(p.dim() == 4 and p.is_contiguous(memory_format=torch.channels_last)
               and not p.is_contiguous() for p in model.parameters())


def channels_last_works(model: nn.Module) -> bool:
    """Whether `model` (a LoadedModel) gives the same outputs in channels-last memory format.

    Channels-last is an optimisation, never a requirement: a network that reshapes with ``.view``
    after a conv, or a TorchScript or torch.export program compiled for the default format,
    fails in it. The model is probed once, on two seeded noise images in eval mode without
    gradients, and the answer is remembered on it; on failure or different outputs it runs in the
    default format. A model without an input spec (``in_channels``, ``input_size``) is not probed.
    """
    known = getattr(model, "_channels_last_works", None)
    if known is not None:
        return known
    if not hasattr(model, "in_channels") or not hasattr(model, "input_size"):
        return False
    shape = (2, model.in_channels, model.input_size, model.input_size)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    probe = (torch.rand(shape, generator=torch.Generator().manual_seed(0)) * 255).to(device)
    was_training, was_channels_last = model.training, _is_channels_last(model)
    model.eval()
    works = False
    try:
        with torch.no_grad():
            model.to(memory_format=torch.contiguous_format)
            reference = model(probe)
            model.to(memory_format=torch.channels_last)
            out = model(probe)
        works = (isinstance(out, torch.Tensor) and isinstance(reference, torch.Tensor)
                 and out.shape == reference.shape
                 and bool(((out - reference).abs().max() <= 1e-3 * reference.abs().max() + 1e-5)))
    except Exception:  # noqa: BLE001  any failure of the user's network in this format means: do not use it
        works = False
    finally:
        model.to(memory_format=torch.channels_last if was_channels_last else torch.contiguous_format)
        model.train(was_training)
    model._channels_last_works = works
    return works


def folded(model: nn.Module, inplace_relu: bool = False) -> nn.Module:
    """A frozen eval-mode copy of `model` with each BatchNorm folded into the conv/linear before it.

    Gives the same outputs and input gradients (up to float rounding) with less work, for
    explainers that need only those (saliency, integrated gradients), not named layers. Works on
    ``nn.Sequential`` containers (the seed VGG); other layers are copied unchanged.
    `inplace_relu` makes its ``nn.ReLU`` layers overwrite their input (the same values, one
    tensor fewer per layer); not for explainers that hook the ReLUs (guided backprop).
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

    if not getattr(model, "eager", True):
        return model  # TorchScript or a torch.export program: its code is opaque, keep it as it is
    fast = copy.deepcopy(model).eval()
    for seq in [m for m in fast.modules() if isinstance(m, nn.Sequential)]:
        names = list(seq._modules)
        for prev, name in zip(names, names[1:]):
            a, b = seq._modules[prev], seq._modules[name]
            if isinstance(a, nn.Conv2d) and isinstance(b, nn.BatchNorm2d):
                seq._modules[prev], seq._modules[name] = fuse_conv_bn_eval(a, b), nn.Identity()
            elif isinstance(a, nn.Linear) and isinstance(b, nn.BatchNorm1d):
                seq._modules[prev], seq._modules[name] = fuse_linear_bn_eval(a, b), nn.Identity()
    for p in fast.parameters():
        p.requires_grad_(False)
    for relu in (m for m in fast.modules() if inplace_relu and isinstance(m, nn.ReLU)):
        relu.inplace = True
    if _on_cpu(fast) and channels_last_works(model):
        fast.to(memory_format=torch.channels_last)
    return fast


class LayerReached(Exception):
    """Raised by a stopping hook (``capture_output(stop=True)``) to end a forward pass early."""


@contextmanager
def capture_output(module: nn.Module, *, stop: bool = False) -> Iterator[dict]:
    """Record `module`'s latest forward output in ``store["output"]``; the hook is always removed.

    With ``stop=True`` the hook ends the forward pass there (the layers after it are not run);
    use :func:`forward_to` to run the model up to the layer.
    """
    store: dict = {}

    def hook(_module, _inputs, output):
        store["output"] = output
        if stop:
            raise LayerReached

    handle = module.register_forward_hook(hook)
    try:
        yield store
    finally:
        handle.remove()


def forward_to(model: nn.Module, pixels: torch.Tensor, store: dict):
    """Run `model` on `pixels` until the layer captured into `store` (see capture_output).

    Returns the layer's output, or None when the forward pass never reached the layer.
    """
    store.pop("output", None)
    try:
        model(pixels)
    except LayerReached:
        pass
    return store.get("output")


def chunks(n: int, size: int) -> Iterator[slice]:
    """Slices covering range(n) in pieces of at most `size`."""
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (N, C, H, W) with reflect padding (radius 3 sigma)."""
    if sigma <= 0:
        return x
    radius = max(1, min(int(3 * sigma + 0.5), min(x.shape[-2:]) - 1))
    t = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    kernel = kernel / kernel.sum()
    c = x.shape[1]
    x = nn.functional.pad(x, (radius, radius, radius, radius), mode="reflect")
    x = nn.functional.conv2d(x, kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return nn.functional.conv2d(x, kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
