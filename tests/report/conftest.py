"""Tiny checkpoints, data and a tiny study for the report tests (seconds, not minutes)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from ferviz.model.checkpoint import save_checkpoint
from ferviz.cli import main
from ferviz.registry import hookimpl
from tests.conftest import make_loaded

#: 35 test faces (5 per class), generated on the fly.
DATA = "synthetic:count=70,val=14,test=35"
#: Quick explainer options: the report's structure, not its quality, is under test.
QUICK = ("--quick", "-p", "filter-ascent.filters=2", "-p", "filter-ascent.steps=2",
         "-p", "integrated-gradients.steps=4", "-p", "saliency.threshold=0.5")
STUDY = ("study", "normalization", "--data", "synthetic:count=28,val=14,test=0", "--variants", "standard,none",
         "--seeds", "2", "--epochs", "1", "--batch-size", "14", "--arch", "tiny-resnet", "--quiet")


class InProcessPlugin:
    """Registers explainer classes defined in a test, as a plugin would (``registry.reset()`` around it)."""

    def __init__(self, *classes):
        self.classes = classes

    @hookimpl
    def register_explainers(self, register):
        for cls in self.classes:
            register(cls)


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def fake_history(epochs: int) -> list[dict]:
    return [{"epoch": e, "train_loss": 2.0 - 0.2 * e, "train_accuracy": 0.2 + 0.08 * e, "val_loss": 1.9 - 0.1 * e,
             "val_accuracy": 0.2 + 0.05 * e, "images_per_s": 50.0, "seconds": 1.0} for e in range(1, epochs + 1)]


@pytest.fixture(scope="session")
def history_checkpoint(tmp_path_factory):
    """An untrained seed-VGG checkpoint that carries a (made-up) 5-epoch history of an 8-epoch budget."""
    path = tmp_path_factory.mktemp("ckpt") / "with-history.pt"
    save_checkpoint(path, make_loaded(seed=1), history=fake_history(5),
                    train_config={"epochs": 8, "batch_size": 64, "normalize": "standard"}, best_epoch=5)
    return path


@pytest.fixture(scope="session")
def tiny_study(tmp_path_factory):
    """A normalization study: 2 variants x 2 seeds x 1 epoch of tiny-resnet on 28 faces."""
    out = tmp_path_factory.mktemp("study") / "norm"
    result = invoke(*STUDY, "--out", out)
    assert result.exit_code == 0, result.output
    return out, result


@pytest.fixture(scope="session")
def explored(tmp_path_factory, tiny_checkpoint):
    """`ferviz explore` of the tiny checkpoint on 35 faces: (folder, result, report.json)."""
    import json

    out = tmp_path_factory.mktemp("explore") / "explorer"
    result = invoke("explore", tiny_checkpoint, "--data", DATA, "--out", out, "--quiet", *QUICK)
    assert result.exit_code == 0, result.output
    return out, result, json.loads((out / "report.json").read_text())
