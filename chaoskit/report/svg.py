"""Matplotlib figures as inline SVG for report.html: ids made unique per chart, tooltips attached to marked groups.

Matplotlib draws at write time, so report.html needs no JavaScript, no CDN and no fonts of its own: each chart is
an ``<svg>`` element in the page (text stays text: ``svg.fonttype = none``). Figures are made with
``matplotlib.figure.Figure`` (no pyplot, no global state) and the Agg-free SVG backend.
"""

from __future__ import annotations

import contextlib
import html
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import matplotlib as mpl
from matplotlib.figure import Figure

RC: Final[dict[str, Any]] = {
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],  # shipped with matplotlib: text is measured the same everywhere
    "font.size": 8.0,
    "axes.titlesize": 9.0,
    "axes.labelsize": 8.0,
    "xtick.labelsize": 7.5,
    "ytick.labelsize": 7.5,
    "legend.fontsize": 7.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e6e6e6",
    "grid.linewidth": 0.6,
    "path.simplify": True,
}
WIDTH_IN: Final = 10.0

OUTCOME_COLORS: Final = {
    "ok": "#59a14f",
    "http_5xx": "#e15759",
    "http_4xx": "#f28e2b",
    "http_other": "#edc948",
    "refused": "#b07aa1",
    "reset": "#9c755f",
    "timeout": "#ff9da7",
    "connect_timeout": "#d37295",
    "error": "#79706e",
    "agent_saturated": "#76b7b2",
    "tcp_unexpected_reply": "#bab0ac",
    "tls_error": "#4e79a7",
}
PHASE_COLORS: Final = {"baseline": "#eef4fb", "chaos": "#fdeeee", "recovery": "#eef8ee", "verify": "#f4f4f4"}
FAULT_COLOR: Final = "#c0392b"


@dataclass
class Marks:
    """Groups to annotate in a chart's SVG: gid -> (tooltip, extra attributes)."""

    items: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)

    def add(self, gid: str, tooltip: str, **attributes: str) -> str:
        self.items[gid] = (tooltip, attributes)
        return gid


def style() -> contextlib.AbstractContextManager[None]:
    """The charts' matplotlib settings: build and save every figure inside it (artists read them when made)."""
    return mpl.rc_context(RC)  # type: ignore[arg-type]  # the stubs want literal keys


def figure(height_in: float, *, left_in: float = 0.75, bottom_in: float = 0.45, top_in: float = 0.25) -> Figure:
    """A figure with fixed margins (inches): constrained layout would draw every chart twice."""
    fig = Figure(figsize=(WIDTH_IN, height_in))
    fig.subplots_adjust(left=left_in / WIDTH_IN, right=1 - 0.15 / WIDTH_IN, bottom=bottom_in / height_in,
                        top=1 - top_in / height_in, hspace=0.12)
    return fig


def to_svg(fig: Figure, chart_id: str, marks: Marks | None = None) -> str:
    """The figure as an ``<svg>`` element string, ids prefixed with ``chart_id``, marked groups annotated."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r'\bid="', f'id="{chart_id}-', text)
    text = re.sub(r"url\(#", f"url(#{chart_id}-", text)
    text = re.sub(r'xlink:href="#', f'xlink:href="#{chart_id}-', text)
    head_end = text.index(">") + 1
    # Without a fixed width and height the chart scales with the page (CSS: width 100 %); the viewBox stays.
    head = re.sub(r'\s(width|height)="[^"]*"', "", text[:head_end])
    head = head.replace("<svg ", f'<svg class="chart-svg" role="img" data-chart="{chart_id}" ', 1)
    text = head + text[head_end:]
    return _annotate(text, chart_id, marks.items if marks else {})


def _annotate(text: str, chart_id: str, items: Mapping[str, tuple[str, Mapping[str, str]]]) -> str:
    for gid, (tooltip, attributes) in items.items():
        full = f"{chart_id}-{gid}"
        extra = "".join(f' {k.replace("_", "-")}="{html.escape(v)}"' for k, v in attributes.items())
        text = text.replace(f'<g id="{full}">', f'<g id="{full}"{extra}><title>{html.escape(tooltip)}</title>', 1)
    return text
