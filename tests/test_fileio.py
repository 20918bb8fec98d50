"""ferviz.fileio: atomic files and folders, --overwrite, and the run-folder lock across processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from ferviz.cli import main
from ferviz.data import Dataset
from ferviz.data.npzfile import save_npz
from ferviz.errors import OutputError
from ferviz.fileio import LOCK_NAME, atomic_file, atomic_folder, check_target, run_lock

from tests.conftest import interruptible, make_bars

HOLD = """
import sys, time
from ferviz.fileio import run_lock
with run_lock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(120)
"""


def test_atomic_file_refuses_a_file_that_appeared_unless_overwrite(tmp_path):
    path = tmp_path / "a.csv"
    with pytest.raises(OutputError, match="appeared while ferviz was working"):
        with atomic_file(path, "w", overwrite=False) as fh:
            fh.write("new")
            path.write_text("another process")
    assert path.read_text() == "another process"
    with atomic_file(path, "w", overwrite=True) as fh:
        fh.write("new")
    assert path.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["a.csv"]


def test_atomic_folder_replaces_all_of_the_old_folder_only_with_overwrite(tmp_path):
    out = tmp_path / "out"
    with atomic_folder(out, owner="manifest.json") as tmp:
        (tmp / "manifest.json").write_text("1")
        (tmp / "old-figure.png").write_text("1")
    with pytest.raises(OutputError, match="--overwrite"):
        with atomic_folder(out, owner="manifest.json") as tmp:
            (tmp / "manifest.json").write_text("2")
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "old-figure.png"]
    with atomic_folder(out, overwrite=True, owner="manifest.json") as tmp:
        (tmp / "manifest.json").write_text("2")
    assert [p.name for p in out.iterdir()] == ["manifest.json"] and (out / "manifest.json").read_text() == "2"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary or old folder left beside it


def test_a_failure_inside_an_atomic_folder_leaves_the_old_one(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.json").write_text("old")
    with pytest.raises(ZeroDivisionError):
        with atomic_folder(out, overwrite=True, owner="report.json") as tmp:
            (tmp / "report.json").write_text("new")
            1 / 0
    assert (out / "report.json").read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["out"]


def test_overwrite_never_replaces_a_folder_that_is_not_ferviz_output(tmp_path):
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "thesis.tex").write_text("years of work")
    with pytest.raises(OutputError, match="holds no report.json"):
        check_target(tmp_path / "home", folder=True, overwrite=True, owner="report.json")
    check_target(tmp_path / "empty", folder=True)  # absent: fine
    (tmp_path / "empty").mkdir()
    check_target(tmp_path / "empty", folder=True)  # empty counts as absent


def _holder(folder):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_writer_is_refused_with_the_first_ones_pid(tmp_path):
    proc = _holder(tmp_path)
    try:
        with pytest.raises(OutputError, match=rf"is being written by process {proc.pid} \("):
            with run_lock(tmp_path):
                pass
    finally:
        proc.kill()
        proc.wait()
    with run_lock(tmp_path):  # SIGKILL released it: no stale lock
        assert (tmp_path / LOCK_NAME).read_text().startswith(f"{os.getpid()} ")
    assert not (tmp_path / LOCK_NAME).exists()


def test_two_trains_into_one_folder_the_second_is_refused(tmp_path):
    """Two `ferviz train --out runs/same` at once: the second must not report success over the first."""
    data = tmp_path / "bars.npz"
    val = make_bars(70, 1)
    save_npz({"train": make_bars(448, 0), "val": Dataset(val.images, val.labels, val.class_names, split="val")}, data)
    out = tmp_path / "same"
    args = ["train", "--data", str(data), "--arch", "tiny-resnet", "--epochs", "200", "--batch-size", "32",
            "--patience", "0", "--quiet", "--out", str(out)]
    first = interruptible([sys.executable, "-m", "ferviz", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.time() + 120
        while not (out / "config.json").exists():  # the first run holds the lock and has started
            assert first.poll() is None, first.communicate()
            assert time.time() < deadline, "the first run did not start"
            time.sleep(0.2)
        second = CliRunner().invoke(main, args[:-2] + ["--epochs", "1", "--out", str(out)])
        assert second.exit_code == 1
        assert f"is being written by process {first.pid} (ferviz train" in second.stderr
        assert "run folder" not in second.stdout
        resumed = CliRunner().invoke(main, ["train", "--resume", str(out), "--quiet"])
        assert resumed.exit_code == 1
        assert f"--resume {out} is being written by process {first.pid} (ferviz train" in resumed.stderr
        assert first.poll() is None  # the first run goes on
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=120)
    assert first.returncode == 130 and (out / "config.json").is_file() and not (out / LOCK_NAME).exists()
