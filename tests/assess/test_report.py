"""An assessment as files: Markdown table, JSON, figures and arrays, written atomically."""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import numpy as np
import pytest

from ferviz.assess import RANDOM_ROW, assess
from ferviz.data.synthetic import generate
from ferviz.assess.output import markdown_table, to_markdown, write
from tests.assess.helpers import ConstantMap


@pytest.fixture(scope="module")
def result(bars_model):
    faces = generate(14, seed=4, split="test")
    outcome = assess(bars_model, faces.images, faces.labels, masks=faces.masks, methods=["saliency", ConstantMap],
                     metrics=["pointing-game", "relevance-mass", "model-randomisation", "deletion"],
                     metric_options={"model-randomisation": {"images": "4"}, "deletion": {"steps": "4"}})
    outcome.meta.update(checkpoint="toy.pt", data="synthetic", split="test", target="true", seed=0)
    outcome.skipped = {"label-randomisation": "needs a checkpoint trained on shuffled labels"}
    return outcome, faces


def test_markdown_has_every_row_metric_baseline_and_chance(result):
    outcome, _ = result
    table = markdown_table(outcome)
    lines = table.splitlines()
    assert lines[0].startswith("| method | pointing-game ↑ | relevance-mass ↑ | model-randomisation ↓ | "
                               "deletion ↓")
    assert [line.split("|")[1].strip() for line in lines[2:]] == [
        "saliency", "constant-map", "random map (baseline)", "*chance (expected)*"]
    assert "**flagged**" in lines[3] and "**flagged**" not in lines[2]
    text = to_markdown(outcome)
    assert "## pointing-game per class" in text and "## relevance-mass per class" in text
    assert "Not run: label-randomisation" in text


def test_write_puts_every_file_in_place_atomically(result, tmp_path):
    outcome, faces = result
    figures_before = plt.get_fignums()
    files = write(outcome, tmp_path / "out", faces=faces.images)
    names = sorted(p.name for p in files)
    assert names == ["arrays.npz", "assessment.json", "assessment.md", "assessment.png", "curves.png", "maps.png"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == names
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert plt.get_fignums() == figures_before
    data = json.loads((tmp_path / "out" / "assessment.json").read_text())
    assert data["format"] == "ferviz-assessment" and sorted(data["files"]) == names
    cell = data["table"]["constant-map"]["model-randomisation"]
    assert cell["flagged"] is True and cell["n"] == 4 and len(cell["curves"]["cascade"]) == 3
    assert data["metrics"]["pointing-game"]["chance"] == pytest.approx(outcome.chance("pointing-game"))
    assert data["table"]["saliency"]["pointing-game"]["per_class"].keys() == set(outcome.class_names)
    with np.load(tmp_path / "out" / "arrays.npz") as saved:
        assert saved[f"maps.{RANDOM_ROW}"].shape == (14, 48, 48)
        assert saved["saliency.deletion.curve"].shape == (14, 5)


def test_write_refuses_a_file_in_the_way(result, tmp_path):
    from ferviz.errors import OutputError

    outcome, _ = result
    (tmp_path / "out").write_text("not a folder")
    with pytest.raises(OutputError, match="not a folder"):
        write(outcome, tmp_path / "out")
    assert (tmp_path / "out").read_text() == "not a folder"
