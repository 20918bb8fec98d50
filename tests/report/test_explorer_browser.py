"""The report and its explorer in a real browser: Debian's Chromium, driven by Playwright.

The page is loaded from disk (file://) the way a user opens it. The test switches the explainer,
the class and the opacity, opens the faces behind a confusion cell, enlarges a filter, uses the
keys, and checks that the displayed image changes, that every image loads and has alt text, that
nothing but the report's own files is requested and that the console stays free of errors; then it
loads the page with JavaScript off. It saves a screenshot.

Needs ``pip install -e ".[browser-tests]"`` and Chromium at /usr/bin/chromium (``apt-get install
chromium``; FERVIZ_CHROMIUM names another). Where either is missing the tests are skipped with the
reason, except under CI (``CI`` set), where that is a failure: .ci/run installs both.

The README's screenshots come from here, of the quick-start checkpoint's full report::

    FERVIZ_SCREENSHOT_CHECKPOINT=runs/run-001/best.pt python -m pytest -q tests/report/test_explorer_browser.py

which builds the report with default options on ``synthetic`` and writes docs/img/report.png
and docs/img/explorer.png.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.report.conftest import DATA, QUICK, invoke

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("FERVIZ_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
#: The quick-start checkpoint whose report gives the README's screenshots (see the module docstring).
SCREENSHOT_CHECKPOINT = os.environ.get("FERVIZ_SCREENSHOT_CHECKPOINT")
PNG = b"\x89PNG\r\n\x1a\n"


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return 'Playwright is not installed (pip install -c constraints.txt -e ".[browser-tests]")'
    if not (shutil.which(CHROMIUM) or Path(CHROMIUM).is_file()):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    return None


MISSING = _missing()
IN_CI = os.environ.get("CI", "").lower() not in ("", "0", "false", "no")
#: Outside CI a missing browser skips these tests (before any report is built), with the reason.
pytestmark = pytest.mark.skipif(bool(MISSING) and not IN_CI, reason=str(MISSING))


@pytest.fixture(scope="module")
def playwright():
    if MISSING:  # under CI
        pytest.fail(f"{MISSING}: CI must run the browser test, and .ci/run installs what it needs")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


def open_browser(playwright, profile: Path, *, javascript: bool = True):
    """Chromium with a fresh profile (user-data-dir); Playwright adds the remote-debugging flags."""
    return playwright.chromium.launch_persistent_context(
        str(profile), executable_path=CHROMIUM, headless=True, args=FLAGS, java_script_enabled=javascript,
        viewport={"width": 1200, "height": 1000}, device_scale_factor=1)


@pytest.fixture(scope="module")
def report_folder(tmp_path_factory, tiny_checkpoint):
    """A full report (quick options), or the README's one with FERVIZ_SCREENSHOT_CHECKPOINT."""
    out = tmp_path_factory.mktemp("browser") / "report"
    if SCREENSHOT_CHECKPOINT:
        args = ["--checkpoint", SCREENSHOT_CHECKPOINT, "--data", "synthetic"]
    else:
        args = ["--checkpoint", tiny_checkpoint, "--data", DATA, *QUICK, "--skip", "occlusion", "--skip", "smoothgrad"]
    result = invoke("report", *args, "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    return out


class Watched:
    """A page whose console messages, script errors and requests are recorded."""

    def __init__(self, context):
        self.page = context.new_page()
        self.console, self.errors, self.requests = [], [], []
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("requestfailed", lambda r: self.errors.append(f"failed {r.url}: {r.failure}"))

    def open(self, index: Path):
        self.page.goto(index.resolve().as_uri(), wait_until="load")
        return self.page

    def check_clean(self, folder: Path):
        assert not self.errors, self.errors
        assert not [m for m in self.console if m.startswith(("error", "warning"))], self.console
        outside = [u for u in self.requests if not u.startswith(folder.resolve().as_uri() + "/")]
        assert not outside, f"requests outside the report folder: {outside[:5]}"


def loaded_images(page) -> dict:
    """Every image of the page: how many, those that did not load, those without alt text."""
    return page.evaluate("""() => {
        const all = Array.from(document.images);
        return {count: all.length,
                broken: all.filter(i => i.getAttribute('src') && !(i.complete && i.naturalWidth > 0)).map(i => i.src),
                no_alt: all.filter(i => !(i.getAttribute('alt') || '').trim()).map(i => i.outerHTML)};
    }""")


def settle(page):
    """Wait until every image with a source has loaded (or failed)."""
    page.wait_for_function("() => Array.from(document.images).every(i => !i.getAttribute('src') || i.complete)")


def test_explorer_switches_fades_opens_cells_and_enlarges_filters(playwright, report_folder, tmp_path):
    context = open_browser(playwright, tmp_path / "profile")
    try:
        watched = Watched(context)
        page = watched.open(report_folder / "index.html")
        settle(page)
        data = json.loads(page.locator("#fx-data").text_content())
        assert page.locator("#fx-viewer").is_visible() and not page.locator(".fx-nojs").is_visible()
        page.locator("#explorer").scroll_into_view_if_needed()
        stage, shown_map, face = page.locator(".fx-stage"), page.locator("#fx-map"), page.locator("#fx-face")

        def seen():
            settle(page)
            return shown_map.get_attribute("src"), stage.screenshot()

        start_src, start_shot = seen()
        assert start_src == data["faces"][0]["maps"][data["explainers"][0]["name"]][
            str(data["faces"][0]["targets"]["predicted"])]

        # explainer: the second one, by clicking its radio button
        second = data["explainers"][1]["name"]
        page.locator(f'input[name="fx-explainer"][value="{second}"]').check()
        explainer_src, explainer_shot = seen()
        assert second in (shown_map.get_attribute("alt") or "")
        assert explainer_src != start_src and explainer_shot != start_shot

        # class: the runner-up
        page.locator('input[name="fx-role"][value="runner-up"]').check()
        class_src, class_shot = seen()
        runner_up = data["classes"][data["faces"][0]["targets"]["runner-up"]]
        assert class_src != explainer_src and class_shot != explainer_shot
        assert f"for class {runner_up}" in shown_map.get_attribute("alt")

        # opacity, with the keyboard: Home takes the slider to 0, the map disappears
        page.locator("#fx-opacity").focus()
        page.keyboard.press("Home")
        assert shown_map.evaluate("e => getComputedStyle(e).opacity") == "0"
        assert page.locator("#fx-opacity-value").text_content() == "0 %"
        faded_shot = stage.screenshot()
        assert faded_shot != class_shot and faded_shot == face.screenshot()  # the face alone
        page.keyboard.press("End")
        assert shown_map.evaluate("e => getComputedStyle(e).opacity") == "1"
        page.keyboard.press("+")  # past the end: stays at 100 %
        assert page.locator("#fx-opacity-value").text_content() == "100 %"
        for _ in range(4):
            page.keyboard.press("-")
        assert page.locator("#fx-opacity-value").text_content() == "60 %"

        # keys: n is the next face
        page.keyboard.press("n")
        assert page.locator("#fx-position").text_content() == f"2 of {len(data['faces'])}"
        assert face.get_attribute("src") == data["faces"][1]["face"]

        # the largest confusion (an off-diagonal cell): its list, then its first face in the viewer
        confusions = [(g["count"], k, data["listed"][g["faces"][0]]["face"]) for k, g in data["groups"].items()
                      if k.startswith("cell-") and len(set(k.split("-")[1:])) == 2 and g["faces"]]
        _, key, target = max(c for c in confusions if c[2] not in (-1, 1))  # explained, not the face shown
        before_face = face.screenshot()
        page.locator(f'td[data-group="{key}"] button').click()
        listing = page.locator("#fx-list")
        assert listing.is_visible()
        assert page.locator("#fx-list-items li").count() == len(data["groups"][key]["faces"])
        assert page.locator("#fx-list-title").text_content().startswith(data["groups"][key]["title"])
        page.locator("#fx-list-items button").first.click()
        settle(page)
        assert face.get_attribute("src") == data["faces"][target]["face"]
        assert f' {data["faces"][target]["id"]}: ' in page.locator("#fx-title").text_content()
        assert face.screenshot() != before_face
        assert page.locator(f"#fx-face-{target}").get_attribute("aria-current") == "true"
        page.locator(f'td[data-group="{key}"] button').focus()
        page.keyboard.press("Escape")  # closes the list
        assert not listing.is_visible()
        _screenshot_explorer(page, tmp_path / "explorer.png", open_cell=key)

        # a filter enlarges on click, the arrows step through its grid, Esc closes it
        tile = page.locator("a.fx-tile").first
        tile.click()
        box = page.locator("#fx-lightbox")
        assert box.is_visible()
        settle(page)
        big = page.locator("#fx-lightbox-img")
        assert big.get_attribute("src") == tile.get_attribute("href")
        assert big.evaluate("e => e.naturalWidth > 0 && e.getBoundingClientRect().width > 300")
        page.keyboard.press("ArrowRight")
        assert big.get_attribute("src") == page.locator("a.fx-tile").nth(1).get_attribute("href")
        page.keyboard.press("Escape")
        assert not box.is_visible()

        images = loaded_images(page)
        assert images["count"] > 50 and not images["broken"] and not images["no_alt"], images
        watched.check_clean(report_folder)
        _screenshot_report(page, report_folder)
    finally:
        context.close()


def test_the_page_reads_without_javascript(playwright, report_folder, tmp_path):
    context = open_browser(playwright, tmp_path / "profile", javascript=False)
    try:
        watched = Watched(context)
        page = watched.open(report_folder / "index.html")
        settle(page)
        assert page.locator(".fx-nojs").is_visible() and not page.locator("#fx-viewer").is_visible()
        assert page.locator("#fx-gallery img").count() > 10 and page.locator("#fx-gallery").is_visible()
        assert page.locator("#fx-cm td").first.is_visible()
        assert page.locator("section#confusion figure img").is_visible()  # the static figures stay
        first_link = page.locator("#fx-cm td a").first
        first_link.click()  # a count links to a face of its cell in the gallery
        assert page.evaluate("location.hash").startswith("#fx-face-")
        images = loaded_images(page)
        assert not images["broken"] and not images["no_alt"], images
        watched.check_clean(report_folder)
    finally:
        context.close()


def test_ferviz_explore_page_works_from_disk(playwright, explored, tmp_path):
    out = explored[0]
    context = open_browser(playwright, tmp_path / "profile")
    try:
        watched = Watched(context)
        page = watched.open(out / "index.html")
        settle(page)
        before = page.locator("#fx-map").get_attribute("src")
        page.locator("#fx-title").focus()
        page.keyboard.press("e")  # the next explainer, by key
        settle(page)
        assert page.locator("#fx-map").get_attribute("src") != before
        assert page.locator('input[name="fx-explainer"]').nth(1).is_checked()
        images = loaded_images(page)
        assert not images["broken"] and not images["no_alt"], images
        watched.check_clean(out)
    finally:
        context.close()


def _screenshot_explorer(page, path: Path, *, open_cell: str) -> None:
    """The viewer and the confusion matrix with a cell's list open: into `path` (and docs/img)."""
    page.locator(f'td[data-group="{open_cell}"] button').click()
    page.locator("#fx-list-items button").first.focus()
    page.locator("#explorer").scroll_into_view_if_needed()
    top = page.locator("#fx-viewer").bounding_box()  # in the viewport; the clip is in the page
    bottom = page.locator(".fx-cm-wrap").bounding_box()
    scrolled = page.evaluate("window.scrollY")
    clip = {"x": 0, "y": scrolled + top["y"] - 10, "width": 1200,
            "height": bottom["y"] + bottom["height"] - top["y"] + 20}
    page.screenshot(path=str(path), clip=clip, full_page=True)
    assert path.read_bytes().startswith(PNG)
    if SCREENSHOT_CHECKPOINT:
        shutil.copyfile(path, ROOT / "docs" / "img" / "explorer.png")


def _screenshot_report(page, folder: Path) -> None:
    """The top of the report (the README's report screenshot), with FERVIZ_SCREENSHOT_CHECKPOINT."""
    if not SCREENSHOT_CHECKPOINT:
        return
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ROOT / "docs" / "img" / "report.png"), clip={"x": 0, "y": 0, "width": 1200,
                                                                          "height": 2400}, full_page=True)
