"""Two gloo processes on localhost train like one process with the same effective batch."""

import json
import os
import subprocess
import sys

import pytest

from ferviz.model.checkpoint import load_checkpoint
from ferviz.data import Dataset
from ferviz.data.npzfile import save_npz

from tests.conftest import make_bars

ARGS = ["--arch", "tiny-resnet", "--epochs", "2", "--batch-size", "32", "--lr", "3e-3", "--quiet"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = tmp_path_factory.mktemp("ddp") / "bars.npz"
    val = make_bars(140, 1)
    save_npz({"train": make_bars(448, 0), "val": Dataset(val.images, val.labels, val.class_names, split="val")}, path)
    return path


def ferviz(*args, env=None, timeout=240):
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "ferviz", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_two_processes_match_one(data, tmp_path):
    one = ferviz("train", "--data", data, *ARGS, "--out", tmp_path / "one")
    assert one.returncode == 0, one.stderr
    two = ferviz("train", "--nproc", "2", "--data", data, *ARGS, "--out", tmp_path / "two")
    assert two.returncode == 0, two.stderr
    assert "2 processes" in two.stderr
    h1 = json.loads((tmp_path / "one" / "history.json").read_text())
    h2 = json.loads((tmp_path / "two" / "history.json").read_text())
    assert len(h1) == len(h2) == 2
    # Same global batches; only per-rank BatchNorm statistics and dropout streams differ on CPU.
    for a, b in zip(h1, h2):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=0.05)
        assert b["val_loss"] == pytest.approx(a["val_loss"], rel=0.10)
    # only rank 0 wrote, and what it wrote is a normal checkpoint
    assert load_checkpoint(tmp_path / "two" / "best.pt").arch == "tiny-resnet"
    assert two.stdout.count("best val accuracy") == 1


def test_resume_a_distributed_run(data, tmp_path):
    first = ferviz("train", "--nproc", "2", "--data", data, *ARGS[:2], "--epochs", "1", *ARGS[4:],
                   "--out", tmp_path / "run")
    assert first.returncode == 0, first.stderr
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["epochs"] == 1
    resumed = ferviz("train", "--nproc", "2", "--resume", tmp_path / "run", "--epochs", "2")
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stderr and "after epoch 1" in resumed.stderr
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2]


def test_a_dead_rank_stops_the_job(data, tmp_path):
    result = ferviz("train", "--nproc", "2", "--data", data, *ARGS, "--out", tmp_path / "dead",
                    env={"FERVIZ_FAIL_RANK": "1", "FERVIZ_DIST_TIMEOUT": "20"}, timeout=180)
    assert result.returncode != 0
    assert "FAILED" in result.stderr or "failed" in result.stderr.lower()
