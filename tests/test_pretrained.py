"""Pretrained checkpoints by name: resolution through the plugin hook, SHA-256 refusal, packing."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from ferviz import registry
from ferviz.model.checkpoint import load_checkpoint, read_checkpoint_dict, save_checkpoint
from ferviz.cli import main
from ferviz.errors import CheckpointError, FervizError
from ferviz.model.pack import map_fidelity, pack_checkpoint
from ferviz.model.pretrained import Pretrained, file_sha256
from ferviz.registry import hookimpl
from tests.assess.helpers import train
from tests.conftest import make_bars, make_loaded


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def trained_seed_vgg():
    """The seed VGG after a few epochs on the bars set: real, uneven weights (not an initialisation)."""
    bars = make_bars(448, 0)
    return train(make_loaded(), bars.images, bars.labels, epochs=3)


class ShipsOne:
    """A third-party-style plugin that ships one checkpoint file."""

    def __init__(self, entry):
        self.entry = entry

    @hookimpl
    def register_pretrained(self, register):
        register(self.entry)


@pytest.fixture
def shipped(tmp_path, trained_seed_vgg):
    """A packed checkpoint registered in-process as ``bars-vgg`` (unregistered after the test)."""
    path = tmp_path / "pkg" / "bars-vgg.pt"
    path.parent.mkdir()
    pack_src = tmp_path / "src.pt"
    save_checkpoint(pack_src, trained_seed_vgg, history=[], train_config={"val_fraction": 0.1, "split_seed": 0})
    result = pack_checkpoint(pack_src, path)
    entry = Pretrained("bars-vgg", path, result.sha256, arch="seed-vgg", data="bars (a test set)",
                       metrics={"val_accuracy": 0.5}, summary="a test model", card="docs/none.md")
    registry.reset()
    registry.get_plugin_manager().register(ShipsOne(entry), name="ships-one")
    yield entry
    registry.reset()


def test_a_name_loads_the_registered_file(shipped):
    model = load_checkpoint("bars-vgg")
    assert model.arch == "seed-vgg" and model.source == str(shipped.path)
    stored = read_checkpoint_dict(shipped.path)
    assert stored["storage"] == "int16" and stored["state_dict"]["features.conv1.weight"].dtype == torch.int16
    assert {p.dtype for p in model.net.parameters()} == {torch.float32}  # 16-bit storage, float32 compute


def test_every_checkpoint_command_takes_the_name(shipped):
    result = run("evaluate", "bars-vgg", "--data", "synthetic:count=70,val=0,test=14")
    assert result.exit_code == 0, result.output
    assert "bars-vgg: accuracy" in result.output
    result = run("models", "layers", "bars-vgg")
    assert result.exit_code == 0 and "features.conv1" in result.output


def test_models_list_shows_pretrained_with_data_and_accuracy(shipped):
    result = run("models", "list")
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if "bars-vgg" in line)
    assert "bars (a test set)" in line and "val accuracy 0.500" in line and "ships-one" in line
    listed = json.loads(run("models", "list", "--json").output)
    assert listed["pretrained"]["bars-vgg"]["sha256"] == shipped.sha256
    assert "seed-vgg" in listed["architectures"]


def test_a_changed_file_is_refused(shipped):
    data = bytearray(shipped.path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit, in the middle of the weights
    shipped.path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="fails its SHA-256 check"):
        load_checkpoint("bars-vgg")
    result = run("explain", "-m", "saliency", "--checkpoint", "bars-vgg", "--data", "synthetic:count=14",
                 "--out", shipped.path.parent / "o")
    assert result.exit_code != 0 and "SHA-256" in result.output and "Traceback" not in result.output


def test_an_unknown_name_lists_the_known_ones(shipped):
    with pytest.raises(CheckpointError, match="no pretrained model has that name.*bars-vgg"):
        load_checkpoint("bars-vgg2")


def test_an_existing_path_wins_over_a_name(shipped, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    save_checkpoint(tmp_path / "bars-vgg", make_loaded(arch="tiny-resnet", width=8))
    assert load_checkpoint("bars-vgg").arch == "tiny-resnet"


@pytest.mark.parametrize("storage", ["int16", "float16"])
def test_sixteen_bit_storage_keeps_the_maps(tmp_path, trained_seed_vgg, storage):
    """The issue's bar: maps of the 16-bit copy match the float32 model's, Spearman >= 0.999 on 50
    faces (mean over faces), for saliency (raw gradients, the most sensitive) and integrated
    gradients. The least face is held to 0.99: on this toy model a third of a face's saliency
    is near zero, where any weight change (1e-4 relative gives 0.997) reorders pixels."""
    src = tmp_path / "fp32.pt"
    save_checkpoint(src, trained_seed_vgg)
    faces = make_bars(50, 7).images
    result = pack_checkpoint(src, tmp_path / f"{storage}.pt", faces=faces, storage=storage)
    assert read_checkpoint_dict(result.path)["storage"] == storage
    assert result.bytes < 0.55 * src.stat().st_size
    for method in ("saliency", "integrated-gradients"):
        assert result.spearman[method]["faces"] == 50
        assert result.spearman[method]["mean"] >= 0.999, result.spearman
        assert result.spearman[method]["min"] >= 0.99, result.spearman
    # the fidelity measure itself can fail: a model with other weights is far from 0.999
    other = map_fidelity(trained_seed_vgg, make_loaded(seed=5), faces, methods=("saliency",))
    assert other["saliency"]["mean"] < 0.9


def test_int16_weights_are_per_channel_scaled_and_checked(tmp_path, trained_seed_vgg):
    src, packed = tmp_path / "fp32.pt", tmp_path / "int16.pt"
    save_checkpoint(src, trained_seed_vgg)
    pack_checkpoint(src, packed)
    original = trained_seed_vgg.net.state_dict()
    loaded = load_checkpoint(packed).net.state_dict()
    for name, w in original.items():
        if w.is_floating_point() and w.ndim >= 2:  # within half a quantisation step of each channel
            peak = w.abs().reshape(len(w), -1).amax(1)
            # + float32 rounding of q x scale: a few ulps of the channel's largest weight
            bound = peak / 32767 / 2 + 4 * peak * torch.finfo(torch.float32).eps
            assert ((loaded[name] - w).abs().reshape(len(w), -1).amax(1) <= bound).all(), name
        else:
            assert torch.equal(loaded[name], w), name  # vectors stay float32, exactly
    raw = read_checkpoint_dict(packed)
    raw["scales"]["classifier.fc1.weight"] = raw["scales"]["classifier.fc1.weight"] * 2  # a changed scale
    torch.save(raw, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        load_checkpoint(tmp_path / "bad.pt")


def test_pack_writes_nothing_when_fidelity_falls_short(tmp_path, trained_seed_vgg):
    src = tmp_path / "fp32.pt"
    save_checkpoint(src, trained_seed_vgg, resume={"optimizer": {}})
    with pytest.raises(FervizError, match="changes the maps too much"):
        pack_checkpoint(src, tmp_path / "out.pt", faces=make_bars(4, 3).images, min_spearman=1.01)
    assert list(tmp_path.iterdir()) == [src]


def test_pack_cli_drops_resume_state_and_prints_the_digest(tmp_path, trained_seed_vgg):
    src = tmp_path / "last.pt"
    save_checkpoint(src, trained_seed_vgg, resume={"optimizer": {}}, history=[{"epoch": 1}])
    out = tmp_path / "release.pt"
    result = run("models", "pack", src, "--out", out, "--data", "synthetic:count=20,val=0,test=14", "--faces", "6")
    assert result.exit_code == 0, result.output
    assert f"sha256 {file_sha256(out)}" in result.output and "saliency: Spearman" in result.output
    packed = read_checkpoint_dict(out)
    assert "resume" not in packed and packed["history"] == [{"epoch": 1}]
    again = run("models", "pack", src, "--out", out)
    assert again.exit_code != 0 and "--overwrite" in again.output


def test_the_shipped_fer2013_model_is_registered_and_verifies():
    entry = registry.pretrained()["fer2013-seed-vgg"]
    model = load_checkpoint("fer2013-seed-vgg")
    assert model.arch == "seed-vgg" and model.input_size == 48 and len(model.class_names) == 7
    assert entry.path.stat().st_size < 4_000_000
    best = max(h["val_accuracy"] for h in model.meta["history"])  # as validated while training
    assert np.isclose(entry.metrics["val_accuracy"], best, atol=0.003)
    assert entry.metrics["val_accuracy"] >= 0.66  # the bar for the shipped single model
