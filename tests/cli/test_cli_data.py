"""`ferviz data info | synth | show | kinds`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from ferviz.cli import main
from ferviz.data.npzfile import load_npz


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FERVIZ_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr("ferviz.data.cache.MIN_IMAGES", 0)


def fer_csv(path, n=14, bad_line=None):
    rng = np.random.default_rng(0)
    rows = ["emotion,pixels,Usage"]
    for i in range(n):
        px = " ".join(map(str, rng.integers(0, 256, 2304)))
        rows.append(f"{i % 7},{px},{'Training' if i < n // 2 else 'PublicTest'}")
    if bad_line:
        rows[bad_line - 1] = "9" + rows[bad_line - 1][1:]
    path.write_text("\n".join(rows) + "\n")
    return path


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_info_table_and_json(tmp_path):
    p = fer_csv(tmp_path / "fer.csv")
    res = run("data", "info", p)
    assert res.exit_code == 0, res.output
    assert "images" in res.stdout and "public-test" in res.stdout and "image size: 48x48" in res.stdout
    assert "reading" in res.stderr and "reading" not in res.stdout
    res = run("data", "info", p, "--json")
    info = json.loads(res.stdout)
    assert info["splits"]["train"]["count"] == 7 and info["splits"]["public-test"]["classes"]["angry"] == 1


def test_info_bad_data_is_one_line_error_or_skipped(tmp_path):
    p = fer_csv(tmp_path / "bad.csv", bad_line=4)
    res = run("data", "info", p)
    assert res.exit_code != 0
    assert "bad.csv: line 4: emotion 9 is outside 0-6" in res.output
    assert "Traceback" not in res.output
    res = run("data", "info", p, "--skip-bad", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["total"] == 13
    warned = [line for line in res.stderr.splitlines() if line.startswith("warning:")]
    assert len(warned) == 1 and "bad.csv: skipped 1 bad row (first: line 4: emotion 9" in warned[0]
    res = run("data", "info", tmp_path / "missing.csv")
    assert res.exit_code != 0 and "no such file" in res.output


def test_synth_writes_npz_that_reads_back(tmp_path):
    pytest.importorskip("ferviz.data.synthetic")
    out = tmp_path / "s.npz"
    res = run("data", "synth", "--count", 21, "--test", 7, "--seed", 3, "--out", out)
    assert res.exit_code == 0, res.output
    assert str(out) in res.stdout and "train 21" in res.stdout and "test 7" in res.stdout
    back = load_npz(out)
    assert {k: len(v) for k, v in back.items()} == {"train": 21, "test": 7}
    assert back["train"].masks is not None and len(back["train"].class_names) == 7
    again = tmp_path / "again.npz"
    run("data", "synth", "--count", 21, "--test", 7, "--seed", 3, "--out", again)
    np.testing.assert_array_equal(load_npz(again)["train"].images, back["train"].images)
    res = run("data", "info", out)  # sniffed as npz
    assert res.exit_code == 0 and "train" in res.stdout
    res = run("data", "synth", "--count", 14, "--balance", "fer2013", "--out", tmp_path / "f.npz")
    assert res.exit_code == 0, res.output
    assert run("data", "synth", "--count", 0, "--out", out).exit_code != 0


def test_show_writes_png(tmp_path):
    pytest.importorskip("ferviz.data.synthetic")
    p = fer_csv(tmp_path / "fer.csv")
    out = tmp_path / "grid.png"
    res = run("data", "show", p, "--split", "train", "--per-class", 1, "--out", out)
    assert res.exit_code == 0, res.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and str(out) in res.stdout
    res = run("data", "show", p, "--split", "nope", "--out", out, "--overwrite")
    assert res.exit_code != 0 and "no split 'nope'" in res.output


def test_kinds_lists_readers():
    res = run("data", "kinds")
    assert res.exit_code == 0
    kinds = {line.split()[0] for line in res.stdout.splitlines()}
    assert {"csv", "folder", "npz", "images"} <= kinds


def test_every_option_has_help():
    group = main.commands["data"]
    for name, command in group.commands.items():
        for param in command.params:
            if param.param_type_name == "option" and param.name != "help":
                assert param.help, f"data {name} {param.name}"
