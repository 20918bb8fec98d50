"""The docs' examples run as written: docs/plugins.md's model plugin and Keras reader, and every
python block of docs/api.md."""

from __future__ import annotations

import json
import os
import re
import shutil
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from PIL import Image

from ferviz import registry
from ferviz.model.checkpoint import load_checkpoint
from ferviz.model.loaded import LoadedModel
from ferviz.cli import main

from tests.conftest import require_extra
from tests.photos import committed_faces, compose

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "plugins.md").read_text()
DATA = "synthetic:count=70,val=14,test=14"
TEST_FACES = ROOT / "tests" / "assets" / "faces"


def python_blocks(doc: str) -> list[str]:
    """Every ```python block of a markdown text, in order."""
    return re.findall(r"^```python\n(.*?)^```", doc, re.S | re.M)


def block(marker: str) -> str:
    """The ```python block right after ``<!-- docs:MARKER -->``."""
    found = re.search(rf"<!-- docs:{marker} -->\n```python\n(.*?)```", DOC, re.S)
    assert found, f"docs/plugins.md has no python block after <!-- docs:{marker} -->"
    return found.group(1)


def module_from(marker: str) -> types.ModuleType:
    module = types.ModuleType(f"docs_{marker.replace('-', '_')}")
    exec(compile(block(marker), f"docs/plugins.md ({marker})", "exec"), module.__dict__)
    return module


@pytest.fixture
def fresh_registry():
    registry.reset()
    yield registry.get_plugin_manager()
    registry.reset()


def invoke(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    return result


def test_the_model_plugin_example_trains_loads_and_explains(fresh_registry, tmp_path):
    plugin = module_from("model-plugin")
    fresh_registry.register(plugin, name="fermini")
    assert registry.models()["fer-mini"] is plugin.FerMini
    invoke("train", "--arch", "fer-mini", "--data", DATA, "--epochs", "1", "--batch-size", "16", "--quiet",
           "--out", tmp_path / "run")
    best = tmp_path / "run" / "best.pt"
    rows = json.loads(invoke("models", "layers", best, "--json").stdout)
    assert [r["name"] for r in rows][:4] == ["features.conv1", "features.bn1", "features.relu1", "features.pool1"]
    assert rows[-1]["name"] == "classifier" and rows[-1]["shape"] == [7]
    invoke("explain", "-m", "grad-cam", "--checkpoint", best, "-p", "layer=features.conv2", "--data", DATA,
           "--per-class", "1", "--out", tmp_path / "gc")
    with np.load(tmp_path / "gc" / "arrays.npz") as arrays:
        assert arrays["cam"].shape == (7, 24, 24)
    torch.manual_seed(0)
    torch.save(plugin.FerMini(width=32).state_dict(), tmp_path / "mini.pt")  # weights trained elsewhere
    invoke("explain", "-m", "saliency", "--checkpoint", tmp_path / "mini.pt", "--arch", "fer-mini", "--arch-arg",
           "width=32", "--classes", "fer2013", "--normalize", "standard:129.5,65.0", "--data", DATA,
           "--per-class", "1", "--out", tmp_path / "sal")
    assert (tmp_path / "sal" / "saliency.png").is_file()


def test_the_keras_reader_in_the_docs_is_the_shipped_one_and_runs(tmp_path):
    require_extra("h5py", "keras")
    from tests.keras_files import keras_forward, random_weights, report_like_layers, write_keras_h5

    assert block("keras-reader") == (ROOT / "plugins" / "keras_h5.py").read_text()
    reader = module_from("keras-reader")
    layers, weights = report_like_layers(), random_weights(report_like_layers(), seed=4)
    path = tmp_path / "fer.hdf5"
    write_keras_h5(path, layers, weights)
    model = reader.load_checkpoint(path=path, options={"classes": "fer2013", "normalize": "standard:127.5,127.5"})
    assert isinstance(model, LoadedModel) and model.class_names[0] == "angry"
    faces = np.random.default_rng(2).integers(0, 256, (3, 12, 12), dtype=np.uint8)
    with torch.no_grad():
        logits = model(model.pixels(faces)).double().numpy()
    expected = keras_forward(layers, weights, (faces[..., None] - 127.5) / 127.5)
    np.testing.assert_allclose(logits, expected, atol=1e-5 * np.abs(expected).max())
    other = tmp_path / "other.pt"
    torch.save({"w": torch.zeros(1)}, other)
    assert reader.load_checkpoint(path=other, options={}) is None  # not HDF5: another reader's turn
    assert load_checkpoint(path, classes="fer2013", normalize="signed").arch == "keras-h5"  # and ferviz uses it


def test_every_python_block_of_the_api_guide_runs_in_order(tmp_path, capsys):
    require_extra("cv2", "faces")  # its photo example
    doc = (ROOT / "docs" / "api.md").read_text()
    blocks = python_blocks(doc)
    assert len(blocks) == doc.count("```python") >= 5
    shutil.copytree(TEST_FACES, tmp_path / "faces", ignore=shutil.ignore_patterns("*.md"))
    shutil.copy(TEST_FACES / "happy-10019449.png", tmp_path / "face.png")
    photo, _ = compose(committed_faces()[1::3], seed=4)  # four real faces pasted into a photo
    Image.fromarray(photo).save(tmp_path / "group.jpg", quality=95)
    namespace: dict = {"__name__": "docs_api"}
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        for i, code in enumerate(blocks):
            exec(compile(code, f"docs/api.md (python block {i + 1})", "exec"), namespace)
    finally:
        os.chdir(cwd)
    printed = capsys.readouterr().out
    assert "13 (13, 48, 48) ['face.png', 'angry-10118481.png', 'angry-10120469.png']" in printed
    assert "['saliency', 'grad-cam', 'integrated-gradients']" in printed and "(13, 8, 8)" in printed
    assert "['happy', 'happy']" in printed and "opencv-haar" in printed and "['compare', 'photos'] (4, 4)" in printed
    assert (tmp_path / "grad-cam.png").is_file() and (tmp_path / "out" / "grad-cam" / "manifest.json").is_file()
    result = namespace["result"]
    assert len(result._repr_png_()) > 1000 and result._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"
