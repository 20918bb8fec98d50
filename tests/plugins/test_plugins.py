"""Plugins: in-process registration, entry points from a real distribution, failures, blocking.

Distributions are made on the fly: a module plus a ``.dist-info`` folder (METADATA and
entry_points.txt) on sys.path is what ``pip install`` leaves behind, and importlib.metadata
finds it the same way.
"""

from __future__ import annotations

import configparser
import itertools
import json
import shutil
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from ferviz import registry
from ferviz.model.checkpoint import load_checkpoint
from ferviz.cli import main
from ferviz.errors import PluginError
from ferviz.explain import Explainer, Explanation, Option, run_explainer
from ferviz.registry import hookimpl
from tests.explain.helpers import patch_linear_model
from tests.explain.test_contract import run_contract

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ferviz-example-plugin"
_unique = itertools.count()

TOY_PLUGIN = '''
from ferviz.explain import Explainer, Explanation, Option
from ferviz.registry import hookimpl


class Brightness(Explainer):
    """Mean grey level per image, times a scale: a toy."""

    name = "{name}"
    summary = "Mean brightness per image."
    needs = "images"
    options = (Option("scale", float, 1.0, "multiplier"),)

    def explain(self, request):
        return Explanation(arrays={{"brightness": request.images.mean(axis=(1, 2)) * self.opts.scale}},
                           summary={{"n": len(request.images)}})


@hookimpl
def register_explainers(register):
    register(Brightness)
'''


@pytest.fixture(autouse=True)
def fresh_registry():
    registry.reset()
    yield
    registry.reset()


def make_distribution(root: Path, dist: str, entry_points: dict[str, str], modules: dict[str, str],
                      version: str = "1.2.3") -> Path:
    """Write modules and a `dist`-VERSION.dist-info folder into `root` (what pip would install)."""
    root.mkdir(parents=True, exist_ok=True)
    for name, source in modules.items():
        (root / f"{name}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[ferviz]\n{lines}")
    return root


def install(monkeypatch, root: Path) -> None:
    monkeypatch.syspath_prepend(str(root))
    registry.reset()


def toy_distribution(tmp_path, explainer_name: str = "toy-brightness", plugin_name: str = "toy"):
    module = f"fvz_toy_{next(_unique)}"
    source = TOY_PLUGIN.format(name=explainer_name)
    return make_distribution(tmp_path / "site", "ferviz-toy", {plugin_name: module}, {module: source})


def write_face(path: Path) -> Path:
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (60, 50), dtype=np.uint8)).save(path)
    return path


class InProcessPlugin:
    def __init__(self, cls):
        self.cls = cls

    @hookimpl
    def register_explainers(self, register):
        register(self.cls)


class Doubler(Explainer):
    """Twice the images: a toy explainer registered in-process."""

    name = "toy-doubler"
    summary = "Twice the pixels."
    options = (Option("factor", int, 2, "multiplier", min=1),)

    def explain(self, request):
        return Explanation(arrays={"doubled": request.images.astype(np.int64) * self.opts.factor})


def test_in_process_registration_and_teardown(random_faces):
    registry.get_plugin_manager().register(InProcessPlugin(Doubler), name="doubler-plugin")
    explainers = registry.explainers()
    assert explainers["toy-doubler"] is Doubler and explainers.owner["toy-doubler"] == "doubler-plugin"
    exp = run_explainer("toy-doubler", patch_linear_model(), images=random_faces.images[:2], options={"factor": "3"})
    np.testing.assert_array_equal(exp.arrays["doubled"], random_faces.images[:2].astype(np.int64) * 3)
    registry.reset()
    assert "toy-doubler" not in registry.explainers()


def test_duplicate_name_names_both_plugins():
    class FakeSaliency(Doubler):
        """A second explainer called saliency."""

        name = "saliency"

    registry.get_plugin_manager().register(InProcessPlugin(FakeSaliency), name="impostor")
    with pytest.raises(PluginError, match=r"'ferviz.plugins.saliency' and 'impostor'|'impostor' and "
                                          r"'ferviz.plugins.saliency'"):
        registry.explainers()


def test_entry_point_from_a_real_distribution(tmp_path, monkeypatch, tiny_checkpoint, random_faces):
    install(monkeypatch, toy_distribution(tmp_path))
    assert registry.explainers().owner["toy-brightness"] == "toy"
    run_contract(registry.explainers()["toy-brightness"], load_checkpoint(tiny_checkpoint), random_faces,
                 tmp_path / "contract")

    listing = CliRunner().invoke(main, ["plugins", "--json"])
    assert listing.exit_code == 0, listing.output
    row = next(r for r in json.loads(listing.stdout)["plugins"] if r["name"] == "toy")
    assert row["origin"] == "ferviz-toy" and row["version"] == "1.2.3" and row["status"] == "ok"
    assert row["registers"] == {"explainers": ["toy-brightness"]}

    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["explain", "-m", "toy-brightness", "--checkpoint", str(tiny_checkpoint),
                                       "--image", str(write_face(tmp_path / "face.png")), "-p", "scale=2",
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert np.load(out / "arrays.npz")["brightness"].shape == (1,)


def test_broken_plugin_is_reported_and_breaks_nothing_else(tmp_path, monkeypatch, tiny_checkpoint):
    broken = "import frobnicate_missing_dependency\n"
    install(monkeypatch, make_distribution(tmp_path / "site", "ferviz-broken", {"broken": "fvz_broken_mod"},
                                           {"fvz_broken_mod": broken}))
    runner = CliRunner()
    listing = runner.invoke(main, ["plugins"])
    assert listing.exit_code == 0, listing.output
    line = next(line for line in listing.stdout.splitlines() if line.startswith("broken "))
    assert "FAILED TO LOAD" in line and "frobnicate_missing_dependency" in line and "ferviz-broken" in line
    assert "ferviz.plugins.saliency" in listing.stdout
    assert "failed to load" in listing.stderr
    rows = json.loads(runner.invoke(main, ["plugins", "--json"]).stdout)["plugins"]
    failed = next(r for r in rows if r["name"] == "broken")
    assert failed["status"] == "failed" and "Traceback" in failed["error"]

    assert runner.invoke(main, ["plugins", "show", "saliency"]).exit_code == 0
    result = runner.invoke(main, ["explain", "-m", "saliency", "--checkpoint", str(tiny_checkpoint),
                                  "--image", str(write_face(tmp_path / "face.png")), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output


def test_disable_plugins_environment_variable(tmp_path, monkeypatch):
    install(monkeypatch, toy_distribution(tmp_path, plugin_name="toy"))
    monkeypatch.setenv(registry.DISABLE_ENV, "toy, other")
    registry.reset()
    assert "toy-brightness" not in registry.explainers()
    assert "saliency" in registry.explainers()
    rows = json.loads(CliRunner().invoke(main, ["plugins", "--json"]).stdout)["plugins"]
    assert next(r for r in rows if r["name"] == "toy")["status"] == "disabled"


def test_duplicate_from_a_distribution_fails_commands_with_both_names(tmp_path, monkeypatch, tiny_checkpoint):
    install(monkeypatch, toy_distribution(tmp_path, explainer_name="saliency", plugin_name="copycat"))
    runner = CliRunner()
    result = runner.invoke(main, ["explain", "-m", "saliency", "--checkpoint", str(tiny_checkpoint),
                                  "--out", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert "'copycat'" in result.output and "'ferviz.plugins.saliency'" in result.output
    assert "FERVIZ_DISABLE_PLUGINS=copycat" in result.output
    listing = runner.invoke(main, ["plugins"])
    assert listing.exit_code == 0 and "conflict:" in listing.stderr


# ----------------------------------------------------------------------------- the example plugin
def example_entry_points() -> dict[str, str]:
    """The ferviz entry points declared in the example's setup.cfg (so the test checks that file)."""
    config = configparser.ConfigParser()
    config.read(EXAMPLE / "setup.cfg")
    lines = config["options.entry_points"]["ferviz"].strip().splitlines()
    return dict(tuple(part.strip() for part in line.split("=", 1)) for line in lines)


@pytest.fixture
def example_installed(tmp_path, monkeypatch):
    entry_points = example_entry_points()
    assert entry_points == {"example": "ferviz_example.plugin"}
    site = make_distribution(tmp_path / "site", "ferviz-example-plugin", entry_points, {}, version="0.1.0")
    shutil.copytree(EXAMPLE / "ferviz_example", site / "ferviz_example",
                    ignore=shutil.ignore_patterns("__pycache__"))
    install(monkeypatch, site)


def test_example_plugin_through_the_cli(example_installed, tmp_path, tiny_checkpoint, random_faces):
    runner = CliRunner()
    help_text = runner.invoke(main, ["explain", "--method", "gradient-x-input", "--help"])
    assert help_text.exit_code == 0 and "reference=0.0" in help_text.output
    out = tmp_path / "gxi"
    result = runner.invoke(main, ["explain", "--method", "gradient-x-input", "--checkpoint", str(tiny_checkpoint),
                                  "--image", str(write_face(tmp_path / "face.png")), "-p", "reference=128",
                                  "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["arrays.npz", "gradient-x-input.png", "manifest.json",
                                                     "summary.json"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["method"] == "gradient-x-input" and manifest["options"]["reference"] == 128.0
    run_contract(registry.explainers()["gradient-x-input"], load_checkpoint(tiny_checkpoint), random_faces,
                 tmp_path / "contract")


@pytest.mark.numerics
def test_example_plugin_known_answer(example_installed, random_faces):
    model = patch_linear_model()
    images, targets = random_faces.images[:3], np.array([0, 2, 5])
    exp = run_explainer("gradient-x-input", model, images=images, targets=targets, options={"reference": "128"})
    with torch.no_grad():
        logits = model(model.pixels(images))
        flat = model(torch.full((1, 1, 48, 48), 128.0))
    expected = (logits - flat)[np.arange(3), targets].numpy()  # linear model: exact first-order term
    np.testing.assert_allclose(exp.arrays["attributions"].sum(axis=(1, 2)), expected, rtol=1e-4, atol=1e-5)
