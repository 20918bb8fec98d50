import pytest
import torch

from ferviz import registry
from ferviz.model.build import build_model
from ferviz.errors import UnknownNameError
from ferviz.model.summary import counts, format_summary, layer_table


def test_seed_vgg_has_the_reports_exact_size():
    net = build_model("seed-vgg")
    assert counts(net) == (1_872_327, 2_816)


def test_seed_vgg_shapes_follow_the_report():
    rows = {r["name"]: r["shape"] for r in layer_table(build_model("seed-vgg"))}
    sizes = [rows[f"features.{n}"][-1] for n in
             ("conv1", "conv2", "pool1", "conv3", "conv4", "pool2", "conv5", "conv6", "pool3")]
    assert [48] + sizes == [48, 48, 46, 23, 23, 21, 10, 10, 8, 4]
    assert rows["classifier.flatten"] == (2048,)
    assert rows["classifier.fc3"] == (7,)


def test_block_two_has_no_batchnorm_and_relus_are_named():
    names = dict(build_model("seed-vgg").named_modules())
    assert "features.bn3" not in names and "features.bn4" not in names
    assert {"features.bn1", "features.bn6", "features.relu2", "features.conv2"} <= set(names)
    assert not any(getattr(m, "inplace", False) for m in names.values())


def test_xavier_uniform_init_and_zero_bias():
    torch.manual_seed(0)
    conv = build_model("seed-vgg").features.conv2
    fan_in, fan_out = 64 * 9, 64 * 9
    bound = (6 / (fan_in + fan_out)) ** 0.5
    assert conv.weight.abs().max() <= bound
    assert conv.weight.abs().max() > 0.9 * bound
    assert torch.all(conv.bias == 0)


def test_summary_table_ends_with_the_keras_counts():
    text = format_summary(build_model("seed-vgg"), "seed-vgg")
    assert "Total params: 1,875,143" in text
    assert "Trainable params: 1,872,327" in text
    assert "Non-trainable params: 2,816" in text


@pytest.mark.parametrize("channels", [1, 3])
def test_tiny_resnet_takes_gray_and_colour(channels):
    net = build_model("tiny-resnet", in_channels=channels, num_classes=5, width=8).eval()
    assert net(torch.zeros(2, channels, 48, 48)).shape == (2, 5)
    assert any(m.groups > 1 for m in net.modules() if isinstance(m, torch.nn.Conv2d))


def test_unknown_model_lists_known_ones():
    with pytest.raises(UnknownNameError, match="seed-vgg"):
        build_model("vgg-9000")
    assert {"seed-vgg", "tiny-resnet"} <= set(registry.models())


def test_cheap_dropout_keeps_one_minus_p_scaled_and_matches_torch_elsewhere():
    from ferviz.models.vgg import Dropout

    torch.manual_seed(0)
    x = torch.ones(64, 32, 24, 24).to(memory_format=torch.channels_last)
    for p in (0.25, 1 / 3):
        drop = Dropout(p).train()
        out = drop(x.requires_grad_(True))
        kept = out != 0
        assert abs(kept.float().mean().item() - (1 - p)) < 0.003  # 1.2 M draws: 4 standard errors ~ 0.0017
        assert torch.allclose(out[kept], torch.full_like(out[kept], 1 / (1 - p)))
        (grad,) = torch.autograd.grad(out.sum(), x)
        assert torch.equal(grad, out.detach())  # d out / d x: the same mask and scale
        per_channel = kept.float().mean(dim=(0, 2, 3))  # memory order mapped back: no channel left out
        assert per_channel.min() > 1 - p - 0.02 and per_channel.max() < 1 - p + 0.02
    torch.manual_seed(1)
    a = Dropout(0.25).train()(x.detach())
    torch.manual_seed(1)
    assert torch.equal(a, Dropout(0.25).train()(x.detach()))  # seeded like torch's
    assert torch.equal(Dropout(0.25).eval()(x.detach()), x.detach())
    strided = torch.ones(8, 8)[:, ::2]  # not dense: torch's own dropout
    assert Dropout(0.5).train()(strided).shape == (8, 4)


def test_seed_vgg_still_scripts_and_keeps_dropout_names():
    from ferviz.models.vgg import Dropout

    net = build_model("seed-vgg")
    assert isinstance(net.features.drop1, Dropout) and isinstance(net.features.drop1, torch.nn.Dropout)
    scripted = torch.jit.script(net.eval())
    x = torch.rand(2, 1, 48, 48)
    assert torch.allclose(scripted(x), net(x))
