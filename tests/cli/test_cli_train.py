"""`ferviz train / evaluate / predict / models` through the real command line."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from ferviz import FER2013_CLASSES
from ferviz.model.checkpoint import load_checkpoint
from ferviz.data import Dataset
from ferviz.data.npzfile import save_npz

from tests.conftest import make_bars


@pytest.fixture(scope="module")
def bars_npz(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "bars.npz"
    train, val = make_bars(448, 0), make_bars(140, 1)
    save_npz({"train": train, "val": Dataset(val.images, val.labels, val.class_names, split="val")}, path)
    return path


@pytest.fixture(scope="module")
def trained_run(bars_npz, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "run"
    result = CliRunner().invoke(main(), [
        "train", "--data", str(bars_npz), "--arch", "tiny-resnet", "--epochs", "3", "--batch-size", "32",
        "--lr", "3e-3", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    return out, result


def main():
    from ferviz.cli import main as cli

    return cli


def run(*args):
    return CliRunner().invoke(main(), [str(a) for a in args])


def test_train_writes_a_complete_run_folder(trained_run):
    out, result = trained_run
    assert "best val accuracy" in result.stdout
    for name in ("best.pt", "last.pt", "history.json", "history.csv", "curves.png", "config.json"):
        assert (out / name).is_file(), name
    history = json.loads((out / "history.json").read_text())
    assert len(history) == 3 and history[-1]["train_loss"] < history[0]["train_loss"]
    assert load_checkpoint(out / "best.pt").class_names == FER2013_CLASSES


def test_train_refuses_to_overwrite(trained_run, bars_npz):
    out, _ = trained_run
    result = run("train", "--data", bars_npz, "--out", out, "--epochs", "1")
    assert result.exit_code != 0
    assert "already holds a run" in result.output and "Traceback" not in result.output


def test_evaluate_matches_labels_by_name(trained_run, bars_npz, tmp_path):
    out, _ = trained_run
    plain = json.loads(run("evaluate", out / "best.pt", "--data", bars_npz, "--split", "val", "--json").stdout)
    acc = plain["results"][str(out / "best.pt")]["accuracy"]
    assert acc > 0.3
    # the same images with classes stored in alphabetical order (like the image-folder version)
    val = make_bars(140, 1)
    alpha = tuple(sorted(FER2013_CLASSES))
    relabelled = np.array([alpha.index(FER2013_CLASSES[y]) for y in val.labels])
    path = tmp_path / "alpha.npz"
    save_npz(Dataset(val.images, relabelled, alpha, split="val"), path)
    other = json.loads(run("evaluate", out / "best.pt", "--data", path, "--json").stdout)
    assert other["results"][str(out / "best.pt")]["accuracy"] == pytest.approx(acc)


def test_evaluate_ensemble_and_text_output(trained_run, bars_npz):
    out, _ = trained_run
    result = run("evaluate", out / "best.pt", out / "last.pt", "--data", bars_npz, "--split", "val")
    assert result.exit_code == 0, result.output
    assert "ensemble: accuracy" in result.stdout and "most confused" in result.stdout


def test_predict_writes_kaggle_csv(trained_run, bars_npz, tmp_path):
    out, _ = trained_run
    target = tmp_path / "submission.csv"
    result = run("predict", out / "best.pt", "--data", bars_npz, "--split", "val", "--out", target)
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(target.open()))
    assert rows[0] == ["id", "label"] and len(rows) == 141
    assert {int(r[1]) for r in rows[1:]} <= set(range(7))


@pytest.mark.parametrize("header", ["pixels", "id,pixels"])
def test_predict_reads_kaggles_unlabelled_test_csv(tiny_checkpoint, tmp_path, header):
    rng = np.random.default_rng(0)
    rows = [header] + [("id" in header) * f"{7000 + i}," + " ".join(map(str, rng.integers(0, 256, 2304)))
                       for i in range(5)]
    data = tmp_path / "test.csv"
    data.write_text("\n".join(rows) + "\n")
    out = tmp_path / "submission.csv"
    result = run("predict", tiny_checkpoint, "--data", data, "--out", out)
    assert result.exit_code == 0, result.output
    written = list(csv.reader(out.open()))
    assert written[0] == ["id", "label"]
    assert [r[0] for r in written[1:]] == [str(7000 + i) if "id" in header else str(i) for i in range(5)]
    assert {int(r[1]) for r in written[1:]} <= set(range(7))
    scored = run("evaluate", tiny_checkpoint, "--data", data)
    assert scored.exit_code == 1 and "has no labels to evaluate against" in scored.stderr


def test_warnings_are_one_line_each(tiny_checkpoint, tmp_path):
    """A skipped row is said in one `warning:` line, as `data info --skip-bad` says it (not Python's
    two-line warning with the source line that raised it)."""
    rng = np.random.default_rng(0)
    rows = ["emotion,pixels"] + [f"{i % 7}," + " ".join(map(str, rng.integers(0, 256, 2304))) for i in range(8)]
    rows[2] = "9" + rows[2][1:]
    data = tmp_path / "bad.csv"
    data.write_text("\n".join(rows) + "\n")
    proc = subprocess.run([sys.executable, "-m", "ferviz", "evaluate", str(tiny_checkpoint), "--data", str(data),
                           "--skip-bad"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "FERVIZ_NO_CACHE": "1"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [f"warning: {data}: skipped 1 bad row (first: line 3: emotion 9 is outside 0-6)"]


@pytest.mark.parametrize("args,message", [
    (["train", "--arch", "nope", "--data", "synthetic:count=64", "--epochs", "1"], "unknown model 'nope'"),
    (["train", "--data", "/no/such/file.csv", "--epochs", "1"], "no such file"),
    (["train", "--data", "synthetic:count=64", "--epochs", "0"], "--epochs must be at least 1"),
    (["train", "--data", "synthetic:count=64", "--lr", "-1"], "--lr must be a positive number"),
    (["evaluate", "/no/such.pt", "--data", "synthetic"], "no such file"),
    (["models", "summary", "vgg-9000"], "unknown model 'vgg-9000'"),
])
def test_bad_input_is_one_clean_line(args, message, tmp_path):
    result = run(*args, *([] if args[0] != "train" else ["--out", tmp_path / "r"]))
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "r" / "best.pt").exists()


def test_checkpoint_of_another_architecture_is_refused(trained_run, tmp_path, bars_npz):
    import torch

    out, _ = trained_run
    ckpt = torch.load(out / "best.pt", weights_only=True)
    ckpt["arch"], ckpt["arch_args"] = "seed-vgg", {"num_classes": 7, "in_channels": 1}
    torch.save(ckpt, tmp_path / "wrong.pt")
    result = run("evaluate", tmp_path / "wrong.pt", "--data", bars_npz)
    assert result.exit_code != 0 and "do not fit architecture 'seed-vgg'" in result.output


def test_models_list_summary_and_layers(tiny_checkpoint):
    assert "seed-vgg" in run("models", "list").stdout
    summary = run("models", "summary", "seed-vgg").stdout
    assert "Trainable params: 1,872,327" in summary and "Non-trainable params: 2,816" in summary
    layers = run("models", "layers", tiny_checkpoint).stdout
    assert "features.conv2" in layers and "(64, 46, 46)" in layers


def test_shuffle_labels_trains_a_control_model(bars_npz, tmp_path):
    result = run("train", "--data", bars_npz, "--arch", "tiny-resnet", "--epochs", "1", "--batch-size", "32",
                 "--shuffle-labels", "--quiet", "--out", tmp_path / "control")
    assert result.exit_code == 0, result.output
    assert "labels of the train split shuffled" in result.output
    assert load_checkpoint(tmp_path / "control" / "last.pt").meta["train_config"]["shuffle_labels"] is True


def test_threads_sets_torchs_intra_op_threads_and_zero_is_refused(tmp_path):
    import torch

    before = torch.get_num_threads()
    try:
        result = run("train", "--data", "synthetic:count=140,val=28,test=0", "--epochs", "1", "--batch-size", "32",
                     "--threads", "1", "--quiet", "--out", tmp_path / "run")
        assert result.exit_code == 0, result.output
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    refused = run("train", "--threads", "0", "--out", tmp_path / "other")
    assert refused.exit_code == 2 and "--threads" in refused.output and not (tmp_path / "other").exists()
