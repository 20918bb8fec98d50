"""The explorer's files: small PNGs beside ``index.html`` and the section's markup, script inline.

Images are files in the report's ``explorer/`` folder: each face as the model sees it (8-bit
grey), each attribution map as an 8-bit palette PNG in the colours of the report's figures
(:data:`~ferviz.explain.figures.SIGNED_COLOURS` centred on zero, scaled to the map's largest
absolute value; :data:`~ferviz.explain.figures.UNSIGNED_COLOURS` from zero to the map's maximum),
each filter-ascent image contrast-stretched on its own. A 48x48 map takes one to three kB.

The markup works without JavaScript: a gallery of the explained faces with each explainer's map
for the predicted class, the confusion matrix with its counts, and the filter images, each a
link to its file. The script (``assets/explorer.js``, inline with ``assets/explorer.css``) turns
that into the viewer: it reads the data from a ``<script type="application/json">`` block.
Every text that comes from data is escaped; every image has alt text.
"""

from __future__ import annotations

import json
from html import escape
from importlib import resources
from pathlib import Path

import numpy as np

#: Shown size of a face in the viewer, in CSS pixels (the files stay at the model's input size).
STAGE_PX = 288


# ----------------------------------------------------------------------------- images
def colour_table(name: str) -> np.ndarray:
    """(256, 3) uint8 RGB of matplotlib colour map `name`."""
    from matplotlib import colormaps

    return (colormaps[name](np.linspace(0.0, 1.0, 256))[:, :3] * 255).round().astype(np.uint8)


def gradient_css(name: str, stops: int = 11) -> str:
    """A CSS linear-gradient of colour map `name`, for the viewer's legend."""
    table = colour_table(name)
    parts = [f"rgb({r},{g},{b}) {100 * i / (stops - 1):.0f}%"
             for i, (r, g, b) in enumerate(table[np.linspace(0, 255, stops).round().astype(int)])]
    return f"linear-gradient(to right, {', '.join(parts)})"


def map_levels(attribution: np.ndarray, signed: bool) -> np.ndarray:
    """(H, W) uint8 colour-table indices of one map: signed maps 128 at zero and 0/255 at -/+ the
    largest absolute value; unsigned maps 0 at zero and 255 at the maximum."""
    m = np.nan_to_num(np.asarray(attribution, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if signed:
        bound = float(np.abs(m).max()) or 1.0
        level = 0.5 + 0.5 * m / bound
    else:
        top = float(m.max())
        level = m / top if top > 0 else np.zeros_like(m)
    return (np.clip(level, 0.0, 1.0) * 255).round().astype(np.uint8)


def stretched(image: np.ndarray) -> np.ndarray:
    """(H, W) uint8: a float image contrast-stretched to 0-255 (a flat one is mid-grey)."""
    image = np.asarray(image, dtype=np.float64)
    low, high = float(image.min()), float(image.max())
    if high <= low:
        return np.full(image.shape, 128, np.uint8)
    return ((image - low) / (high - low) * 255).round().astype(np.uint8)


def write_png(path: Path, pixels: np.ndarray, palette: np.ndarray | None = None) -> int:
    """Write (H, W) uint8 `pixels` as a grey PNG, or a palette PNG with `palette` (256, 3); returns bytes."""
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8))
    if palette is not None:
        image.putpalette(palette.reshape(-1).tolist())
    image.save(path, format="PNG", optimize=True)
    return path.stat().st_size


# ----------------------------------------------------------------------------- markup
def asset(name: str) -> str:
    """The text of a file in ferviz/report/assets (shipped as package data)."""
    return resources.files("ferviz.report").joinpath("assets", name).read_text(encoding="utf-8")


def data_block(data: dict) -> str:
    """`data` as an inline JSON block; ``<`` escaped so that no text can close the script."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False).replace("<", "\\u003c")
    return f'<script type="application/json" id="fx-data">{text}</script>'


def _img(src: str, alt: str, size: int, cls: str = "", attrs: str = "") -> str:
    klass = f' class="{cls}"' if cls else ""
    return f'<img{klass} src="{escape(src)}" alt="{escape(alt)}" width="{size}" height="{size}"{attrs}>'


def face_words(face: dict, classes: list[str]) -> str:
    """``✗ test:12: true sad, predicted neutral (0.61)``."""
    pred, p = classes[face["pred"]], face["proba"][face["pred"]]
    if face["true"] is None:
        return f"{face['id']}: predicted {pred} ({p:.2f})"
    mark = "\u2713" if face["true"] == face["pred"] else "\u2717"
    return f"{mark} {face['id']}: true {classes[face['true']]}, predicted {pred} ({p:.2f})"


def map_alt(face: dict, explainer: str, cls: int, roles: list[str], classes: list[str]) -> str:
    return f"{explainer} map of face {face['id']} for class {classes[cls]} ({', '.join(roles)})"


def explorer_html(data: dict) -> str:
    """The explorer's markup (static parts complete), its data and its script."""
    classes = data["classes"]
    parts = ['<div class="fx" id="fx">',
             '<p class="fx-nojs note">The interactive viewer needs JavaScript. Without it this section shows '
             "each explained face with every explainer's map for its predicted class, the confusion matrix "
             "with its counts (a count links to an explained face of its cell) and the filter images (each "
             "links to its file).</p>"]
    if data["faces"]:
        parts.append(_viewer(data))
    if data["counts"] is not None:
        parts.append(_confusion(data))
    if data["faces"]:
        parts.append(_gallery(data, classes))
    for run in data["filters"]:
        parts.append(_filter_grid(run))
    if data["filters"]:
        parts.append('<div class="fx-lightbox" id="fx-lightbox" hidden role="dialog" aria-modal="true" '
                     'aria-labelledby="fx-lightbox-caption"><figure><img id="fx-lightbox-img" alt="the filter image, enlarged">'
                     '<figcaption id="fx-lightbox-caption"></figcaption></figure><p>'
                     '<button type="button" id="fx-lightbox-prev">\u2190 previous</button> '
                     '<button type="button" id="fx-lightbox-close">close (Esc)</button> '
                     '<button type="button" id="fx-lightbox-next">next \u2192</button></p></div>')
    parts += ["</div>", data_block(data), f"<script>{asset('explorer.js')}</script>"]
    return "\n".join(parts)


def _viewer(data: dict) -> str:
    """The viewer, filled in for the first face (the script keeps it up to date)."""
    classes, face, first = data["classes"], data["faces"][0], data["explainers"][0]
    cls = face["targets"]["predicted"]
    roles = [r for r in ("predicted", "true", "runner-up") if face["targets"].get(r) == cls]
    explainers = "".join(
        f'<label><input type="radio" name="fx-explainer" value="{escape(e["name"])}"'
        f'{" checked" if i == 0 else ""}> {escape(e["name"])}</label>' for i, e in enumerate(data["explainers"]))
    role_inputs = "".join(
        f'<label><input type="radio" name="fx-role" value="{r}"{" checked" if r == "predicted" else ""}'
        f'{" disabled" if r == "true" and face["true"] is None else ""}> {r}: <span data-role="{r}"></span></label>'
        for r in ("predicted", "true", "runner-up"))
    stage = (_img(face["face"], f"face {face_words(face, classes)}", STAGE_PX, "fx-face", ' id="fx-face"')
             + _img(face["maps"][first["name"]][str(cls)], map_alt(face, first["name"], cls, roles, classes),
                    STAGE_PX, "fx-map", ' id="fx-map" style="opacity: 0.6"'))
    return f"""<div class="fx-viewer" id="fx-viewer" hidden>
<div class="fx-stage">{stage}</div>
<div class="fx-panel">
<h3 id="fx-title" tabindex="-1" aria-live="polite">{escape(face_words(face, classes))}</h3>
<p class="fx-nav"><button type="button" id="fx-prev">\u2190 previous face</button>
<span id="fx-position">1 of {len(data["faces"])}</span>
<button type="button" id="fx-next">next face \u2192</button></p>
<fieldset id="fx-explainers"><legend>Explainer</legend>{explainers}</fieldset>
<fieldset id="fx-roles"><legend>Class explained</legend>{role_inputs}</fieldset>
<p class="fx-opacity"><label for="fx-opacity">Map opacity over the face</label>
<input type="range" id="fx-opacity" min="0" max="100" step="5" value="60">
<output id="fx-opacity-value" for="fx-opacity">60 %</output></p>
<p class="fx-legend"><span id="fx-legend-low"></span><span class="fx-bar" id="fx-legend-bar"></span>
<span id="fx-legend-high"></span></p>
<p class="note" id="fx-explainer-summary"></p>
<table class="fx-proba" id="fx-proba"><caption>class probabilities of this face</caption><tbody></tbody></table>
<p class="note fx-keys">Keys: <kbd>n</kbd>/<kbd>p</kbd> next/previous face, <kbd>e</kbd>/<kbd>E</kbd> next/previous
explainer, <kbd>c</kbd> next class, <kbd>+</kbd>/<kbd>-</kbd> opacity; <kbd>Tab</kbd> reaches every control,
<kbd>Esc</kbd> closes a list or an enlarged filter.</p>
</div>
</div>"""


def _confusion(data: dict) -> str:
    classes, counts = data["classes"], np.asarray(data["counts"])
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    head = "".join(f'<th scope="col" data-group="col-{j}">{escape(c)}</th>' for j, c in enumerate(classes))
    rows = []
    for i, name in enumerate(classes):
        cells = []
        for j in range(len(classes)):
            group = data["groups"].get(f"cell-{i}-{j}")
            first = next((f for f in (group or {}).get("faces", []) if data["listed"][f]["face"] >= 0), None)
            count = str(counts[i, j])
            text = (f'<a href="#fx-face-{data["listed"][first]["face"]}">{count}</a>' if first is not None else count)
            shade = f"rgba(9, 105, 218, {0.08 + 0.6 * shares[i, j]:.2f})" if counts[i, j] else "transparent"
            dark = ' class="fx-dark"' if shares[i, j] > 0.55 else ""
            cells.append(f'<td data-group="cell-{i}-{j}" style="background: {shade}"{dark}>{text}</td>')
        rows.append(f'<tr><th scope="row" data-group="row-{i}">{escape(name)}</th>{"".join(cells)}</tr>')
    return f"""<h3>Confusion matrix: open the faces behind a cell</h3>
<p class="note">{escape(data["confusion_note"])}</p>
<div class="fx-cm-wrap"><table class="fx-cm" id="fx-cm"><caption>rows: true class; columns: predicted class;
each cell: faces (shaded by the share of its row)</caption><thead><tr><th scope="col">true \\ predicted</th>{head}
</tr></thead><tbody>{"".join(rows)}</tbody></table>
<div class="fx-list" id="fx-list" hidden><h4 id="fx-list-title" tabindex="-1"></h4>
<p class="note" id="fx-list-note"></p><ol id="fx-list-items"></ol></div></div>"""


def _gallery(data: dict, classes: list[str]) -> str:
    cards = []
    for k, face in enumerate(data["faces"]):
        cls = face["targets"]["predicted"]
        roles = [r for r in ("predicted", "true", "runner-up") if face["targets"].get(r) == cls]
        maps = "".join(
            f'<a href="#fx-face-{k}" data-face="{k}" data-explainer="{escape(e["name"])}">'
            + _img(face["maps"][e["name"]][str(cls)], map_alt(face, e["name"], cls, roles, classes), 48) + "</a>"
            for e in data["explainers"])
        cards.append(f'<figure class="fx-card" id="fx-face-{k}"><a href="#fx-face-{k}" data-face="{k}">'
                     + _img(face["face"], f"face {face_words(face, classes)}", 96) + f"</a>"
                     f'<div class="fx-maps">{maps}</div>'
                     f"<figcaption>{escape(face_words(face, classes))} <span class=\"note\">({escape(face['why'])})"
                     "</span></figcaption></figure>")
    names = ", ".join(e["name"] for e in data["explainers"])
    return (f'<h3>The explained faces</h3><p class="note">Beside each face, the map of each explainer for its '
            f"predicted class, in this order: {escape(names)}.</p>"
            f'<div class="fx-gallery" id="fx-gallery">{"".join(cards)}</div>')


def _filter_grid(run: dict) -> str:
    tiles = "".join(f'<a class="fx-tile" href="{escape(t["file"])}" data-run="{run["index"]}" data-tile="{i}">'
                    + _img(t["file"], t["alt"], 64) + f'<span>{t["filter"]}</span></a>'
                    for i, t in enumerate(run["tiles"]))
    return (f'<h3>{escape(run["title"])}</h3><p class="note">Click a filter to enlarge it. Under each: the filter '
            f'number.</p><div class="fx-tiles">{tiles}</div>')


def explorer_css() -> str:
    return asset("explorer.css")
