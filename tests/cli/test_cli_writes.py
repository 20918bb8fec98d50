"""The one rule of every command that writes (ferviz.fileio), through the real command line.

Property: whatever the command, a --out that cannot be written, an existing file or an existing
folder is refused before any work, with one line on stderr and no traceback, and what was at
--out is left byte for byte as it was. --overwrite replaces a previous output, all of it.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from ferviz.cli import main

DATA = "synthetic:count=14,val=0,test=14"
TRAINING = ["--data", DATA, "--arch", "tiny-resnet", "--epochs", "1", "--batch-size", "14", "--quiet"]

#: Every command with --out: its other arguments (valid: only --out is wrong) and what --out is.
COMMANDS = {
    "train": (lambda ckpt: TRAINING, "folder"),
    "study": (lambda ckpt: ["normalization", *TRAINING, "--seeds", "1"], "folder"),
    "explain": (lambda ckpt: ["-m", "saliency", "--checkpoint", ckpt, "--data", DATA, "--per-class", "1"], "folder"),
    "report": (lambda ckpt: ["--checkpoint", ckpt, "--data", DATA, "--quick", "--quiet"], "folder"),
    "explore": (lambda ckpt: [ckpt, "--data", DATA, "--quick", "--quiet"], "folder"),
    "assess": (lambda ckpt: ["--checkpoint", ckpt, "--data", DATA, "--count", "2", "--methods", "saliency",
                             "--metrics", "pointing-game", "--quiet"], "folder"),
    "predict": (lambda ckpt: [ckpt, "--data", DATA], "file"),
    "data synth": (lambda ckpt: ["--count", "7"], "file"),
    "data show": (lambda ckpt: [DATA, "--per-class", "1"], "file"),
    "models pack": (lambda ckpt: [ckpt], "file"),
}


def commands_with_out(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from commands_with_out(command, prefix + (name,))
        elif any("--out" in p.opts for p in command.params):
            yield " ".join(prefix + (name,))


def test_every_command_with_out_is_covered_here():
    assert sorted(commands_with_out(main)) == sorted(COMMANDS)


def snapshot(folder: Path) -> dict:
    """Every path below `folder` with its bytes (None for folders) and permission bits."""
    out = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root) / name
            out[str(path.relative_to(folder))] = (path.read_bytes() if path.is_file() else None,
                                                  path.stat().st_mode)
    return out


@pytest.fixture
def unwritable(tmp_path):
    """A folder in which nothing can be created: a read-only folder, or /proc where root ignores modes."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        (folder / "probe").touch()
    except OSError:
        yield folder
    else:  # root writes anywhere a mode allows nothing: take a file system that refuses everyone
        (folder / "probe").unlink()
        yield Path("/proc")
    folder.chmod(0o755)


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_refused(result, *words):
    assert result.exit_code not in (0, None), result.output
    assert isinstance(result.exception, SystemExit), f"an uncaught {result.exception!r}"
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"stderr is not one line: {result.stderr!r}"
    for word in words:
        assert word in lines[0], lines[0]


@pytest.mark.parametrize("case", ["unwritable", "existing file", "existing folder"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_bad_out_is_one_line_and_leaves_the_target_alone(command, case, tiny_checkpoint, tmp_path, unwritable):
    arguments, kind = COMMANDS[command]
    suffix = {"predict": ".csv", "data synth": ".npz", "data show": ".png"}.get(command, "")
    if case == "unwritable":
        out = unwritable / f"ferviz-out{suffix}"
        watched = tmp_path
    else:
        watched = tmp_path / "place"
        watched.mkdir()
        out = watched / f"target{suffix}"
        if case == "existing file":
            out.write_bytes(b"mine, not ferviz's\n")
        else:
            out.mkdir()
            (out / "notes.txt").write_bytes(b"mine\n")
    before = snapshot(watched)
    result = invoke(*command.split(), *arguments(tiny_checkpoint), "--out", out)
    assert_refused(result, str(out))
    assert snapshot(watched) == before
    if case == "unwritable":
        assert not out.exists()
    refusal = {"unwritable": "cannot write there", "existing file": "is a file" if kind == "folder" else "--overwrite",
               "existing folder": "is a folder" if kind == "file" else "not ferviz output of this kind"}
    if command == "study" and case == "existing folder":
        refusal[case] = "holds no study"
    assert refusal[case] in result.stderr


def test_predict_refuses_an_existing_file_unless_overwrite(tiny_checkpoint, tmp_path):
    out = tmp_path / "submission.csv"
    out.write_text("old\n")
    assert_refused(invoke("predict", tiny_checkpoint, "--data", DATA, "--out", out), "--overwrite")
    assert out.read_text() == "old\n"
    result = invoke("predict", tiny_checkpoint, "--data", DATA, "--out", out, "--overwrite")
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["id", "label"] and len(rows) == 15
    assert [p.name for p in tmp_path.iterdir()] == ["submission.csv"]  # no temporary file left


def test_explain_into_another_explanation_needs_overwrite_and_replaces_all_of_it(tiny_checkpoint, tmp_path):
    out = tmp_path / "out"
    first = invoke("explain", "-m", "saliency", "--checkpoint", tiny_checkpoint, "--data", DATA, "--per-class", "1",
                   "--out", out)
    assert first.exit_code == 0, first.output
    old = snapshot(out)
    assert "saliency.png" in old
    again = ["explain", "-m", "confusion", "--checkpoint", tiny_checkpoint, "--data", DATA, "--out", out]
    assert_refused(invoke(*again), "--overwrite")
    assert snapshot(out) == old
    replaced = invoke(*again, "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["method"] == "confusion"
    assert sorted(p.name for p in out.iterdir()) == sorted(manifest["files"])  # no saliency figure left over
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_train_overwrite_replaces_the_whole_run_folder(tmp_path):
    out = tmp_path / "run"
    first = invoke("train", *TRAINING, "--out", out)
    assert first.exit_code == 0, first.output
    (out / "notes.txt").write_text("added by hand")
    assert_refused(invoke("train", *TRAINING, "--out", out), "already holds a run", "--overwrite")
    second = invoke("train", *TRAINING, "--out", out, "--overwrite")
    assert second.exit_code == 0, second.output
    assert not (out / "notes.txt").exists()
    assert {"best.pt", "last.pt", "config.json"} <= {p.name for p in out.iterdir()}
    assert not (out / ".ferviz-lock").exists()  # the lock goes with the run
