import os
import pickle
import zipfile

import pytest
import torch

from ferviz.model.checkpoint import FORMAT_VERSION, load_checkpoint, read_checkpoint_dict, save_checkpoint

from ferviz.model.loaded import LoadedModel
from ferviz.errors import CheckpointError, OutputError, UnknownNameError

from tests.conftest import make_loaded


@pytest.mark.numerics
def test_round_trip_gives_identical_outputs(tmp_path, random_faces):
    model = make_loaded(seed=3)
    path = save_checkpoint(tmp_path / "m.pt", model, history=[{"epoch": 1}], best_epoch=1)
    loaded = load_checkpoint(path)
    x = model.pixels(random_faces.images[:8])
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))  # exact: the same weights through the same kernels
    assert loaded.class_names == model.class_names
    assert loaded.preprocessing == model.preprocessing
    assert loaded.meta["history"] == [{"epoch": 1}]
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temporary file left behind


def test_checkpoint_holds_plain_types_only(tiny_checkpoint):
    ckpt = torch.load(tiny_checkpoint, weights_only=True)
    assert ckpt["format"] == "ferviz-checkpoint" and ckpt["version"] == FORMAT_VERSION
    assert ckpt["input"] == {"channels": 1, "size": 48}
    assert set(ckpt["preprocessing"]) == {"mode", "mean", "std"}


@pytest.mark.numerics
def test_loaded_model_works_in_pixel_space(tiny_checkpoint):
    model = load_checkpoint(tiny_checkpoint)
    x = torch.full((1, 1, 48, 48), 128.0)
    with torch.no_grad():
        assert torch.equal(model(x), model.net((x - 128.0) / 64.0))  # exact: 128 becomes 0.0 either way


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        load_checkpoint(tmp_path / "nope.pt")


def test_truncated_file_is_reported(tmp_path, tiny_checkpoint):
    data = tiny_checkpoint.read_bytes()
    bad = tmp_path / "cut.pt"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="unreadable or truncated") as caught:
        load_checkpoint(bad)
    # torch's message runs on for several sentences: ferviz keeps its first one, whole
    assert str(caught.value).endswith("(RuntimeError: PytorchStreamReader failed reading zip archive: failed "
                                      "finding central directory)")


def test_empty_file_is_called_empty(tmp_path):
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"empty.pt: the file is empty \(0 bytes\)"):
        load_checkpoint(tmp_path / "empty.pt")


def test_corrupted_tensor_fails_the_checksum(tmp_path, tiny_checkpoint):
    ckpt = torch.load(tiny_checkpoint, weights_only=True)
    ckpt["state_dict"]["features.conv1.weight"][0, 0, 0, 0] += 1.0
    torch.save(ckpt, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="checksum"):
        load_checkpoint(tmp_path / "bad.pt")


def test_newer_format_version_is_refused(tmp_path, tiny_checkpoint):
    ckpt = torch.load(tiny_checkpoint, weights_only=True)
    ckpt["version"] = FORMAT_VERSION + 1
    torch.save(ckpt, tmp_path / "new.pt")
    with pytest.raises(CheckpointError, match="newer"):
        load_checkpoint(tmp_path / "new.pt")


def test_other_architecture_weights_are_refused(tmp_path, tiny_checkpoint):
    ckpt = torch.load(tiny_checkpoint, weights_only=True)
    ckpt["arch"] = "tiny-resnet"
    ckpt["arch_args"] = {"num_classes": 7, "in_channels": 1}
    torch.save(ckpt, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="do not fit architecture 'tiny-resnet'"):
        load_checkpoint(tmp_path / "other.pt")


def test_unknown_architecture_lists_known(tmp_path, tiny_checkpoint):
    ckpt = torch.load(tiny_checkpoint, weights_only=True)
    ckpt["arch"] = "mystery-net"
    torch.save(ckpt, tmp_path / "mystery.pt")
    with pytest.raises(UnknownNameError, match="seed-vgg"):
        load_checkpoint(tmp_path / "mystery.pt")


class _Payload:
    """Unpickling this would create a file: the proof that code ran."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_malicious_pickle_runs_no_code(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"format": "ferviz-checkpoint", "x": _Payload(str(marker))}, evil)
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(evil)
    assert not marker.exists()
    # the same payload through plain pickle really does run code: the test can fail
    pickle.loads(pickle.dumps(_Payload(str(marker)))).close()
    assert marker.exists()


@pytest.mark.numerics
def test_plain_state_dict_needs_arch_classes_and_normalisation(tmp_path):
    model = make_loaded(seed=1)
    path = tmp_path / "sd.pt"
    torch.save(model.net.state_dict(), path)
    with pytest.raises(CheckpointError, match="--arch"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="--classes and --normalize"):
        load_checkpoint(path, arch="seed-vgg")
    loaded = load_checkpoint(path, arch="seed-vgg", classes="a,b,c,d,e,f,g", normalize="standard:128,64")
    assert loaded.class_names == tuple("abcdefg")
    x = torch.rand(2, 1, 48, 48) * 255
    with torch.no_grad():
        assert torch.allclose(loaded(x), model(x))


@pytest.mark.numerics
def test_torchscript_needs_trust(tmp_path):
    model = make_loaded(seed=2)
    path = tmp_path / "scripted.pt"
    torch.jit.trace(model.net, torch.zeros(2, 1, 48, 48)).save(str(path))
    assert zipfile.is_zipfile(path)
    with pytest.raises(CheckpointError, match="--trust"):
        load_checkpoint(path, classes="a,b,c,d,e,f,g", normalize="standard:128,64")
    loaded = load_checkpoint(path, trust=True, classes="a,b,c,d,e,f,g", normalize="standard:128,64")
    assert isinstance(loaded, LoadedModel)
    x = torch.rand(2, 1, 48, 48) * 255
    with torch.no_grad():
        assert torch.allclose(loaded(x), model(x), atol=1e-5)


def test_read_checkpoint_dict_rejects_non_dicts(tmp_path):
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match="expected a dict"):
        read_checkpoint_dict(tmp_path / "list.pt")


def test_failed_save_leaves_previous_file_intact(tmp_path, monkeypatch):
    model = make_loaded(seed=4)
    path = save_checkpoint(tmp_path / "m.pt", model)
    before = path.read_bytes()

    def boom(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OutputError, match="m.pt: cannot write there \\(No space left on device\\)"):
        save_checkpoint(path, make_loaded(seed=5))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]
