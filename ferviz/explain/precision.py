"""Which part of a gradient explainer runs in bf16: the whole pass, all but the input layer, or the backward.

bf16 autocast of a whole forward and backward pass changes a raw gradient map more than the
tests allow (tests/explain/test_bf16.py: Spearman >= 0.99 and top-10% overlap >= 0.9 per face
against fp32, on the shipped FER2013 model). Measured there, per layer: the forward pass is what
matters. A bf16 forward moves pre-activations across zero and changes max-pool winners, so the
gradient is routed differently; the first layer, which reads the 0-255 pixels, matters most
(bf16 keeps 8 bits of a pixel value). The backward pass in bf16, with the same ReLU and max-pool
decisions, changes saliency by less than 1e-4 in Spearman. So an explainer declares a
``bf16_scope``:

- ``"all"``: bf16 autocast of forward and backward (occlusion, SmoothGrad, guided backprop);
- ``"past-input"``: autocast, except the first conv or linear layer, which runs in fp32 on the
  fp32 pixels (integrated gradients: its 50 steps average out what is left);
- ``"backward"``: the forward pass exactly as in fp32 (bit for bit); conv and linear layers
  compute their input gradients in bf16, and everything between them stays fp32 (saliency).

:func:`bf16_scoped` applies a scope to an explainer's own frozen copy of the network (such as
:func:`~ferviz.explain.folded`'s); ``"all"`` needs no copy, since the explainer's ``compute`` runs
inside autocast.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: The values of an explainer's ``bf16_scope``.
BF16_SCOPES = ("all", "past-input", "backward")


def bf16_scoped(net: nn.Module, scope: str, device: torch.device) -> nn.Module:
    """`net` (an explainer's own eager, frozen copy) made to run its `scope` in bf16, in place; returned.

    A TorchScript or torch.export program (``net.eager`` false) cannot be changed layer by layer,
    so it is returned as it is, and runs in fp32.
    """
    if scope not in BF16_SCOPES:
        raise ValueError(f"bf16_scope must be one of {', '.join(BF16_SCOPES)}, not {scope!r}")
    if scope == "all" or not getattr(net, "eager", True):
        return net
    layers = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    if any(p.requires_grad for p in net.parameters()):
        raise ValueError("bf16_scoped needs frozen parameters: it computes input gradients only")
    if scope == "past-input":
        if layers:
            _run_in_fp32(layers[0], device)
        _run_in_autocast(net, device)
    else:
        for layer in layers:
            _backward_in_bf16(layer)
    return net


def _run_in_autocast(module: nn.Module, device: torch.device) -> None:
    forward = module.forward

    def autocast_forward(*args, **kwargs):
        with torch.autocast(device.type, dtype=torch.bfloat16):
            out = forward(*args, **kwargs)
        return out.float() if isinstance(out, torch.Tensor) and out.is_floating_point() else out

    module.forward = autocast_forward


def _run_in_fp32(module: nn.Module, device: torch.device) -> None:
    forward = module.forward

    def fp32_forward(x, *args, **kwargs):
        with torch.autocast(device.type, enabled=False):
            return forward(x.float(), *args, **kwargs)

    module.forward = fp32_forward


class _Conv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, low, conf):
        ctx.shape, ctx.conf = x.shape, conf
        ctx.save_for_backward(low)
        stride, padding, dilation, groups = conf
        return F.conv2d(x, weight, bias, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx, grad):
        (low,) = ctx.saved_tensors
        stride, padding, dilation, groups = ctx.conf
        grad_in = torch.nn.grad.conv2d_input(ctx.shape, low, grad.to(torch.bfloat16), stride, padding, dilation, groups)
        return grad_in.float(), None, None, None, None


class _Linear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, low):
        ctx.save_for_backward(low)
        return F.linear(x, weight, bias)

    @staticmethod
    def backward(ctx, grad):
        (low,) = ctx.saved_tensors
        return (grad.to(torch.bfloat16) @ low).float(), None, None, None


def _backward_in_bf16(layer: nn.Module) -> None:
    """`layer` (Conv2d or Linear) forward in fp32 as usual; its input gradient a bf16 product, returned in fp32."""
    low = layer.weight.detach().to(torch.bfloat16)
    if isinstance(layer, nn.Linear):
        layer.forward = lambda x: _Linear.apply(x, layer.weight, layer.bias, low)
        return
    if layer.padding_mode != "zeros" or isinstance(layer.padding, str):
        return  # padded by hand or 'same': left in fp32 (none in the built-in models)
    if layer.weight.is_contiguous(memory_format=torch.channels_last):
        low = low.contiguous(memory_format=torch.channels_last)
    conf = (layer.stride, layer.padding, layer.dilation, layer.groups)
    layer.forward = lambda x: _Conv.apply(x, layer.weight, layer.bias, low, conf)
