import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ferviz.train.augment import Augmentation, augment_uint8
from ferviz.model.checkpoint import load_checkpoint, read_checkpoint_dict
from ferviz.errors import OptionError
from ferviz.train.config import TrainConfig
from ferviz.train.rundir import prepare_run_dir
from ferviz.train.trainer import Trainer

QUICK = dict(arch="tiny-resnet", arch_args={"width": 8}, batch_size=32, lr=3e-3, patience=0)


def _fit(bars, run_dir, **overrides):
    train, val = bars
    config = TrainConfig(**{**QUICK, "epochs": 3, **overrides})
    return Trainer(config, train, val, run_dir, progress=False, log=lambda s: None)


def test_short_training_learns(bars, tmp_path):
    result = _fit(bars, tmp_path, epochs=4).fit()
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < losses[0]
    assert result.best_val_accuracy > 0.4  # chance is 1/7
    for name in ("best.pt", "last.pt", "history.json", "history.csv", "curves.png"):
        assert (tmp_path / name).is_file(), name
    assert json.loads((tmp_path / "history.json").read_text()) == result.history
    best = load_checkpoint(tmp_path / "best.pt")
    assert best.meta["best_epoch"] == result.best_epoch
    assert best.meta["train_config"]["arch"] == "tiny-resnet"


@pytest.mark.numerics
def test_same_seed_gives_bit_identical_weights(bars, tmp_path):
    _fit(bars, tmp_path / "a", epochs=2).fit()
    _fit(bars, tmp_path / "b", epochs=2).fit()
    a = read_checkpoint_dict(tmp_path / "a" / "last.pt")["state_dict"]
    b = read_checkpoint_dict(tmp_path / "b" / "last.pt")["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.numerics
def test_resume_reaches_the_uninterrupted_result(bars, tmp_path):
    full = _fit(bars, tmp_path / "full", epochs=3)
    full.fit()
    part = _fit(bars, tmp_path / "part", epochs=1)
    part.fit()
    resumed = _fit(bars, tmp_path / "part", epochs=3)
    resumed.restore(read_checkpoint_dict(tmp_path / "part" / "last.pt"))
    assert resumed.epoch == 1
    resumed.fit()
    a = read_checkpoint_dict(tmp_path / "full" / "last.pt")
    b = read_checkpoint_dict(tmp_path / "part" / "last.pt")
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    assert [h["val_accuracy"] for h in a["history"]] == [h["val_accuracy"] for h in b["history"]]


def test_early_stopping(bars, tmp_path):
    trainer = _fit(bars, tmp_path, epochs=30, patience=1, lr=1e-9)
    result = trainer.fit()
    assert result.stopped == "early-stopped"
    assert len(result.history) < 30


def test_offline_copies_expand_the_set_as_uint8(bars, tmp_path):
    trainer = _fit(bars, tmp_path, augment_copies=2)
    assert len(trainer.train_x) == 3 * len(bars[0])
    assert trainer.train_x.dtype == torch.uint8
    assert trainer.augmentation is None


@pytest.mark.parametrize("field,value", [("epochs", 0), ("batch_size", 1), ("lr", -1.0),
                                         ("normalize", "zscore"), ("val_fraction", 1.5)])
def test_impossible_options_are_refused(bars, tmp_path, field, value):
    with pytest.raises(OptionError, match=field.replace("_", "-")):
        _fit(bars, tmp_path, **{field: value})


def test_run_dir_is_not_overwritten_unless_asked(tmp_path):
    run = prepare_run_dir(tmp_path / "run", overwrite=False)
    (run / "best.pt").write_bytes(b"x")
    with pytest.raises(OptionError, match="already holds a run"):
        prepare_run_dir(run, overwrite=False)
    assert prepare_run_dir(run, overwrite=True) == run and not (run / "best.pt").exists()
    numbered = prepare_run_dir(None, overwrite=False, root=tmp_path / "runs")
    assert numbered.name == "run-001"
    assert prepare_run_dir(None, overwrite=False, root=tmp_path / "runs").name == "run-002"


def test_augmentation_flip_and_identity():
    x = torch.zeros(8, 1, 48, 48)
    x[..., :10] = 255.0
    g = torch.Generator().manual_seed(0)
    assert torch.equal(Augmentation(0, 0, 0, False)(x, g), x)
    flipped = Augmentation(0, 0, 0, True)(x, g)
    mirrored = flipped[..., -10:].mean(dim=(1, 2, 3)) > 250
    kept = flipped[..., :10].mean(dim=(1, 2, 3)) > 250
    assert torch.all(mirrored ^ kept) and mirrored.any() and kept.any()


def test_augmentation_rotates_and_keeps_uint8():
    images = torch.zeros(16, 48, 48, dtype=torch.uint8)
    images[:, 20:28, 4:44] = 255
    out = augment_uint8(images, Augmentation(rotation=30, shear=0, zoom=0, flip=False),
                        torch.Generator().manual_seed(1))
    assert out.dtype == torch.uint8 and out.shape == images.shape
    assert (out != images).any(dim=(1, 2)).float().mean() > 0.8
    with pytest.raises(OptionError, match="rotation"):
        Augmentation(rotation=500)


@pytest.mark.numerics
def test_channels_last_matches_default_format(bars, tmp_path):
    a = _fit(bars, tmp_path / "a", epochs=1, arch="seed-vgg", arch_args={}, channels_last="on")
    b = _fit(bars, tmp_path / "b", epochs=1, arch="seed-vgg", arch_args={}, channels_last="off")
    x = a._batch(torch.from_numpy(bars[1].images[:4]), None)
    a.model.eval(), b.model.eval()
    with torch.no_grad():
        assert np.allclose(a.model(x).numpy(), b.model(x.contiguous()).numpy(), atol=1e-4)


def test_bf16_mixed_precision_learns_and_keeps_fp32_weights(bars, tmp_path):
    result = _fit(bars, tmp_path, epochs=3, precision="bf16").fit()
    assert result.best_val_accuracy > 0.4
    weights = read_checkpoint_dict(tmp_path / "last.pt")["state_dict"]
    assert all(w.dtype in (torch.float32, torch.int64) for w in weights.values())


def test_unwritable_output_folder_is_reported_before_training():
    with pytest.raises(OptionError, match="cannot write there"):
        prepare_run_dir(Path("/proc/ferviz-run"), overwrite=False)  # a read-only file system, even for root


def test_cosine_schedule_decays_the_rate_per_epoch_and_resumes_on_it(bars, tmp_path):
    from ferviz.train.config import learning_rate
    from ferviz.train.rundir import load_resume

    result = _fit(bars, tmp_path / "cos", epochs=4, lr_schedule="cosine").fit()
    assert [h["lr"] for h in result.history] == pytest.approx([3e-3, 3e-3 * (1 + 0.5 ** 0.5) / 2, 1.5e-3,
                                                               3e-3 * (1 - 0.5 ** 0.5) / 2])
    constant = _fit(bars, tmp_path / "const", epochs=2).fit()
    assert [h["lr"] for h in constant.history] == [3e-3, 3e-3]
    # a run cut after 2 epochs and resumed sets the third epoch's rate from the epoch number
    _fit(bars, tmp_path / "cut", epochs=2, lr_schedule="cosine").fit()
    config, ckpt = load_resume(tmp_path / "cut")
    config.epochs = 4
    trainer = Trainer(config, *bars, tmp_path / "cut", progress=False, log=lambda s: None)
    trainer.restore(ckpt)
    resumed = trainer.fit()
    assert resumed.history[2]["lr"] == pytest.approx(learning_rate(config, 2))
    with pytest.raises(OptionError, match="lr-schedule"):
        TrainConfig(lr_schedule="linear").validate()


def test_training_keeps_freed_memory_for_the_next_step():
    """glibc's thresholds are raised once per process (FERVIZ_MALLOC=system opts out)."""
    import subprocess
    import sys

    code = ("from ferviz.train.allocator import retain_freed_memory as r; import sys; "
            "sys.stdout.write(str(r()) + str(r()))")
    on = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    off = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**__import__("os").environ, "FERVIZ_MALLOC": "system"}).stdout
    assert off == "FalseFalse"
    assert on == ("TrueTrue" if sys.platform.startswith("linux") else "FalseFalse")
