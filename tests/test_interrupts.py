"""Killing or interrupting a training run never loses the last complete epoch; Ctrl-C exits 130."""

import os
import signal
import subprocess
import sys
import time

from ferviz.model.checkpoint import load_checkpoint
from ferviz.data import Dataset
from ferviz.data.npzfile import save_npz

from tests.conftest import interruptible, make_bars


def _start(tmp_path, out):
    data = tmp_path / "bars.npz"
    val = make_bars(70, 1)
    save_npz({"train": make_bars(448, 0), "val": Dataset(val.images, val.labels, val.class_names, split="val")}, data)
    cmd = [sys.executable, "-m", "ferviz", "train", "--data", str(data), "--arch", "tiny-resnet", "--epochs", "200",
           "--batch-size", "32", "--patience", "0", "--quiet", "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return interruptible(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _wait_for(path, proc, timeout=120):
    deadline = time.time() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline, "no checkpoint appeared"
        time.sleep(0.2)


def test_sigint_stops_cleanly_after_saving(tmp_path):
    out = tmp_path / "run"
    proc = _start(tmp_path, out)
    try:
        _wait_for(out / "last.pt", proc)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()  # a no-op once it has exited; else 200 epochs would go on after the test
    assert proc.returncode == 130, stderr  # saved, but stopped: `ferviz train && ...` must not go on
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert "interrupted" in stdout
    model = load_checkpoint(out / "last.pt")
    assert model.meta["epoch"] >= 1
    assert (out / "history.json").is_file()


def test_sigkill_leaves_a_readable_checkpoint(tmp_path):
    out = tmp_path / "run"
    proc = _start(tmp_path, out)
    _wait_for(out / "last.pt", proc)
    for _ in range(8):  # kill at several moments, some of them mid-save
        time.sleep(0.37)
        load_checkpoint(out / "last.pt")
    proc.kill()
    proc.communicate(timeout=60)
    model = load_checkpoint(out / "last.pt")
    assert model.meta["epoch"] >= 1


def test_ctrl_c_exits_130_with_one_line_and_writes_nothing(tmp_path):
    """Any command stopped by SIGINT: exit status 130 (as shells report it), no traceback, no
    'Aborted!', and no output or temporary file left behind."""
    out = tmp_path / "faces.npz"
    proc = interruptible([sys.executable, "-m", "ferviz", "data", "synth", "--count", "2000000", "--out", str(out)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        assert proc.stderr.readline().startswith("drawing 2000000 train faces")
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()  # a no-op once it has exited; 2,000,000 faces would take minutes and 10 GB
    assert proc.returncode == 130
    assert stderr.splitlines() == ["interrupted (Ctrl-C)"] and stdout == ""
    assert list(tmp_path.iterdir()) == []
