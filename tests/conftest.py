"""Session-wide tiny models and data, made here, never downloaded."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import numpy as np
import pytest
import torch

from ferviz import FER2013_CLASSES
from ferviz.model.build import build_model
from ferviz.model.checkpoint import save_checkpoint
from ferviz.model.loaded import LoadedModel
from ferviz.data import Dataset
from ferviz.model.preprocessing import Preprocessing

if "OMP_NUM_THREADS" not in os.environ:  # CI's second numerics pass sets it: the thread count is what it varies
    torch.set_num_threads(2)


#: Where the real FER2013 training split lies: ../shared beside the checkout (CI), or /work/shared.
REAL_ZIP_CANDIDATES = (
    Path(__file__).resolve().parents[1].parent / "shared/data/fer2013-train.zip",
    Path("/work/shared/data/fer2013-train.zip"),
)


def real_zip() -> Path | None:
    return next((p for p in REAL_ZIP_CANDIDATES if p.is_file()), None)


@pytest.fixture(scope="session")
def fer2013_zip() -> Path:
    """The real FER2013 zip; tests that need it skip, saying so, where it is absent."""
    path = real_zip()
    if path is None:
        pytest.skip("the real FER2013 zip (../shared/data/fer2013-train.zip) is not here")
    return path


@pytest.fixture(scope="session")
def random_faces() -> Dataset:
    """64 random 48x48 uint8 images with balanced labels (no structure: for contract tests)."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(64, 48, 48), dtype=np.uint8)
    labels = np.arange(64, dtype=np.int64) % 7
    return Dataset(images, labels, FER2013_CLASSES, split="test", source="random")


IN_CI = os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def require_extra(module: str, extra: str):
    """Import `module`, which ferviz's `extra` installs: outside CI a missing one skips the test,
    saying which extra to install; under CI (which installs every extra) it fails."""
    if IN_CI:
        import importlib

        return importlib.import_module(module)
    return pytest.importorskip(module, reason=f'the {extra} extra: pip install -c constraints.txt -e ".[test,{extra}]"')


def interruptible(cmd: list[str], **kwargs):
    """subprocess.Popen of `cmd` with SIGINT at its default, so Ctrl-C reaches the child's Python.

    A shell that runs the tests in the background (`pytest &`, nohup) starts them with SIGINT
    ignored; children inherit that, and Python then installs no KeyboardInterrupt handler, so a
    test's SIGINT would be ignored instead of testing ferviz's Ctrl-C handling.
    """
    import subprocess

    return subprocess.Popen(cmd, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL), **kwargs)


@pytest.fixture
def clean_registry():
    """The plugin manager and registries rebuilt before and after the test (for tests that
    register or unregister plugins in-process)."""
    from ferviz import registry

    registry.reset()
    yield registry
    registry.reset()


def make_loaded(arch: str = "seed-vgg", seed: int = 0, **arch_args) -> LoadedModel:
    torch.manual_seed(seed)
    args = {"num_classes": 7, "in_channels": 1, **arch_args}
    net = build_model(arch, **args)
    return LoadedModel(net, FER2013_CLASSES, Preprocessing("standard", 128.0, 64.0),
                       arch=arch, arch_args=args).eval()


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """An untrained seed-VGG checkpoint file (contract tests need shapes, not accuracy)."""
    path = tmp_path_factory.mktemp("ckpt") / "seed.pt"
    save_checkpoint(path, make_loaded(), history=[], train_config={}, best_epoch=0)
    return path


@pytest.fixture(scope="session")
def resnet_checkpoint(tmp_path_factory):
    """A differently shaped network (residual, depthwise) for explainer generality."""
    path = tmp_path_factory.mktemp("ckpt") / "resnet.pt"
    save_checkpoint(path, make_loaded("tiny-resnet", width=8), history=[], train_config={}, best_epoch=0)
    return path


def make_bars(n: int, seed: int) -> Dataset:
    """A learnable toy set: class c has a bright bar at rows 4+5c..10+5c over noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n, dtype=np.int64) % 7
    rng.shuffle(labels)
    images = rng.integers(0, 60, size=(n, 48, 48), dtype=np.uint8)
    for c in range(7):
        images[labels == c, 4 + 5 * c:10 + 5 * c, 10:30] = 220
    return Dataset(images, labels, FER2013_CLASSES, source=f"bars(seed={seed})")


@pytest.fixture(scope="session")
def bars():
    return make_bars(448, 0), make_bars(140, 1)


class Hang(AssertionError):
    """A block ran past its time limit: the code under test hangs."""


@contextlib.contextmanager
def within(seconds: float):
    """Fail (raise Hang) if the block runs longer than `seconds` (POSIX main thread only)."""
    if not hasattr(signal, "setitimer"):
        yield
        return

    def alarm(signum, frame):
        raise Hang(f"still running after {seconds} s (a hang?)")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)

