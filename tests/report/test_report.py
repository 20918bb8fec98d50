"""`ferviz report`: every section and file, numbers equal to `ferviz evaluate`, plugins, bad input."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from types import SimpleNamespace

import numpy as np
import pytest

from ferviz import FER2013_CLASSES, registry
from ferviz.data import Dataset
from ferviz.errors import OptionError, ReportIncomplete, UnknownNameError
from ferviz.model.evaluation import EvalResult
from ferviz.explain import Explainer, Explanation, Option
from ferviz.explain.figures import image_grid
from ferviz.report import ReportConfig, build_report, choose_faces, parse_params
from ferviz.report.explainers import confusion_sentence, summary_tables
from ferviz.report.sections import accuracy_sentence, run_history
from tests.report.conftest import DATA, QUICK, InProcessPlugin, fake_history, invoke

SECTIONS = ["model", "training", "accuracy", "study", "confusion", "saliency", "integrated-gradients", "filters",
            "plugin-toy-broken", "plugin-toy-mean", "plugin-toy-weights", "explorer"]


def generic_explainers() -> list[str]:
    """The registered explainers the report shows in a generic section (they describe no section of their own)."""
    return [name for name, cls in registry.explainers().items() if cls.report_layout == "generic"]


class ToyMean(Explainer):
    """Needs images: mean grey level per face, with a figure."""

    name = "toy-mean"
    summary = "Mean grey level per face."
    options = (Option("scale", float, 1.0, "multiplier"),)

    def explain(self, request):
        means = request.images.mean(axis=(1, 2)) * self.opts.scale
        figure = image_grid(request.images.astype(np.float32), [f"{m:.0f}" for m in means])
        return Explanation(arrays={"mean": means}, figures={"faces": figure},
                           summary={"n": len(means), "overall": float(means.mean())})


class ToyWeights(Explainer):
    """Needs the model only."""

    name = "toy-weights"
    summary = "Number of weight tensors."
    needs = "model"

    def explain(self, request):
        return Explanation(summary={"tensors": len(list(self.model.parameters()))})


class ToyBroken(Explainer):
    """Needs a data set and has a bug."""

    name = "toy-broken"
    summary = "Always fails."
    needs = "dataset"

    def explain(self, request):
        raise RuntimeError("boom in a third-party plugin")


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.links += [value for key, value in attrs if key in ("src", "href")]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, history_checkpoint, tiny_checkpoint, tiny_study):
    """One report of two checkpoints with a study and three in-process plugins (one broken).

    Other installed explainers are skipped here (--skip); test_every_installed_explainer runs them.
    """
    registry.reset()
    registry.get_plugin_manager().register(InProcessPlugin(ToyMean, ToyWeights, ToyBroken), name="toy-report")
    out = tmp_path_factory.mktemp("report") / "report"
    others = [n for n in generic_explainers() if not n.startswith("toy-")]
    try:
        result = invoke("report", "--checkpoint", history_checkpoint, "--checkpoint", tiny_checkpoint, "--data", DATA,
                        "--out", out, "--study", tiny_study[0], "-p", "toy-mean.scale=2", *QUICK,
                        *(arg for name in others for arg in ("--skip", name)))
    finally:
        registry.reset()
    assert result.exit_code == 1, result.output  # the broken plugin's section failed; the report is written
    return out, result, json.loads((out / "report.json").read_text())


def test_every_section_and_file(rendered, history_checkpoint, tiny_checkpoint):
    out, result, report = rendered
    assert result.stdout.strip() == str(out / "index.html")
    assert list(report["sections"]) == SECTIONS
    assert report["inputs"]["checkpoints"] == [str(history_checkpoint), str(tiny_checkpoint)]
    assert report["inputs"]["layers"] == ["features.conv2", "features.relu2"]
    for key, section in report["sections"].items():
        assert section["figures"] or key in ("model", "plugin-toy-broken", "plugin-toy-weights", "explorer"), key
        assert all((out / f).is_file() and (out / f).stat().st_size > 1000 for f in section["figures"])
    assert len(report["sections"]["filters"]["figures"]) == 4  # two layers, from noise and from a face
    assert not any(key != "plugin-toy-broken" and s["errors"] for key, s in report["sections"].items())
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_html_links_only_existing_files_and_no_network(rendered):
    out, _, report = rendered
    html = (out / "index.html").read_text()
    parser = Links()
    parser.feed(html)
    files = [link for link in parser.links if not link.startswith("#")]
    assert files and all((out / link).is_file() for link in files)
    assert "report.json" in files and sum(link.endswith(".png") and "/" not in link for link in files) == 11
    assert "http://" not in html and "https://" not in html and "<script src" not in html
    assert html.count("<script") == 2  # the explorer's data and its script, both inline
    for key in report["sections"]:
        assert f'id="{key}"' in html and f'href="#{key}"' in html
    assert "Where time goes" in html


def test_accuracy_equals_ferviz_evaluate(rendered, history_checkpoint, tiny_checkpoint):
    _, _, report = rendered
    result = invoke("evaluate", history_checkpoint, tiny_checkpoint, "--data", DATA, "--json")
    assert result.exit_code == 0, result.output
    evaluated = json.loads(result.stdout)
    numbers = report["sections"]["accuracy"]["numbers"]
    assert numbers["split"] == evaluated["split"] == "test" and numbers["n"] == 35
    assert numbers["results"] == evaluated["results"]
    assert list(numbers["results"]) == [str(history_checkpoint), str(tiny_checkpoint), "ensemble"]
    confusion = report["sections"]["confusion"]["numbers"]
    assert confusion["accuracy"] == evaluated["results"][str(history_checkpoint)]["accuracy"]


def test_findings_timings_and_marks(rendered):
    out, result, report = rendered
    s = report["sections"]
    assert "most confused pair" in s["confusion"]["findings"][0] or "no face" in s["confusion"]["findings"][0]
    assert "ensemble" in s["accuracy"]["findings"][0]
    assert s["training"]["numbers"]["runs"][list(s["training"]["numbers"]["runs"])[0]]["best_epoch"] == 5
    assert any("no training history" in note for note in s["training"]["notes"])  # tiny_checkpoint has none
    sal = s["saliency"]["numbers"]
    assert len(sal["images"]) == 7 and sal["right"] + sal["wrong"] == 7
    assert all(i["id"][0] in "\u2713\u2717" for i in sal["images"])  # right/wrong marked in every title
    assert s["integrated-gradients"]["numbers"]["options"]["steps"] == 4
    assert s["saliency"]["numbers"]["options"]["threshold"] == 0.5
    assert s["saliency"]["numbers"]["options"]["precision"] == "auto"  # its bf16 scope (tests/explain/test_bf16.py)
    fa = s["filters"]["numbers"]["layers"]["features.conv2"]
    assert set(fa) == {"noise", "image"} and fa["noise"]["steps"] == 2 and fa["noise"]["count"] == 2
    timings = report["timings_s"]
    assert set(timings) == {"loading", "other", "total", *SECTIONS} and timings["total"] > 0
    assert result.stderr.count("report") >= 1 and "report written to" in result.stderr
    failed = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(failed) == 1 and f"1 of {len(SECTIONS)} sections failed" in failed[0] and "plugin-toy-broken (toy-broken failed: " \
        "RuntimeError: boom in a third-party plugin)" in failed[0], result.stderr
    study = s["study"]["numbers"]
    assert study["kind"] == "normalization" and (out / "study.png").is_file()


def test_third_party_plugins_appear_and_a_broken_one_is_contained(rendered):
    out, _, report = rendered
    s = report["sections"]
    mean = s["plugin-toy-mean"]
    assert mean["numbers"]["summary"]["n"] == 7 and mean["numbers"]["options"] == {"scale": 2.0}
    assert mean["figures"] == ["plugin-toy-mean-faces.png"]
    assert s["plugin-toy-weights"]["numbers"]["summary"]["tensors"] > 0
    assert s["plugin-toy-broken"]["errors"] == ["toy-broken failed: RuntimeError: boom in a third-party plugin"]
    html = (out / "index.html").read_text()
    assert "What does toy-mean show?" in html and "boom in a third-party plugin" in html
    explorer = s["explorer"]  # the other installed explainers are skipped here (see rendered)
    assert explorer["numbers"]["explainers"] == ["saliency", "integrated-gradients"]
    assert any(note.startswith("toy-mean is left out of the explorer") for note in explorer["notes"])
    assert len(explorer["numbers"]["filters"]) == 4 and not explorer["errors"]


def test_another_architecture_skips_and_overwrite(tmp_path, resnet_checkpoint):
    """tiny-resnet has no features.conv2: filter ascent falls back to its auto layer; --overwrite replaces."""
    out = tmp_path / "report"
    out.mkdir()
    (out / "report.json").write_text("{}")
    (out / "stale.png").write_bytes(b"old")
    skipped = ["saliency", "integrated-gradients", *generic_explainers()]
    assert invoke("report", "--checkpoint", resnet_checkpoint, "--data", DATA, "--out", tmp_path / "few", "--quiet",
                  "--skip", "filter-ascent", "--skip", "model", *(a for n in skipped for a in ("--skip", n))
                  ).exit_code == 0
    assert "filters" not in json.loads((tmp_path / "few" / "report.json").read_text())["sections"]
    result = invoke("report", "--checkpoint", resnet_checkpoint, "--data", DATA, "--out", out, "--overwrite",
                    "--quiet", "--seed", "3", *QUICK, *(arg for name in skipped for arg in ("--skip", name)))
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["inputs"]["layers"] == ["auto"] and not (out / "stale.png").exists()
    layers = report["sections"]["filters"]["numbers"]["layers"]
    assert len(layers) == 1 and set(next(iter(layers.values()))) == {"noise", "image"}
    assert list(report["sections"]) == ["model", "training", "accuracy", "confusion", "filters", "explorer"]
    assert not any(section["errors"] for section in report["sections"].values())


# ----------------------------------------------------------------------------- bad input
def assert_clean_error(result, text: str):
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    message = result.stderr.strip().splitlines()
    assert len(message) == 1 and message[0].startswith("Error:") and text in message[0], result.stderr


def test_missing_checkpoint_writes_nothing(tmp_path, tiny_checkpoint):
    out = tmp_path / "report"
    result = invoke("report", "--checkpoint", tiny_checkpoint, "--checkpoint", tmp_path / "missing.pt",
                    "--data", DATA, "--out", out)
    assert_clean_error(result, "no such file")
    assert list(tmp_path.iterdir()) == []


def test_existing_out_is_refused_and_left_alone(tmp_path, tiny_checkpoint):
    out = tmp_path / "report"
    out.mkdir()
    (out / "index.html").write_text("mine")
    result = invoke("report", "--checkpoint", tiny_checkpoint, "--data", DATA, "--out", out)
    assert_clean_error(result, "--overwrite")
    result = invoke("report", "--checkpoint", tiny_checkpoint, "--data", DATA, "--out", out, "--overwrite")
    assert_clean_error(result, "holds no report.json")
    assert [p.name for p in tmp_path.iterdir()] == ["report"] and (out / "index.html").read_text() == "mine"


@pytest.mark.parametrize("param, text", [
    ("threshold=0.5", "name the explainer"),
    ("nosuch.steps=3", "unknown explainer 'nosuch'"),
    ("saliency.threshold=2", "bad value threshold='2'"),
    ("filter-ascent.layer=features.conv1", "--layers"),
])
def test_bad_options_fail_before_any_work(tmp_path, tiny_checkpoint, param, text):
    result = invoke("report", "--checkpoint", tiny_checkpoint, "--data", DATA, "--out", tmp_path / "r", "-p", param)
    assert_clean_error(result, text)
    assert list(tmp_path.iterdir()) == []


def test_unknown_layer_and_missing_study(tmp_path, tiny_checkpoint):
    result = invoke("report", "--checkpoint", tiny_checkpoint, "--data", DATA, "--out", tmp_path / "r",
                    "--layers", "features.nope")
    assert_clean_error(result, "unknown layer 'features.nope'")
    result = invoke("report", "--checkpoint", tiny_checkpoint, "--data", DATA, "--out", tmp_path / "r",
                    "--study", tmp_path / "nostudy")
    assert_clean_error(result, "no study.json")
    result = invoke("report", "--checkpoint", tiny_checkpoint, "--data", DATA, "--out", tmp_path / "r",
                    "--skip", "nosuch")
    assert_clean_error(result, "unknown section 'nosuch'")
    assert list(tmp_path.iterdir()) == []


def test_a_failing_section_is_shown_in_place_and_the_rest_render(tmp_path, tiny_checkpoint, monkeypatch):
    """Even a bug (not a FervizError) in one section: its error in place, its half-made files gone, the
    other sections rendered, the traceback in report.json, and the exit status says so."""
    def broken(ctx):
        (ctx.folder / "half.png").write_bytes(b"x")
        raise RuntimeError("a bug in ferviz\nwith a second line")

    monkeypatch.setattr("ferviz.report.planning.training_section", broken)
    out = tmp_path / "report"
    with pytest.raises(ReportIncomplete) as incomplete:
        build_report(ReportConfig(checkpoints=[tiny_checkpoint], data=DATA, out=out, progress=False, quick=True,
                                  skip=("explorer", *generic_explainers())))
    assert incomplete.value.index == out / "index.html" and incomplete.value.index.is_file()
    assert incomplete.value.failed == {"training": ["training failed: RuntimeError: a bug in ferviz"]}
    assert "\n" not in str(incomplete.value) and "training (training failed: RuntimeError" in str(incomplete.value)
    report = json.loads((out / "report.json").read_text())
    assert report["sections"]["training"]["errors"] == ["training failed: RuntimeError: a bug in ferviz"]
    assert "Traceback" in report["tracebacks"]["training"] and "a bug in ferviz" in report["tracebacks"]["training"]
    assert not (out / "half.png").exists()
    others = {k: s for k, s in report["sections"].items() if k != "training"}
    assert list(others) == ["model", "accuracy", "confusion", "saliency", "integrated-gradients", "filters"]
    assert not any(s["errors"] for s in others.values()) and all(s["figures"] for k, s in others.items() if k != "model")
    assert "a bug in ferviz" in (out / "index.html").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]  # no temporary folder left


def test_a_failing_section_makes_the_command_exit_non_zero(tmp_path, tiny_checkpoint, monkeypatch):
    monkeypatch.setattr("ferviz.report.planning.training_section", lambda ctx: 1 / 0)
    out = tmp_path / "report"
    result = invoke("report", "--checkpoint", tiny_checkpoint, "--data", DATA, "--out", out, "--quiet", *QUICK,
                    "--skip", "explorer",
                    *(a for n in generic_explainers() for a in ("--skip", n)))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stdout.strip() == str(out / "index.html")
    assert result.stderr.strip().splitlines()[-1:] == [
        f"Error: report written to {out}, but 1 of 7 sections failed, each error shown in its section: training "
        "(training failed: ZeroDivisionError: division by zero)"]


# ----------------------------------------------------------------------------- pieces
def test_parse_params_groups_by_explainer():
    assert parse_params(["saliency.threshold=0.5", "integrated-gradients.steps=8", "saliency.batch_size=4"]) == {
        "saliency": {"threshold": "0.5", "batch_size": "4"}, "integrated-gradients": {"steps": "8"}}
    with pytest.raises(UnknownNameError):
        parse_params(["nosuch.x=1"])
    with pytest.raises(OptionError, match="has no option 'nope'"):
        parse_params(["saliency.nope=1"])


def test_faces_are_a_seeded_draw_per_class():
    labels = np.arange(70) % 7
    data = Dataset(np.zeros((70, 48, 48), np.uint8), labels, FER2013_CLASSES, split="test")
    first, again, other = choose_faces(data, 2, 0), choose_faces(data, 2, 0), choose_faces(data, 2, 1)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert labels[first].tolist() == [c for c in range(7) for _ in range(2)]


def test_sentences_from_numbers():
    summary = {"per_class_accuracy": {"happy": 0.91, "angry": 0.52, "sad": 0.6}, "best_class": "happy",
               "worst_class": "angry",
               "most_confused": [{"true": "sad", "predicted": "neutral", "share": 0.24, "count": 30}]}
    assert confusion_sentence(summary) == ("Happy is the best recognised class (0.91), angry the worst (0.52); "
                                           "the most confused pair is sad -> neutral (24 %).")
    a = EvalResult(("happy", "sad"), np.array([[9, 1], [3, 7]]), np.zeros((20, 2)))
    b = EvalResult(("happy", "sad"), np.array([[8, 2], [3, 7]]), np.zeros((20, 2)))
    ens = EvalResult(("happy", "sad"), np.array([[10, 0], [2, 8]]), np.zeros((20, 2)))
    text = accuracy_sentence({"a.pt": a, "b.pt": b, "ensemble": ens}, 20, "test")
    assert text.startswith("The best of 2 models, a.pt, recognises 80.0% of the 20 test faces; happy is its best")
    assert "ensemble (mean of probabilities) reaches 90.0%, +10.0 points" in text


def test_curves_come_from_the_run_folder_when_it_continues_the_checkpoint(tmp_path):
    model = SimpleNamespace(meta={"history": fake_history(3)})
    (tmp_path / "history.json").write_text(json.dumps(fake_history(5)))  # best.pt is saved at its best epoch
    history, whole = run_history(model, tmp_path / "best.pt")
    assert len(history) == 5 and whole is history
    (tmp_path / "history.json").write_text(json.dumps(fake_history(5)[1:]))  # another run's: ignored
    history, whole = run_history(model, tmp_path / "best.pt")
    assert len(history) == 3 and whole is None


def test_plugin_summaries_become_tables():
    tables = summary_tables({"layer": "conv6", "shape": [128, 8, 8], "score": 0.123456,
                             "images": [{"id": "a", "p": 0.5}, {"id": "b", "p": 0.25, "extra": 1}]})
    assert tables[0].rows == [["layer", "conv6"], ["shape", "128, 8, 8"], ["score", "0.1235"]]
    assert tables[1].caption == "images" and tables[1].headers == ["id", "p", "extra"]
    assert tables[1].rows == [["a", "0.5", "-"], ["b", "0.25", "1"]] and tables[1].numeric == (1,)


def test_explainers_that_offer_bf16_run_in_auto_precision_unless_told():
    from types import SimpleNamespace

    from ferviz.report import ReportContext

    ctx = SimpleNamespace(config=SimpleNamespace(quick=False), params={"smoothgrad": {"precision": "fp32"}})
    assert ReportContext.options(ctx, "occlusion")["precision"] == "auto"
    assert ReportContext.options(ctx, "smoothgrad")["precision"] == "fp32"  # -p smoothgrad.precision=fp32 wins
    assert ReportContext.options(ctx, "saliency")["precision"] == "auto"  # bf16 backward only
    assert "precision" not in ReportContext.options(ctx, "grad-cam")  # offers no bf16: stays fp32
