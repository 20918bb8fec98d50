"""How explainers describe themselves to the report: every registered one validly, a third-party one in full.

The report names no plugin (``ferviz/report`` reads only the ``report_*`` attributes of
:class:`ferviz.explain.Explainer`); docs/report.md's example explainer runs here as written.
"""

from __future__ import annotations

import json
import re
import string
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from ferviz import registry
from ferviz.errors import ReportIncomplete
from ferviz.explain import (Explainer, attribution_explanation, figure_options, image_records, mask_options,
                            parse_options)
from ferviz.report import ReportConfig, build_report, check_skip
from ferviz.report.describe import report_explainers, section_key
from ferviz.report.planning import LAYOUTS, OWN_SECTIONS
from tests.report.conftest import DATA, InProcessPlugin

ROOT = Path(__file__).resolve().parents[2]
REPORT_DOC = (ROOT / "docs" / "report.md").read_text()


def doc_explainer() -> type[Explainer]:
    """The explainer of docs/report.md's python block, defined as a plugin author would."""
    blocks = re.findall(r"^```python\n(.*?)^```", REPORT_DOC, re.S | re.M)
    assert len(blocks) == 1, "docs/report.md has one python block: the example explainer"
    namespace: dict = {}
    exec(compile(blocks[0], "docs/report.md", "exec"), namespace)
    return namespace["Brightness"]


def fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_explainer_describes_itself_validly():
    keys = [section_key(cls) for cls in report_explainers()]
    assert len(keys) == len(set(keys)) and not set(keys) & set(OWN_SECTIONS)
    for cls in report_explainers():
        assert cls.report_layout in LAYOUTS, cls.name
        assert isinstance(cls.report_order, int) and isinstance(cls.report_title, str), cls.name
        assert all(isinstance(layer, str) for layer in cls.report_layers), cls.name
        assert all(len(column) == 4 and all(isinstance(part, str) for part in column)
                   for column in cls.report_columns), cls.name
        for options in ({}, cls.quick_options):
            opts = parse_options(cls, options)
            cost = cls.report_cost(SimpleNamespace(**opts), 7, 48)
            assert isinstance(cost, int) and cost > 0, (cls.name, options)
            assert fields(cls.report_lead) <= {*opts, "mask_rule"}, cls.name
        if cls.report_layout != "generic":  # a section of its own: its heading and lead say what it shows
            assert cls.report_section and cls.report_title and cls.report_lead, cls.name


def test_the_core_names_no_plugin():
    """No string in ferviz/report's code is a registered explainer's name: what it knows, the class says."""
    import ast

    names = set(registry.explainers())
    for path in sorted((ROOT / "ferviz" / "report").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            assert not (isinstance(node, ast.Constant) and node.value in names), (path.name, node.lineno, node.value)


class ToyLook(Explainer):
    """A third-party attribution: each face's brightness above its mean, with a column and a finding."""

    name = "toy-look"
    summary = "Brightness above the face's mean."
    needs = "images"
    report_layout, report_section, report_order = "attributions", "toy-look", 5
    report_title = "Where is the toy face bright?"
    report_lead = "Brightness above the mean, masked at {threshold} (the {mask_rule})."
    report_caption = "{name} page {figure} of {checkpoint}"
    report_columns = (("mean", "mean grey", "{:.0f}", "the face's mean grey level"),)
    options = (*mask_options(0.7, "max", 0.0), *figure_options())

    @classmethod
    def report_findings(cls, explanation):
        return ["A toy finding."], {"toy_number": 1}

    def explain(self, request):
        images = request.images.astype(np.float32)
        maps = images - images.mean(axis=(1, 2), keepdims=True)
        records = image_records(self.model, request)
        for record, face in zip(records, images):
            record["mean"] = float(face.mean())
        return attribution_explanation(self, request, maps, signed=True, map_title="bright", key="bright",
                                       records=records)


class ToyTypo(Explainer):
    """A layout the report does not have: an error in its own section, not a sunk report."""

    name = "toy-typo"
    summary = "Misspelt layout."
    needs = "model"
    report_layout = "atributions"

    def explain(self, request):
        raise AssertionError("never run")


@pytest.fixture(scope="module")
def described(tmp_path_factory, tiny_checkpoint):
    """A report of the docs' example and the two toys alone (every other explainer and the explorer skipped)."""
    brightness = doc_explainer()
    builtins = list(registry.explainers())
    registry.reset()  # the registry is collected once: register before it is read again
    registry.get_plugin_manager().register(InProcessPlugin(brightness, ToyLook, ToyTypo), name="toy-describe")
    out = tmp_path_factory.mktemp("described") / "report"
    try:
        check_skip(["toy-look", "brightness"], study=False)  # an explainer's section key and its name are known
        with pytest.raises(ReportIncomplete) as incomplete:
            build_report(ReportConfig(checkpoints=[tiny_checkpoint], data=DATA, out=out, progress=False,
                                      params=("brightness.scale=2",), skip=("explorer", "training", *builtins)))
    finally:
        registry.reset()
    return out, incomplete.value, json.loads((out / "report.json").read_text())


def test_sections_follow_report_order_then_name(described):
    _, _, report = described
    assert list(report["sections"]) == ["model", "accuracy", "toy-look", "plugin-brightness", "plugin-toy-typo"]


def test_a_third_party_attribution_describes_its_section(described):
    out, _, report = described
    s = report["sections"]["toy-look"]
    assert s["title"] == "Where is the toy face bright?" and not s["errors"]
    assert s["lead"].startswith("Brightness above the mean, masked at 0.7 (the ") and "per true class" in s["lead"]
    assert s["findings"][-1] == "A toy finding." and s["numbers"]["toy_number"] == 1
    assert len(s["numbers"]["images"]) == 7 and "upper_half_share" in s["numbers"]["images"][0]
    html = (out / "index.html").read_text()
    assert "toy-look page toy-look" in html and f"of {report['explained_with']}" in html
    assert "<th class=\"n\">mean grey</th>" in html and "mean grey: the face&#x27;s mean grey level" in html


def test_the_docs_example_gets_its_own_heading_lead_caption_and_finding(described):
    out, _, report = described
    s = report["sections"]["plugin-brightness"]
    assert s["title"] == "How bright are the faces?" and not s["errors"]
    assert s["lead"] == "The mean grey level of each selected face, times 2.0."
    assert s["findings"][-1].startswith("Their mean grey level is ") and s["numbers"]["overall"] > 0
    assert "brightness: the 7 faces, titled by their mean grey level" in (out / "index.html").read_text()


def test_an_unknown_layout_is_an_error_in_its_section(described):
    _, incomplete, report = described
    assert report["sections"]["plugin-toy-typo"]["errors"] == [
        "toy-typo: unknown report_layout 'atributions'; one of generic, attributions, confusion-matrix, "
        "filter-grids"]
    assert list(incomplete.failed) == ["plugin-toy-typo"]


def test_the_report_reads_a_study_without_importing_training(tmp_path, tiny_checkpoint):
    """ferviz.report, and a whole report with a study, leave the trainer unimported (a subprocess: a clean slate)."""
    study = tmp_path / "study"
    study.mkdir()
    (study / "study.json").write_text(json.dumps({
        "format": "ferviz-study", "version": 1, "kind": "normalization", "seeds": [0], "description": "a stub",
        "variants": [{"name": "standard", "description": "normalize standard", "runs": [], "stats": {}}],
        "complete": False}))
    script = """
import json, sys
from pathlib import Path
import ferviz.report
assert "ferviz.train.trainer" not in sys.modules, "importing ferviz.report imports the trainer"
from ferviz import registry
from ferviz.report import ReportConfig, build_report
checkpoint, data, out, study = sys.argv[1:]
build_report(ReportConfig(checkpoints=[Path(checkpoint)], data=data, out=Path(out), study=Path(study), progress=False,
                          skip=("explorer", *registry.explainers())))
print(json.dumps([sorted(m for m in sys.modules if m.startswith("ferviz.train")),
                  list(json.loads((Path(out) / "report.json").read_text())["sections"])]))
"""
    args = [str(tiny_checkpoint), DATA, str(tmp_path / "r"), str(study)]
    done = subprocess.run([sys.executable, "-c", script, *args], cwd=ROOT, capture_output=True, text=True,
                          env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    train_modules, sections = json.loads(done.stdout.strip().splitlines()[-1])
    assert "ferviz.train.trainer" not in train_modules and "ferviz.train.study" not in train_modules
    assert sections == ["model", "training", "accuracy", "study"]
