"""The speed-ups change nothing but speed: folded BatchNorm and channels-last give the same maps."""

import pytest
import torch

from ferviz.explain import explaining, folded

from tests.conftest import make_loaded

pytestmark = pytest.mark.numerics  # float results: CI runs them again on another ISA and thread count


def _with_running_stats(model):
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.3)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return model


def _input_grad(model, x, t):
    x = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(model(x).gather(1, t.view(-1, 1)).sum(), x)
    return g


def test_folded_copy_gives_the_same_outputs_and_gradients():
    model = _with_running_stats(make_loaded(seed=1)).eval()
    fast = folded(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())  # original untouched
    x = torch.rand(6, 1, 48, 48) * 255
    t = torch.arange(6) % 7
    with torch.no_grad():
        assert torch.allclose(fast(x), model(x), atol=1e-4, rtol=1e-4)
    with explaining(model):
        slow = _input_grad(model, x, t)
    quick = _input_grad(fast, x, t)
    assert torch.allclose(quick, slow, atol=1e-6 + 1e-4 * slow.abs().max().item())


def test_explaining_restores_memory_format_and_flags():
    model = make_loaded(seed=2).train()
    with explaining(model):
        assert not model.training
        assert model.net.features.conv2.weight.is_contiguous(memory_format=torch.channels_last)
        assert not any(p.requires_grad for p in model.parameters())
    assert model.training
    assert model.net.features.conv2.weight.is_contiguous()
    assert all(p.requires_grad for p in model.parameters())
