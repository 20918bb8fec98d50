"""The zoo contract: networks ferviz did not train, through every explainer and every command.

The zoo (tests/zoo.py): an eager network that flattens with ``.view`` after a conv, the same
network as a TorchScript file and as a torch.export program, a 64x64 RGB network on [-1, 1]
input, a 5-class network, and a network whose forward returns probabilities. Every registered
explainer, ``models layers``, ``assess`` and ``report --quick`` either works on each, or refuses
in one line (a method that hooks into layers, on a compiled network). No traceback anywhere.
"""

from __future__ import annotations

import json
import warnings
from html import escape

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from ferviz import registry
from ferviz.model.checkpoint import load_checkpoint
from ferviz.cli import main
from ferviz.data.npzfile import save_npz
from ferviz.errors import UnsupportedModelError
from tests.explain.test_contract import run_contract
from tests.report.conftest import QUICK
from tests.zoo import ZooModels, build_zoo, zoo_faces

ZOO = ("view", "torchscript", "export", "rgb64", "five", "probabilities")
EXPLAINERS = sorted(registry.explainers())
REFUSAL = "needs an eager PyTorch model"


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    """The zoo's files, its architectures registered in-process, and a small labelled test split per class list."""
    registry.reset()
    registry.get_plugin_manager().register(ZooModels(), name="zoo")
    folder = tmp_path_factory.mktemp("zoo")
    entries = build_zoo(folder)
    faces = {}
    for entry in entries.values():
        if entry.classes not in faces:
            faces[entry.classes] = zoo_faces(entry.classes)
            save_npz(faces[entry.classes], folder / f"faces-{len(entry.classes)}.npz")
    yield entries, faces, folder
    registry.reset()


def load(entry):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the probabilities notice; tested on its own below
        return load_checkpoint(entry.path, **entry.options())


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_clean(result, ok: bool, text: str = ""):
    """Exit status as expected, no traceback; a refusal or error is one ``Error:`` line on stderr."""
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    if ok:
        assert result.exit_code == 0, result.output
    else:
        lines = result.stderr.strip().splitlines()
        assert result.exit_code == 1 and len(lines) == 1 and lines[0].startswith("Error:"), result.stderr
        assert text in lines[0], lines[0]


@pytest.mark.parametrize("name", ZOO)
def test_loads_as_declared(zoo, name):
    entries, faces, _ = zoo
    entry = entries[name]
    model = load(entry)
    assert (model.kind, model.class_names, model.in_channels, model.input_size, model.outputs) == (
        entry.kind, entry.classes, entry.channels, entry.size, entry.outputs)
    proba = model.predict_proba(faces[entry.classes].images).numpy()
    assert proba.shape == (len(faces[entry.classes]), len(entry.classes))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    if entry.outputs == "probabilities":  # softmax of log p gives p back: no second softmax
        with torch.no_grad():
            x = model.pixels(faces[entry.classes].images)
            np.testing.assert_allclose(proba, model.net(model.preprocessing(x)).numpy(), rtol=1e-5, atol=1e-7)


def test_probabilities_are_found_out_and_said(zoo):
    entry = zoo[0]["probabilities"]
    with pytest.warns(UserWarning, match="returns probabilities"):
        assert load_checkpoint(entry.path, **entry.options()).outputs == "probabilities"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # declared: no warning
        assert load_checkpoint(entry.path, outputs="probabilities", **entry.options()).outputs == "probabilities"
    view = zoo[0]["view"]
    assert load_checkpoint(view.path, **view.options()).outputs == "logits"


@pytest.mark.parametrize("method", EXPLAINERS)
@pytest.mark.parametrize("name", ZOO)
def test_every_explainer_works_or_refuses_in_one_line(zoo, name, method, tmp_path):
    entries, faces, _ = zoo
    entry = entries[name]
    model = load(entry)
    cls = registry.explainers()[method]
    if cls.needs_eager and entry.kind != "eager":
        with pytest.raises(UnsupportedModelError) as refused:
            cls(model, **cls.quick_options)
        message = str(refused.value)
        assert "\n" not in message and message.startswith(f"{method} {REFUSAL}") and str(entry.path) in message
        return
    torch.manual_seed(0)
    explanation = run_contract(cls, model, faces[entry.classes], tmp_path / "out")
    for key in {"attributions", "saliency", "images", "mask"} & set(explanation.arrays):
        if cls.needs == "images":  # maps and faces at the network's own input size
            assert explanation.arrays[key].shape[1:] == (entry.size, entry.size), key


@pytest.mark.parametrize("name", ZOO)
def test_cli_explain_and_models_layers(zoo, name, tmp_path):
    entries, _, folder = zoo
    entry = entries[name]
    data = folder / f"faces-{len(entry.classes)}.npz"
    result = invoke("explain", "-m", "saliency", "--checkpoint", entry.path, *entry.flags, "--data", data,
                    "--per-class", "1", "--out", tmp_path / "saliency")
    assert_clean(result, ok=True)
    assert (tmp_path / "saliency" / "arrays.npz").is_file()
    eager = entry.kind == "eager"
    result = invoke("explain", "-m", "grad-cam", "--checkpoint", entry.path, *entry.flags, "--data", data,
                    "--per-class", "1", "--out", tmp_path / "gradcam")
    assert_clean(result, ok=eager, text=f"grad-cam {REFUSAL}")
    assert (tmp_path / "gradcam").exists() == eager
    result = invoke("models", "layers", entry.path, *entry.flags, "--json")
    assert_clean(result, ok=eager, text=f"ferviz models layers {REFUSAL}")
    if eager:
        rows = json.loads(result.stdout)
        assert [r["name"] for r in rows][:3] == ["conv1", "relu1", "pool"]
        assert rows[-1]["name"] == "fc" and rows[-1]["shape"] == [len(entry.classes)]


@pytest.mark.parametrize("name", ZOO)
def test_report_quick(zoo, name, tmp_path):
    entries, _, folder = zoo
    entry = entries[name]
    out = tmp_path / "report"
    result = invoke("report", "--checkpoint", entry.path, *entry.flags, "--data",
                    folder / f"faces-{len(entry.classes)}.npz", "--out", out, "--quiet", *QUICK)
    assert_clean(result, ok=True)
    report = json.loads((out / "report.json").read_text())
    sections = report["sections"]
    assert not any(s["errors"] for s in sections.values()), {k: s["errors"] for k, s in sections.items()}
    assert "tracebacks" not in report
    refused = {key for key, s in sections.items() if any(REFUSAL in note for note in s["notes"])}
    hooked = {"filters", *(f"plugin-{n}" for n, c in registry.explainers().items() if c.needs_eager)} & set(sections)
    # the explorer leaves the layer methods out on a compiled network, and says so
    assert refused == ((hooked | {"explorer"}) if entry.kind != "eager" else set())
    for key in ("confusion", "saliency", "integrated-gradients", "plugin-occlusion", "plugin-smoothgrad",
                *(sorted(hooked) if entry.kind == "eager" else [])):
        assert sections[key]["figures"], key
    html = (out / "index.html").read_text()
    assert all(escape(sections[key]["notes"][0]) in html for key in refused)


@pytest.mark.parametrize("name", ZOO)
def test_assess(zoo, name, tmp_path):
    entries, _, folder = zoo
    entry = entries[name]
    data = folder / f"faces-{len(entry.classes)}.npz"
    common = ("assess", "--checkpoint", entry.path, *entry.flags, "--data", data, "--count", "4", "--json")
    quick = ("-p", "deletion.steps=4", "-p", "integrated-gradients.steps=8", "-p", "smoothgrad.samples=3")
    result = invoke(*common, "--methods", "all", "--metrics", "deletion,model-randomisation" if entry.kind == "eager"
                    else "deletion", *quick, "--out", tmp_path / "all")
    assert_clean(result, ok=True)
    assessment = json.loads(result.stdout)
    rows = set(assessment["methods"])
    hooked = {n for n, c in registry.explainers().items() if c.needs_eager and c.needs == "images"}
    assert hooked.isdisjoint(rows) == (entry.kind != "eager")
    assert {"saliency", "integrated-gradients", "occlusion", "smoothgrad"} <= rows
    assert all(np.isfinite(assessment["table"][row]["deletion"]["means"]["auc"]) for row in rows)
    if entry.kind != "eager":
        assert all(REFUSAL in assessment["skipped"][name] for name in hooked)
    if entry.kind != "eager":
        for option in (("--methods", "grad-cam", "--metrics", "deletion"),
                       ("--methods", "saliency", "--metrics", "model-randomisation")):
            result = invoke(*common, *option, "--out", tmp_path / "refused")
            assert_clean(result, ok=False, text=REFUSAL)
