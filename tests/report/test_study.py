"""`ferviz study`: variants x seeds with mean and spread, resumable, budget kept."""

from __future__ import annotations

import json

import pytest

from ferviz.errors import OptionError
from ferviz.train.study import check_plan, finished, run_study, spread, variants
from ferviz.train.config import TrainConfig
from ferviz.train.trainer import run_training
from tests.report.conftest import STUDY, fake_history, invoke

TINY = dict(data="synthetic:count=28,val=14,test=0", arch="tiny-resnet", arch_args={"width": 8}, batch_size=14)


def test_study_writes_table_with_mean_spread_and_seed_count(tiny_study):
    out, result = tiny_study
    assert sorted(p.name for p in out.iterdir()) == ["none", "plan.json", "standard", "study.json", "study.md",
                                                     "study.png"]
    for variant in ("standard", "none"):
        assert sorted(p.name for p in (out / variant).iterdir()) == ["seed-0", "seed-1"]
        assert (out / variant / "seed-1" / "best.pt").is_file()
    table = (out / "study.md").read_text()
    assert result.stdout == table
    assert "2 seeds per variant" in table and "| variant | seeds | best val accuracy |" in table
    rows = [line for line in table.splitlines() if line.startswith("| standard") or line.startswith("| none")]
    assert len(rows) == 2 and all("| 2 of 2 |" in row and " ± " in row for row in rows)
    summary = json.loads((out / "study.json").read_text())
    assert summary["complete"] and summary["seeds"] == [0, 1]
    for v in summary["variants"]:
        stats = v["stats"]["best_val_accuracy"]
        assert stats["n"] == 2 and stats["min"] <= stats["mean"] <= stats["max"]
        assert v["stats"]["epochs"]["mean"] == 1.0
    configs = {json.loads((out / v / "seed-0" / "config.json").read_text())["normalize"] for v in ("standard", "none")}
    assert configs == {"standard", "none"}
    assert (out / "study.png").stat().st_size > 1000


def test_rerun_skips_finished_runs_and_refuses_another_budget(tiny_study):
    out, _ = tiny_study
    before = (out / "standard" / "seed-0" / "best.pt").stat().st_mtime_ns
    result = invoke(*STUDY, "--out", out)
    assert result.exit_code == 0, result.output
    assert result.stderr.count("done before, skipped") == 4
    assert (out / "standard" / "seed-0" / "best.pt").stat().st_mtime_ns == before
    changed = [a if a != "1" or STUDY[i - 1] != "--epochs" else "2" for i, a in enumerate(STUDY)]
    result = invoke(*changed, "--out", out)
    assert result.exit_code == 1 and "another budget (epochs 1, now 2)" in result.stderr


def test_a_cut_short_run_continues_from_last_pt(tmp_path):
    out = tmp_path / "aug"
    check_plan(out, "augmentation", TrainConfig(**TINY, epochs=2), copies=2)  # a study cut in its first run
    run_training(TrainConfig(**TINY, epochs=1, augment=False, seed=0), out / "off" / "seed-0", progress=False,
                 log=lambda m: None)
    logs = []
    summary = run_study("augmentation", TrainConfig(**TINY, epochs=2), out, seeds=1, only=["off"], progress=False,
                        log=logs.append)
    assert any("continuing the run" in line for line in logs)
    assert summary["variants"][0]["runs"][0]["epochs"] == 2
    history = json.loads((out / "off" / "seed-0" / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2]


def test_finished_means_budget_reached_or_early_stopped(tmp_path):
    (tmp_path / "best.pt").write_bytes(b"")
    history = fake_history(3)
    (tmp_path / "history.json").write_text(json.dumps(history))
    assert finished(tmp_path, TrainConfig(epochs=3)) == history
    assert finished(tmp_path, TrainConfig(epochs=5, patience=10)) is None  # cut short
    flat = [{**h, "val_accuracy": 0.5} for h in history]  # best at epoch 1, two epochs without progress
    (tmp_path / "history.json").write_text(json.dumps(flat))
    assert finished(tmp_path, TrainConfig(epochs=5, patience=2)) == flat
    (tmp_path / "best.pt").unlink()
    assert finished(tmp_path, TrainConfig(epochs=3)) is None


def test_variants_and_spread():
    assert [v.name for v in variants("normalization")] == ["standard", "unit", "none"]
    assert [v.name for v in variants("augmentation", copies=5)] == ["off", "on-the-fly", "offline-x5"]
    assert len(variants("grid")) == 9 and variants("grid")[0].overrides == {"normalize": "standard", "augment": False,
                                                                             "augment_copies": 0}
    assert spread([0.5, 0.7]) == pytest.approx({"mean": 0.6, "std": 0.1414213, "min": 0.5, "max": 0.7, "n": 2})
    assert spread([0.5])["std"] == 0.0
    with pytest.raises(OptionError, match="no variant 'bogus'"):
        run_study("normalization", TrainConfig(**TINY), "unused", only=["bogus"])


def test_a_folder_that_holds_something_else_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    result = invoke(*STUDY, "--out", tmp_path)
    assert result.exit_code == 1 and "holds no study (plan.json)" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
