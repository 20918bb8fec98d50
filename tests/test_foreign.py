"""Checkpoints ferviz did not write: what the user declares, and what ferviz checks at load.

The zoo test (tests/test_zoo.py) runs every command on such networks; this file pins the
loader's own promises: both normalisation numbers, class shorthands, architecture arguments,
class count against output size (both numbers), torch.export programs (fixed or dynamic batch),
probabilities, and channels-last only where it works.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from ferviz import FER2013_CLASSES, registry
from ferviz.model.checkpoint import load_checkpoint, save_checkpoint
from ferviz.model.loaded import LoadedModel
from ferviz.cli import main
from ferviz.model.declared import parse_arch_args, parse_classes
from ferviz.errors import CheckpointError, OptionError
from ferviz.explain import channels_last_works, explaining, folded
from ferviz.model.preprocessing import Preprocessing
from ferviz.registry import hookimpl
from tests.conftest import make_loaded
from tests.zoo import FIVE, ViewNet, ZooModels, make_net, save_exported, save_state_dict, save_torchscript

FER = {"classes": "fer2013", "normalize": "unit"}


@pytest.fixture(autouse=True)
def zoo_architectures():
    registry.reset()
    registry.get_plugin_manager().register(ZooModels(), name="zoo")
    yield
    registry.reset()


# ----------------------------------------------------------------------------- declared options
@pytest.mark.parametrize("text, expected", [
    ("standard:127.5,63.75", ("standard", 127.5, 63.75)),
    ("Standard: 100 , 50", ("standard", 100.0, 50.0)),
    ("signed", ("standard", 127.5, 127.5)),
    ("unit", ("unit", 0.0, 1.0)),
    ("none", ("none", 0.0, 1.0)),
])
def test_normalize_forms(text, expected):
    p = Preprocessing.parse(text)
    assert (p.mode, p.mean, p.std) == expected


def test_signed_is_the_range_minus_one_to_one():
    assert Preprocessing.parse("signed")(torch.tensor([0.0, 127.5, 255.0])).tolist() == [-1.0, 0.0, 1.0]


@pytest.mark.parametrize("text, message", [
    ("standard:127.5", "expected standard:MEAN,STD"),  # std missing: never a silent 1
    ("standard", "expected standard:MEAN,STD"),
    ("standard:,64", "expected standard:MEAN,STD"),
    ("standard:a,b", "MEAN and STD must be numbers"),
    ("standard:nan,1", "finite"),
    ("standard:128,0", "std > 0"),
    ("standard:0.5,0.5", "standard:127.5,127.5"),  # 0-1 numbers: refused, with the 0-255 ones
    ("minmax", "expected standard:MEAN,STD"),
])
def test_normalize_refusals_say_what_to_write(text, message):
    with pytest.raises(OptionError, match=message):
        Preprocessing.parse(text)


def test_class_shorthands_and_arch_args():
    assert parse_classes("fer2013") == FER2013_CLASSES
    assert parse_classes("alphabetical") == ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
    assert parse_classes(" A, b ,c ") == ("a", "b", "c")
    with pytest.raises(OptionError, match="a appear"):
        parse_classes("a,b,a")
    assert parse_arch_args(["width=3", "name=wide", "flag=true", "rates=[0.5, 1]"]) == {
        "width": 3, "name": "wide", "flag": True, "rates": [0.5, 1]}
    for bad in (["width"], ["=3"], ["two words=1"]):
        with pytest.raises(OptionError, match="KEY=VALUE"):
            parse_arch_args(bad)


def test_cli_checks_the_flags_before_loading_anything(tmp_path):
    missing = tmp_path / "missing.pt"  # never opened: the flags fail first
    for flags, text in ((["--normalize", "standard:127.5"], "standard:MEAN,STD"),
                        (["--classes", "a,a"], "each class once"),
                        (["--arch-arg", "width"], "KEY=VALUE")):
        result = CliRunner().invoke(main, ["evaluate", str(missing), "--data", "synthetic", *flags])
        assert result.exit_code == 2 and text in result.stderr and "no such file" not in result.stderr


# ----------------------------------------------------------------------------- state_dicts
def test_state_dict_with_arch_args_size_channels_and_alphabetical_classes(tmp_path):
    net = make_net(in_channels=3, input_size=64, width=3)
    path = save_state_dict(tmp_path / "rgb.pt", net)
    model = load_checkpoint(path, arch="zoo-view", arch_args=["width=3"], size="64", channels=3,
                            classes="alphabetical", normalize="signed")
    assert (model.in_channels, model.input_size) == (3, 64)
    assert model.class_names == tuple(sorted(FER2013_CLASSES))
    assert model.arch_args == {"width": 3, "num_classes": 7, "in_channels": 3, "input_size": 64}
    faces = np.random.default_rng(0).integers(0, 256, (2, 48, 48), dtype=np.uint8)
    with torch.no_grad():
        x = model.pixels(faces)  # grey faces, resized to 64 and repeated over 3 channels
        assert x.shape == (2, 3, 64, 64)
        torch.testing.assert_close(model(x), net((x - 127.5) / 127.5))


def test_a_wrong_class_count_gives_both_numbers(tmp_path):
    five = make_net(num_classes=5)
    plain = save_state_dict(tmp_path / "five.pt", five)
    with pytest.raises(CheckpointError, match="its weights give 5 outputs per image .*but there are 7 class names"):
        load_checkpoint(plain, arch="zoo-view", **FER)
    script = save_torchscript(tmp_path / "five.ts", five)
    with pytest.raises(CheckpointError, match="the network gives 5 outputs per image, but there are 7 class names"):
        load_checkpoint(script, trust=True, **FER)
    exported = save_exported(tmp_path / "five.pt2", five)
    with pytest.raises(CheckpointError, match="the network gives 5 outputs per image, but there are 7 class names"):
        load_checkpoint(exported, trust=True, **FER)
    with pytest.raises(CheckpointError, match="gives 5 outputs per image, but there are 7 class names"):
        load_checkpoint(plain, arch="zoo-view", arch_args={"num_classes": 5}, **FER)
    assert load_checkpoint(plain, arch="zoo-view", classes=",".join(FIVE), normalize="unit").class_names == FIVE


def test_a_weight_misfit_is_not_called_a_class_count(tmp_path):
    plain = save_state_dict(tmp_path / "wide.pt", make_net(num_classes=5, width=3))
    with pytest.raises(CheckpointError, match="weights do not fit architecture 'zoo-view'") as refused:
        load_checkpoint(plain, arch="zoo-view", classes=",".join(FIVE), normalize="unit")  # --arch-arg width=3 missing
    assert "class names" not in str(refused.value)


def test_size_flags_must_agree_with_arch_args(tmp_path):
    plain = save_state_dict(tmp_path / "v.pt", make_net())
    with pytest.raises(CheckpointError, match="--size 64, but --arch-arg input_size is 48"):
        load_checkpoint(plain, arch="zoo-view", arch_args=["input_size=48"], size=64, **FER)


def test_a_ferviz_checkpoint_says_it_ignores_declared_flags(tiny_checkpoint):
    with pytest.warns(UserWarning, match="carries its own classes, input and preprocessing; --classes, --normalize"):
        model = load_checkpoint(tiny_checkpoint, **FER)
    assert model.preprocessing == Preprocessing("standard", 128.0, 64.0)


# ----------------------------------------------------------------------------- TorchScript and torch.export
def test_torchscript_input_must_be_declared(tmp_path):
    path = save_torchscript(tmp_path / "rgb.ts", make_net(in_channels=3, input_size=64), channels=3, size=64)
    with pytest.raises(CheckpointError, match="fails on 1x48x48 input .*declare its input with --channels and --size"):
        load_checkpoint(path, trust=True, **FER)
    model = load_checkpoint(path, trust=True, channels=3, size=64, **FER)
    assert (model.kind, model.in_channels, model.input_size) == ("torchscript", 3, 64)


@pytest.mark.parametrize("dynamic", [False, True])
def test_exported_programs_run_any_batch_with_the_eager_gradients(tmp_path, dynamic):
    net = make_net(in_channels=3, input_size=64)
    path = save_exported(tmp_path / "e.pt2", net, channels=3, size=64, dynamic_batch=dynamic)
    with pytest.raises(CheckpointError, match="torch.export program, whose loading unpickles .*--trust"):
        load_checkpoint(path, **FER)
    with pytest.raises(CheckpointError, match="--size 48, but the program was exported for size 64"):
        load_checkpoint(path, trust=True, size=48, **FER)
    model = load_checkpoint(path, trust=True, **FER)  # channels and size come from the program
    assert (model.kind, model.in_channels, model.input_size) == ("torch.export", 3, 64)
    assert model.net.batch == (None if dynamic else 1)
    x = torch.rand(3, 3, 64, 64) * 255
    reference = x.clone().requires_grad_(True)
    expected = net(reference / 255)
    expected[:, 2].sum().backward()
    x.requires_grad_(True)
    out = model(x)
    out[:, 2].sum().backward()
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(x.grad, reference.grad)
    model.train()  # an exported program has one mode: train/eval leave it alone, and do not raise
    assert model.training and not model.eval().training


# ----------------------------------------------------------------------------- outputs
def test_declared_probabilities_are_checked(tmp_path):
    plain = save_state_dict(tmp_path / "logits.pt", make_net())
    with pytest.raises(CheckpointError, match="--outputs probabilities, but the network's outputs are not"):
        load_checkpoint(plain, arch="zoo-view", outputs="probabilities", **FER)
    with pytest.raises(OptionError, match="--outputs must be one of logits, probabilities"):
        load_checkpoint(plain, arch="zoo-view", outputs="scores", **FER)


def test_plugin_models_are_probed_too(tmp_path):
    path = tmp_path / "model.custom"
    path.write_bytes(b"a format only the plugin knows")

    class Reader:
        def __init__(self, answer):
            self.answer = answer

        @hookimpl
        def load_checkpoint(self, path, options):
            return self.answer

    registry.get_plugin_manager().register(Reader(object()), name="bad-reader")
    with pytest.raises(CheckpointError, match="returned a object, not a ferviz.model.LoadedModel"):
        load_checkpoint(path)
    registry.reset()
    wrong = LoadedModel(make_net(num_classes=5), FER2013_CLASSES, Preprocessing("unit"))
    registry.get_plugin_manager().register(Reader(wrong), name="five-reader")
    with pytest.raises(CheckpointError, match="gives 5 outputs per image, but there are 7 class names"):
        load_checkpoint(path)


# ----------------------------------------------------------------------------- channels-last
def test_channels_last_is_probed_once_and_falls_back(tmp_path):
    view = load_checkpoint(save_state_dict(tmp_path / "v.pt", make_net()), arch="zoo-view", **FER)
    assert not channels_last_works(view) and view._channels_last_works is False
    vgg = make_loaded()
    assert channels_last_works(vgg)
    x = view.pixels(np.zeros((2, 48, 48), np.uint8))
    with explaining(view):  # the .view network runs in the default format, and works
        assert view.net.conv1.weight.is_contiguous()
        view(x)
    fast = folded(view)
    assert fast.net.conv1.weight.is_contiguous()
    torch.testing.assert_close(fast(x), view(x))


def test_an_eager_net_that_differs_in_channels_last_is_not_run_in_it():
    class Strided(ViewNet):  # reads raw memory order: right in the default format only
        def forward(self, x):
            x = self.pool(self.relu1(self.conv1(x)))
            flat = torch.as_strided(x, (len(x), x[0].numel()), (x[0].numel(), 1))
            return flat[:, :7]

    torch.manual_seed(0)
    model = LoadedModel(Strided(), FER2013_CLASSES, Preprocessing("unit")).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert not channels_last_works(model)


def test_save_and_reload_of_a_foreign_state_dict_keeps_what_was_declared(tmp_path):
    plain = save_state_dict(tmp_path / "v.pt", make_net(in_channels=3, input_size=64))
    model = load_checkpoint(plain, arch="zoo-view", size=64, channels=3, classes="alphabetical", normalize="signed")
    again = load_checkpoint(save_checkpoint(tmp_path / "ferviz.pt", model))
    assert (again.arch, again.arch_args, again.class_names, again.preprocessing, again.input_size) == (
        model.arch, model.arch_args, model.class_names, model.preprocessing, 64)


def test_training_a_view_network_falls_back_from_channels_last(bars, tmp_path):
    from ferviz.train.config import TrainConfig
    from ferviz.train.trainer import Trainer

    train, val = bars
    config = TrainConfig(arch="zoo-view", arch_args={}, batch_size=64, epochs=1, patience=0, channels_last="auto")
    trainer = Trainer(config, train.subset(np.arange(128)), val, tmp_path / "run", progress=False, log=lambda s: None)
    assert trainer.channels_last is False and trainer.model.net.conv1.weight.is_contiguous()
    result = trainer.fit()
    assert len(result.history) == 1 and np.isfinite(result.history[0]["train_loss"])


def test_evaluate_and_predict_take_the_flags(tmp_path):
    """The commands that only score share the flags: a 64x64 RGB state_dict, and a TorchScript file."""
    import csv
    import json

    from ferviz.data import Dataset
    from ferviz.data.npzfile import save_npz

    rng = np.random.default_rng(0)
    save_npz(Dataset(rng.integers(0, 256, (14, 48, 48), dtype=np.uint8), np.arange(14) % 7, FER2013_CLASSES,
                     split="test"), tmp_path / "faces.npz")
    net = make_net(in_channels=3, input_size=64, width=3)
    plain = save_state_dict(tmp_path / "rgb.pt", net)
    script = save_torchscript(tmp_path / "rgb.ts", net, channels=3, size=64)
    flags = ["--classes", "alphabetical", "--normalize", "signed", "--size", "64", "--channels", "3"]
    runner = CliRunner()
    scored = runner.invoke(main, ["evaluate", str(plain), "--arch", "zoo-view", "--arch-arg", "width=3", *flags,
                                  "--data", str(tmp_path / "faces.npz"), "--json"])
    assert scored.exit_code == 0, scored.output
    accuracy = json.loads(scored.stdout)["results"][str(plain)]["accuracy"]
    model = load_checkpoint(plain, arch="zoo-view", arch_args=["width=3"], classes="alphabetical", normalize="signed",
                            size=64, channels=3)
    from ferviz.data.npzfile import load_npz
    from ferviz.model.evaluation import evaluate

    assert accuracy == evaluate(model, load_npz(tmp_path / "faces.npz")["test"]).accuracy
    predicted = runner.invoke(main, ["predict", str(script), "--trust", *flags, "--data", str(tmp_path / "faces.npz"),
                                     "--label-format", "name", "--out", str(tmp_path / "p.csv")])
    assert predicted.exit_code == 0, predicted.output
    rows = list(csv.DictReader((tmp_path / "p.csv").open()))
    expected = model.predict_proba(load_npz(tmp_path / "faces.npz")["test"].images).argmax(dim=1)
    assert [r["label"] for r in rows] == [model.class_names[i] for i in expected]
