"""The report's ``index.html``: one self-contained page, CSS inline, figures as relative PNG links.

No web fonts, nothing fetched: the page opens from a folder, a zip or a file share. The only
script is the explorer's, inline (:mod:`ferviz.report.page`); everything else works without it.
Every text that comes from data (class names, plugin output, error messages) is escaped.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from ferviz.report.sections import Section, Table

CSS = """
:root { --ink: #1f2328; --muted: #656d76; --rule: #d0d7de; --accent: #0969da; --soft: #f6f8fa;
        --good: #1a7f37; --bad: #cf222e; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff; line-height: 1.5;
       font: 15px/1.5 -apple-system, "Segoe UI", "Helvetica Neue", Arial, "DejaVu Sans", sans-serif; }
header, main, footer { max-width: 1080px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 28px; border-bottom: 1px solid var(--rule); padding-bottom: 12px; }
h1 { font-size: 28px; margin: 0 0 4px; }
h2 { font-size: 21px; margin: 0 0 10px; padding-top: 6px; }
h2 .num { color: var(--accent); margin-right: 8px; }
.meta { color: var(--muted); margin: 0 0 8px; }
code { font: 13px/1.4 "DejaVu Sans Mono", Menlo, Consolas, monospace; background: var(--soft);
       padding: 1px 4px; border-radius: 4px; }
nav ol { columns: 2; margin: 8px 0 0; padding-left: 22px; }
nav a { color: var(--accent); text-decoration: none; }
section { padding: 22px 0 14px; border-bottom: 1px solid var(--rule); }
.findings { background: #ddf4ff; border-left: 4px solid var(--accent); padding: 8px 14px; margin: 0 0 14px;
            border-radius: 0 6px 6px 0; }
.findings p { margin: 4px 0; }
.error { background: #ffebe9; border-left: 4px solid var(--bad); padding: 8px 14px; margin: 0 0 14px;
         border-radius: 0 6px 6px 0; white-space: pre-wrap; font-family: "DejaVu Sans Mono", monospace;
         font-size: 13px; }
.note { color: var(--muted); margin: 6px 0; }
.lead { margin: 0 0 10px; }
.side { display: flex; gap: 24px; align-items: flex-start; }
.side > .figures { flex: 0 0 54%; }
.side > div:last-child { flex: 1 1 0; min-width: 0; overflow-x: auto; }
.side.words > div:first-child { flex: 0 0 auto; }
.side.words .scroll { max-height: 380px; }
.side table { font-size: 12.5px; }
.side th, .side td { white-space: nowrap; padding: 3px 6px; }
figure { margin: 10px 0 16px; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid var(--rule); border-radius: 4px; }
figcaption { color: var(--muted); font-size: 13px; margin-top: 4px; }
.figures { display: flex; flex-wrap: wrap; gap: 0 20px; align-items: flex-start; }
.figures.pair figure { flex: 1 1 460px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13.5px; }
caption { caption-side: top; text-align: left; color: var(--muted); font-size: 13px; padding-bottom: 4px; }
th, td { border-bottom: 1px solid var(--rule); padding: 3px 10px; text-align: left; vertical-align: top; }
th { background: var(--soft); font-weight: 600; }
tbody tr:nth-child(even) td { background: #fbfcfd; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.good { color: var(--good); font-weight: 600; }
.bad { color: var(--bad); font-weight: 600; }
.scroll { max-height: 520px; overflow-y: auto; display: inline-block; border: 1px solid var(--rule); }
.scroll table { margin: 0; }
.time { color: var(--muted); font-size: 12.5px; text-align: right; margin: 0; }
footer { padding: 18px 24px 40px; color: var(--muted); }
footer h2 { color: var(--ink); font-size: 18px; }
"""


def render_html(meta: dict, sections: list[Section], timings: dict, folder: Path) -> str:
    """The page for `sections`; `folder` holds the figures (their sizes go into the img tags)."""
    inputs = meta["inputs"]
    checkpoints = ", ".join(f"<code>{escape(c)}</code>" for c in inputs["checkpoints"])
    explained = (f" Explanations use the first checkpoint, <code>{escape(meta['explained_with'])}</code>."
                 if len(inputs["checkpoints"]) > 1 else "")
    toc = "".join(f'<li><a href="#{escape(s.key)}">{escape(s.title)}</a></li>' for s in sections)
    body = "".join(_section(i + 1, s, Path(folder)) for i, s in enumerate(sections))
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ferviz report: {escape(inputs['checkpoints'][0])}</title>
<style>{CSS}{"".join(s.css for s in sections)}</style>
</head>
<body>
<header>
<h1>What the model sees</h1>
<p class="meta">Checkpoint{'s' if len(inputs['checkpoints']) > 1 else ''} {checkpoints} on
<code>{escape(inputs['data'])}</code>, split <code>{escape(inputs.get('split_description', inputs['split']))}</code> ({inputs['images']:,} images).
{explained} {inputs['per_class']} face{'s' if inputs['per_class'] > 1 else ''} per class explained
(seed {inputs['seed']}).
Made by ferviz {escape(meta['ferviz_version'])} on {escape(meta['created'])} in {timings['total']:.1f} s.</p>
<nav><ol>{toc}</ol></nav>
</header>
<main>
{body}
</main>
<footer>
{_timings(sections, timings)}
<p>Every number on this page is in <a href="report.json">report.json</a>.
{f"Command: <code>{escape(meta['command'])}</code>" if meta.get('command') else ''}</p>
</footer>
</body>
</html>
"""


def _section(number: int, s: Section, folder: Path) -> str:
    parts = [f'<section id="{escape(s.key)}">',
             f'<h2><span class="num">{number}</span>{escape(s.title)}</h2>']
    lead = f'<p class="lead">{_marks(escape(s.lead))}</p>' if s.lead else ""
    findings = "".join(f"<p>{_marks(escape(f))}</p>" for f in s.findings if f)
    findings = f'<div class="findings">{findings}</div>' if findings else ""
    errors = "".join(f'<div class="error">{escape(e)}</div>' for e in s.errors)
    notes = "".join(f'<p class="note">{escape(n)}</p>' for n in s.notes)
    sizes = [_png_size(folder / file) for file, _ in s.figures]
    figures = "".join(_figure(file, caption, size) for (file, caption), size in zip(s.figures, sizes))
    tables = "".join(_table(t) for t in s.tables)
    tall = bool(sizes) and all(size and size[1] > 1.3 * size[0] for size in sizes)
    if not figures and tables:  # a table alone (the layer summary): the words beside it
        parts.append(f'<div class="side words"><div>{tables}</div><div>{lead}{findings}{errors}{notes}</div></div>')
    elif tall and tables:  # tall attribution grids: the tables beside them, not below
        parts += [lead, findings, errors,
                  f'<div class="side"><div class="figures">{figures}</div><div>{tables}</div></div>', notes]
    else:
        pair = " pair" if len(s.figures) > 1 and all(size and size[0] > 600 for size in sizes) else ""
        parts += [lead, findings, errors, f'<div class="figures{pair}">{figures}</div>' if figures else "", tables,
                  notes]
    parts.append(s.html)
    parts.append(f'<p class="time">{s.seconds:.1f} s</p></section>\n')
    return "\n".join(p for p in parts if p)


def _figure(file: str, caption: str, size) -> str:
    dims = f' width="{size[0]}" height="{size[1]}"' if size else ""
    return (f'<figure><img src="{escape(file)}" alt="{escape(caption)}"{dims}>'
            f"<figcaption>{escape(caption)}</figcaption></figure>")


def _png_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from a PNG's header, or None when the file is not a PNG."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(24)
    except OSError:
        return None
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def _marks(text: str) -> str:
    text = text.replace("\u2713", '<span class="good">\u2713</span>')
    return text.replace("\u2717", '<span class="bad">\u2717</span>')


def _table(t: Table) -> str:
    head = "".join(f'<th class="{"n" if i in t.numeric else ""}">{escape(h)}</th>' for i, h in enumerate(t.headers))
    rows = "".join("<tr>" + "".join(f'<td class="{"n" if i in t.numeric else ""}">{_marks(escape(c))}</td>'
                                    for i, c in enumerate(row)) + "</tr>" for row in t.rows)
    caption = f"<caption>{escape(t.caption)}</caption>" if t.caption else ""
    table = f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    return f'<div class="scroll">{table}</div>' if len(t.rows) > 24 else table


def _timings(sections: list[Section], timings: dict) -> str:
    total = timings["total"] or 1.0
    titles = {"loading": "loading checkpoints and data", "other": "choosing faces, checking explainer options",
              **{s.key: s.title for s in sections}}
    rows = "".join(f'<tr><td>{escape(titles.get(k, k))}</td><td class="n">{v:.1f}</td>'
                   f'<td class="n">{v / total:.0%}</td></tr>' for k, v in timings.items() if k != "total")
    return (f"<h2>Where time goes</h2><table><thead><tr><th>section</th><th class=\"n\">seconds</th>"
            f'<th class="n">share</th></tr></thead><tbody>{rows}<tr><th>total</th><th class="n">{total:.1f}</th>'
            f'<th class="n">100%</th></tr></tbody></table>')
