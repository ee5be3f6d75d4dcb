"""The HTML page every chaoskit report shares (run, repeats, comparison): one self-contained file.

No script, no external stylesheet, font or image: it opens offline, from a CI artifact or an e-mail, and
prints. The headline is the first thing on the page.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from markdown_it import MarkdownIt

from chaoskit import __version__
from chaoskit.report.charts import Chart

OUTCOME_CLASS: Final = {"PASS": "pass", "FAIL": "fail", "INCONCLUSIVE": "inconclusive", "ABORTED": "aborted",
                        "FLAKY": "flaky"}  # fmt: skip

CSS: Final = """
:root { --ink: #1d2430; --muted: #5b6575; --line: #dde2ea; }
* { box-sizing: border-box; }
body { font: 14px/1.45 -apple-system, "Segoe UI", "DejaVu Sans", "Liberation Sans", Arial, sans-serif;
  color: var(--ink); margin: 0 auto; max-width: 1180px; padding: 0 20px 40px; }
header.verdict { margin: 16px 0 8px; padding: 14px 18px; border-radius: 8px; border-left: 8px solid; }
header.verdict h1 { font-size: 20px; margin: 0 0 6px; }
header.verdict p { margin: 0; color: var(--muted); }
.pass { background: #eaf6ec; border-color: #2e8b57; } .fail { background: #fdecea; border-color: #c0392b; }
.inconclusive { background: #fff6e0; border-color: #d9a400; } .aborted { background: #eeeff2; border-color: #777; }
.flaky { background: #fff0e6; border-color: #e67e22; }
nav { margin: 8px 0 16px; color: var(--muted); } nav a { margin-right: 12px; }
h2 { font-size: 17px; border-bottom: 1px solid var(--line); padding-bottom: 4px; margin-top: 28px; }
figure.chart { margin: 14px 0 22px; } figure.chart h3 { font-size: 14px; margin: 0 0 4px; }
svg.chart-svg { width: 100%; height: auto; display: block; }
figcaption { color: var(--muted); font-size: 12.5px; max-width: 980px; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; min-width: 180px; flex: 1 1 180px; }
.card .value { font-size: 20px; font-weight: 600; } .card .label { font-weight: 600; }
.card small { display: block; color: var(--muted); font-size: 11.5px; }
table { border-collapse: collapse; margin: 8px 0 14px; font-size: 13px; }
th, td { border: 1px solid var(--line); padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f5f7fa; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.good { background: #eaf6ec; } td.bad { background: #fdecea; font-weight: 600; } td.either { background: #f4f4f4; }
td.never { color: #c0392b; font-weight: 600; }
.details { border-top: 2px solid var(--line); margin-top: 30px; }
code { background: #f3f4f6; padding: 0 3px; border-radius: 3px; }
@media print { nav { display: none; } figure.chart { break-inside: avoid; } }
"""


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    body: str
    """HTML."""


def esc(text: object) -> str:
    return html.escape(str(text))


def figure(chart: Chart) -> str:
    return (f'<figure class="chart" id="{chart.id}" data-kind="{chart.kind}"><h3>{esc(chart.title)}</h3>'
            f"{chart.svg}<figcaption>{chart.caption}</figcaption></figure>")


def markdown_html(text: str) -> str:
    """report.md's Markdown (tables included) as HTML; raw HTML in it is escaped."""
    rendered = str(MarkdownIt("commonmark", {"html": False}).enable("table").render(text))
    # Inside the page the report's own headings sit below the page's sections.
    return re.sub(r"<(/?)h[12]>", r"<\1h3>", rendered)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, classes: Sequence[Sequence[str]] | None = None,
          numeric: str = "") -> str:
    """An HTML table from already-escaped cells; ``numeric``: one letter per column, ``r`` right-aligned."""
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cells = []
        for j, cell in enumerate(row):
            names = [*(classes[i][j].split() if classes and classes[i][j] else []),
                     *(["num"] if numeric[j:j + 1] == "r" else [])]
            attr = f' class="{" ".join(names)}"' if names else ""
            cells.append(f"<td{attr}>{cell}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def page(*, title: str, headline: str, outcome: str, meta: str, sections: Sequence[Section],
         version: str = __version__) -> str:
    """The whole document: headline first, a table of contents, then the sections in order."""
    nav = "".join(f'<a href="#{s.id}">{esc(s.title)}</a>' for s in sections)
    body = "".join(f'<section id="{s.id}"><h2>{esc(s.title)}</h2>{s.body}</section>' for s in sections)
    css_class = OUTCOME_CLASS.get(outcome, "aborted")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="chaoskit {esc(version)}"><title>{esc(title)}</title>'
        f"<style>{CSS}</style></head><body>"
        f'<header class="verdict {css_class}" id="headline" data-outcome="{esc(outcome)}"><h1>{esc(headline)}</h1>'
        f"<p>{meta}</p></header><nav>{nav}</nav>{body}"
        f"<footer><p><small>chaoskit {esc(version)}: one file, no scripts, nothing loaded from elsewhere."
        "</small></p></footer></body></html>\n"
    )
