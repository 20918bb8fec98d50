"""The report's explorer without a browser: which faces and classes, the files, the page's markup.

tests/report/test_explorer_browser.py drives the same pages in Chromium.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import numpy as np
from PIL import Image

from ferviz import registry
from ferviz.explain import Explainer, Explanation
from ferviz.report.page import data_block, map_levels
from ferviz.registry import hookimpl
from ferviz.report.explorer import LIST_LIMIT, classes_of_interest, explored_faces, face_order, groups_of
from tests.report.conftest import DATA, QUICK, invoke


class Page(HTMLParser):
    """Every tag's attributes, and the text of the inline scripts."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    return page


def page_data(html: str) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="fx-data">(.*?)</script>', html, re.S).group(1))


# ----------------------------------------------------------------------------- which faces, which classes
def test_faces_are_ordered_wrong_first_then_least_sure_of_the_true_class():
    labels = np.array([0, 0, 0, 0, 1])
    predicted = np.array([0, 1, 0, 2, 1])
    p_true = np.array([0.9, 0.3, 0.4, 0.1, 0.8])
    assert face_order(np.arange(5), labels, predicted, p_true).tolist() == [3, 1, 2, 4, 0]


def test_groups_are_the_confusion_matrix_and_each_cell_gives_its_first_faces():
    rng = np.random.default_rng(0)
    labels, predicted = rng.integers(0, 3, 60), rng.integers(0, 3, 60)
    p_true = rng.random(60)
    groups = groups_of(labels, predicted, p_true, 3)
    for i in range(3):
        for j in range(3):
            cell = groups[f"cell-{i}-{j}"]
            assert sorted(cell.tolist()) == np.flatnonzero((labels == i) & (predicted == j)).tolist()
            assert np.all(np.diff(p_true[cell]) >= 0)  # one kind of prediction per cell: the least sure first
        row = groups[f"row-{i}"]
        right = labels[row] == predicted[row]
        assert right.tolist() == sorted(right.tolist())  # wrong predictions first
    chosen, why = explored_faces(np.array([5, 7]), groups, 2, labels, predicted)
    firsts = {int(i) for key, cell in groups.items() if key.startswith("cell-") for i in cell[:2]}
    assert set(chosen.tolist()) == firsts | {5, 7} and why[5] == why[7] == "selected"
    assert [(labels[i], predicted[i]) for i in chosen] == sorted((labels[i], predicted[i]) for i in chosen)
    only, _ = explored_faces(np.array([5, 7]), groups, 0, labels, predicted)
    assert sorted(only.tolist()) == [5, 7]


def test_classes_of_interest_are_predicted_true_and_runner_up():
    proba = np.array([0.1, 0.5, 0.3, 0.1])
    assert classes_of_interest(proba, 2) == {"predicted": 1, "true": 2, "runner-up": 2}
    assert classes_of_interest(proba, 0) == {"predicted": 1, "true": 0, "runner-up": 2}
    assert classes_of_interest(proba, None) == {"predicted": 1, "true": None, "runner-up": 2}


def test_map_colours_signed_around_zero_unsigned_from_zero():
    signed = map_levels(np.array([[-2.0, 0.0], [1.0, 2.0]]), signed=True)
    assert signed.tolist() == [[0, 128], [191, 255]]
    unsigned = map_levels(np.array([[0.0, 1.0], [2.0, np.nan]]), signed=False)
    assert unsigned.tolist() == [[0, 128], [255, 0]]
    assert map_levels(np.zeros((2, 2)), signed=False).tolist() == [[0, 0], [0, 0]]


def test_no_text_in_the_data_can_close_its_script():
    block = data_block({"id": "</script><img src=x onerror=alert(1)>"})
    assert block.count("</script") == 1 and block.endswith("</script>")
    inner = block[block.index(">") + 1:-len("</script>")]
    assert json.loads(inner) == {"id": "</script><img src=x onerror=alert(1)>"}


# ----------------------------------------------------------------------------- ferviz explore
def test_explore_writes_the_explorer_alone_in_one_self_contained_folder(explored):
    out, result, report = explored
    assert result.stdout.strip() == str(out / "index.html")
    assert list(report["sections"]) == ["explorer"] and "explorer written to" in result.stderr
    html = (out / "index.html").read_text()
    page = parse(html)
    images = [attrs for tag, attrs in page.tags if tag == "img"]
    assert len(images) > 50 and all(attrs.get("alt", "").strip() for attrs in images)
    sources = [attrs["src"] for attrs in images if "src" in attrs]
    assert all((out / src).is_file() for src in sources)
    links = [attrs["href"] for tag, attrs in page.tags if tag == "a" and not attrs["href"].startswith("#")]
    assert links and all((out / link).is_file() for link in links)
    assert not [attrs for tag, attrs in page.tags if tag in ("script", "link") and ("src" in attrs or "href" in attrs)]
    assert "http://" not in html and "https://" not in html and "@import" not in html and "url(" not in html
    assert any("fx-data" in s or "getElementById" in s for s in page.scripts)  # the script is inline


def test_every_face_has_a_map_per_explainer_and_class_and_the_size_is_stated(explored):
    out, _, report = explored
    data = page_data((out / "index.html").read_text())
    numbers = report["sections"]["explorer"]["numbers"]
    explainers = [e["name"] for e in data["explainers"]]
    assert explainers[:2] == ["saliency", "integrated-gradients"]
    assert set(explainers) == {n for n, cls in registry.explainers().items() if cls.needs == "images"}
    expected = 0
    for face in data["faces"]:
        classes = {c for c in face["targets"].values() if c is not None}
        assert face["targets"]["true"] is not None and 2 <= len(classes) <= 3
        assert set(face["maps"]) == set(explainers)
        for files in face["maps"].values():
            assert {int(c) for c in files} == classes
            for file in files.values():
                with Image.open(out / file) as image:
                    assert image.mode == "P" and image.size == (48, 48)
        expected += len(explainers) * len(classes)
    maps = sorted(p.name for p in (out / "explorer").glob("map-*.png"))
    assert numbers["maps"] == expected == len(maps) and numbers["faces"] == len(data["faces"])
    size = {kind: sum(p.stat().st_size for p in (out / "explorer").glob(f"{kind}-*.png"))
            for kind in ("face", "map", "filter")}
    assert numbers["bytes"]["maps"] == size["map"] and numbers["bytes"]["faces"] == size["face"]
    assert numbers["bytes"]["filters"] == size["filter"] > 0
    finding = report["sections"]["explorer"]["findings"][0]
    assert f"{numbers['faces']} faces x {len(explainers)} explainers x up to 3 classes: {expected} maps" in finding
    assert "grows linearly" in finding


def test_the_confusion_cells_list_their_faces_and_the_chosen_ones_are_explained(explored):
    out, _, report = explored
    data = page_data((out / "index.html").read_text())
    counts = np.array(data["counts"])
    assert counts.sum() == 35
    explained = {data["faces"][entry["face"]]["id"] for entry in data["listed"] if entry["face"] >= 0}
    assert explained == {face["id"] for face in data["faces"]}
    for i in range(7):
        for j in range(7):
            group = data["groups"][f"cell-{i}-{j}"]
            entries = [data["listed"][k] for k in group["faces"]]
            assert group["count"] == counts[i, j] == len(entries)  # 35 faces: under LIST_LIMIT
            assert all(e["true"] == i and e["pred"] == j for e in entries)
            assert [e["p_true"] for e in entries] == sorted(e["p_true"] for e in entries)
            if entries:  # the first face of every non-empty cell opens in the viewer
                assert entries[0]["face"] >= 0
        row = [data["listed"][k] for k in data["groups"][f"row-{i}"]["faces"]]
        assert [e["pred"] == e["true"] for e in row] == sorted(e["pred"] == e["true"] for e in row)
    assert LIST_LIMIT >= 35
    why = {face["why"] for face in data["faces"]}
    assert "selected" in why


class Unmappable(Explainer):
    name = "toy-unmappable"
    summary = "An image explainer that gives no per-image map."

    def explain(self, request):
        return Explanation(arrays={"mean": request.images.mean(axis=(1, 2))})


class Crashing(Explainer):
    name = "toy-crashing"
    summary = "A third-party explainer with a bug."

    def explain(self, request):
        raise ZeroDivisionError("bug in a plugin")


class Plugin:
    @hookimpl
    def register_explainers(self, register):
        register(Unmappable)
        register(Crashing)


def test_skipped_and_failing_explainers_are_left_out_with_a_note(tmp_path):
    from tests.conftest import make_loaded
    from ferviz.model.checkpoint import save_checkpoint

    checkpoint = tmp_path / "resnet.pt"
    save_checkpoint(checkpoint, make_loaded("tiny-resnet", width=8), history=[], train_config={}, best_epoch=0)
    registry.reset()
    registry.get_plugin_manager().register(Plugin(), name="toy-explorer")
    try:
        result = invoke("explore", checkpoint, "--data", DATA, "--out", tmp_path / "ex", "--quiet", "--cell-faces",
                        "0", "--skip", "filter-ascent", *QUICK,
                        *(a for n in ("occlusion", "smoothgrad", "integrated-gradients", "guided-grad-cam")
                          for a in ("--skip", n)))
    finally:
        registry.reset()
    assert result.exit_code == 0, result.output
    section = json.loads((tmp_path / "ex" / "report.json").read_text())["sections"]["explorer"]
    assert section["numbers"]["explainers"] == ["saliency", "grad-cam", "guided-backprop"]
    assert section["numbers"]["faces"] == 7  # --per-class 1, --cell-faces 0
    assert any(n.startswith("toy-unmappable is left out of the explorer: ") and "DataError: toy-unmappable: its "
               "explanation holds no per-image map" in n for n in section["notes"])
    assert "toy-crashing is left out of the explorer: ZeroDivisionError: bug in a plugin" in section["notes"]
    html = (tmp_path / "ex" / "index.html").read_text()
    assert "toy-crashing is left out" in html and not list((tmp_path / "ex" / "explorer").glob("filter-*"))
    assert 'id="fx-lightbox"' not in html


def test_unlabelled_faces_get_the_viewer_without_true_class_or_confusion(tmp_path, tiny_checkpoint):
    faces = tmp_path / "faces"
    faces.mkdir()
    rng = np.random.default_rng(1)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (60, 60), dtype=np.uint8)).save(faces / f"face{i}.png")
    result = invoke("explore", tiny_checkpoint, "--data", f"images:{faces}", "--out", tmp_path / "ex", "--quiet",
                    "--skip", "filters", *QUICK)
    assert result.exit_code == 0, result.output
    html = (tmp_path / "ex" / "index.html").read_text()
    data = page_data(html)
    assert len(data["faces"]) == 3 and data["counts"] is None and data["groups"] == {}
    assert all(face["true"] is None and face["targets"]["true"] is None for face in data["faces"])
    assert 'id="fx-cm"' not in html and 'id="fx-viewer"' in html
    assert 'value="true" disabled' in html


def test_bad_explore_options_are_refused_before_any_work(tmp_path, tiny_checkpoint):
    bad = invoke("explore", tiny_checkpoint, "--data", DATA, "--out", tmp_path / "ex", "--cell-faces", "-1")
    assert bad.exit_code == 2 and "--cell-faces" in bad.output
    unknown = invoke("explore", tiny_checkpoint, "--data", DATA, "--out", tmp_path / "ex", "-p", "saliency.nope=1")
    assert unknown.exit_code == 1 and "saliency has no option 'nope'" in unknown.stderr
    assert not (tmp_path / "ex").exists()
