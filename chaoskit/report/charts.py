"""The charts of report.html that share the run's time axis: requests per address, latency per Service type,
load-agent health. Each marks the phases (shaded) and every fault instant (a red line, tooltip: its victims).

Time is seconds since the first phase began (report.md's ``t+12.345 s``). Requests sit in the bucket of their
actual start, as the unavailability windows count them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from chaoskit.analysis.frames import CodeArray, Columns, PhaseSpan, column_extreme, row_chunks
from chaoskit.analysis.stored import NOT_SENT
from chaoskit.analysis.summary import RunSummary
from chaoskit.report import svg
from chaoskit.report.timeseries import FloatArray, Grid, IntArray, counts_by_chunk, make_grid, quantiles_by_slab
from chaoskit.vocab import EventKind

LATENCY_BUCKET_MS: Final = 1000
POD_ROWS: Final = (
    ("terminating", (EventKind.POD_TERMINATING.value,), "x", "#c0392b"),
    ("ready", (EventKind.POD_READY.value,), "^", "#2e8b57"),
    ("endpoints", (EventKind.PROXY_SYNCED.value, EventKind.ENDPOINT_ADDED.value, EventKind.ENDPOINT_REMOVED.value),
     "|", "#4e79a7"),
)  # fmt: skip


@dataclass(frozen=True)
class FaultMark:
    name: str
    at_ns: int
    victims: tuple[str, ...]
    label: str
    """``F1``, ``F2``, ...: the name on the chart."""
    injected: bool = True


@dataclass(frozen=True)
class TimeAxis:
    origin_ns: int
    begin_ns: int
    end_ns: int
    phases: tuple[PhaseSpan, ...]
    faults: tuple[FaultMark, ...]

    def seconds(self, ts_ns: int) -> float:
        return (ts_ns - self.origin_ns) / 1e9


@dataclass(frozen=True)
class Chart:
    id: str
    kind: str
    """timeline, latency, recovery, agent, repeats, compare."""
    title: str
    svg: str
    caption: str
    """HTML: what the chart shows and how its numbers are defined."""


def time_axis(summary: RunSummary, cols: Columns) -> TimeAxis:
    """The run's time axis: phases, faults (each instance), firings that never acted (at their schedule)."""
    earliest = column_extreme(cols.start_ns, most=False)
    first = 0 if earliest is None else earliest
    last = max((int((cols.start_ns[c] + cols.latency_ns[c]).max()) for c in row_chunks(len(cols))), default=0)
    origin = summary.phases[0].begin_ns if summary.phases else first
    begin = min(origin, first) if len(cols) else origin
    end = max(summary.phases[-1].end_ns if summary.phases else origin, last)
    marks = [FaultMark(f.name, f.begin_ns, f.victims, f"F{i + 1}") for i, f in enumerate(summary.recovery)]
    known = {f.name for f in summary.recovery}
    marks += [FaultMark(f.instance, f.scheduled_ns, (), f"M{i + 1}", injected=False)
              for i, f in enumerate(x for x in summary.firings if x.begun_ns is None and x.instance not in known)]
    return TimeAxis(origin, begin, max(end, begin + 1), summary.phases, tuple(marks))


def decorate(ax: Axes, axis: TimeAxis, marks: svg.Marks | None, *, labels: bool = False) -> None:
    """Phases shaded, fault instants as lines; ``marks``: tag the lines (tooltip, data-fault) on this axes."""
    for phase in axis.phases:
        ax.axvspan(axis.seconds(phase.begin_ns), axis.seconds(phase.end_ns), color=svg.PHASE_COLORS.get(
            phase.name, "#f6f6f6"), zorder=0, linewidth=0)
        if labels:
            ax.text((axis.seconds(phase.begin_ns) + axis.seconds(phase.end_ns)) / 2, 1.0, phase.name,
                    transform=ax.get_xaxis_transform(), ha="center", va="bottom", fontsize=7.5, color="#555")
    for fault in axis.faults:
        line = ax.axvline(axis.seconds(fault.at_ns), color=svg.FAULT_COLOR if fault.injected else "#999",
                          linewidth=1.1, linestyle="-" if fault.injected else ":", zorder=5)
        if marks is not None:
            victims = ", ".join(fault.victims) or "no pod"
            state = "" if fault.injected else " (scheduled; it never acted)"
            tooltip = f"{fault.label} {fault.name} at t{axis.seconds(fault.at_ns):+.3f} s{state}: victims {victims}"
            line.set_gid(marks.add(f"fault-{fault.label}", tooltip,
                                   **{"class": "fault-marker" if fault.injected else "missed-firing",
                                      "data_fault": fault.name}))
        if labels:
            ax.text(axis.seconds(fault.at_ns), 0.98, f" {fault.label} {_short(fault.victims)}", fontsize=7,
                    transform=ax.get_xaxis_transform(), ha="left", va="top", color=svg.FAULT_COLOR, zorder=6)
    ax.set_xlim(axis.seconds(axis.begin_ns), axis.seconds(axis.end_ns))


def _short(victims: tuple[str, ...]) -> str:
    """Victim pods by their last name segment (``...-zbsxm``), so the label fits on the line."""
    return ",".join(v.rsplit("-", 1)[-1] for v in victims[:3]) + ("…" if len(victims) > 3 else "")


def timeline(axis: TimeAxis, cols: Columns, address: int, pods: PodEvents, index: int) -> Chart:
    """Requests per bucket on one address: ok above, failed by outcome below, pod events on the same axis."""
    grid = make_grid(axis.begin_ns, axis.end_ns, origin_ns=axis.origin_ns, finest_ms=100)
    not_sent = _code(cols, NOT_SENT)

    def sent_here(rows: slice) -> tuple[IntArray, CodeArray]:
        mine = (cols.address_code[rows] == address) & (cols.outcome_code[rows] != not_sent)
        return cols.start_ns[rows][mine], cols.outcome_code[rows][mine]

    table = counts_by_chunk(grid, len(cols), sent_here, len(cols.outcomes))
    fig = svg.figure(4.4)
    ok_ax, fail_ax, pod_ax = fig.subplots(3, 1, sharex=True, height_ratios=(2.2, 1.6, 1.0))
    marks = svg.Marks()
    edges = grid.edges_s
    ok_code = _code(cols, "ok")
    ok_ax.stairs(table[ok_code] if ok_code >= 0 else np.zeros(grid.count), edges, fill=True,
                 color=svg.OUTCOME_COLORS["ok"], label="ok")
    ok_ax.set_ylabel(f"ok per {grid.width_label}")
    bottom = np.zeros(grid.count)
    for code, outcome in enumerate(cols.outcomes):
        if outcome in ("ok", NOT_SENT) or not table[code].any():
            continue
        color = svg.OUTCOME_COLORS.get(outcome, "#555")
        fail_ax.stairs(bottom + table[code], edges, baseline=bottom, fill=True, color=color, label=outcome,
                       edgecolor=color, linewidth=0.8)
        bottom = bottom + table[code]
    fail_ax.set_ylabel(f"failed per {grid.width_label}")
    fail_ax.yaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
    fail_ax.set_ylim(0, max(1.0, float(bottom.max()) * 1.15))
    if bottom.any():
        fail_ax.legend(loc="upper left", ncols=4, frameon=False)
    pods.draw(pod_ax, axis)
    for ax, tagged in ((ok_ax, True), (fail_ax, False), (pod_ax, False)):
        decorate(ax, axis, marks if tagged else None, labels=ax is ok_ax)
    pod_ax.set_xlabel("seconds since the first phase began")
    name = cols.addresses[address]
    service_type = cols.types[int(cols.address_type[address])]
    chart_id = f"timeline-{index}"
    caption = (f"Requests to <b>{_esc(name)}</b> ({_esc(service_type)}) per {grid.width_label} bucket, by their "
               "actual start: ok (top), failed by outcome (middle, its own scale so one failure shows), pod events "
               "(bottom). Shaded: phases. Red lines: fault instants (F1, F2, ... with the victims' last name "
               "segment; hover for the full names).")
    return Chart(chart_id, "timeline", f"Requests: {name} ({service_type})", svg.to_svg(fig, chart_id, marks), caption)


def latency(axis: TimeAxis, cols: Columns, type_code: int, index: int) -> Chart:
    """p50 and p99 of successful requests' latency per second (wider buckets for long runs)."""
    grid = make_grid(axis.begin_ns, axis.end_ns, origin_ns=axis.origin_ns, finest_ms=LATENCY_BUCKET_MS)
    def ok_latency_ms(rows: slice) -> tuple[IntArray, FloatArray]:
        mine = (cols.type_code[rows] == type_code) & cols.ok[rows]
        return cols.start_ns[rows][mine], cols.latency_ns[rows][mine] / 1e6

    values = quantiles_by_slab(grid, len(cols), ok_latency_ms, (0.5, 0.99))
    fig = svg.figure(2.6)
    ax = fig.subplots()
    marks = svg.Marks()
    centers = grid.centers_s
    ax.plot(centers, values[1], color="#e15759", linewidth=1.2, label="p99", drawstyle="steps-mid")
    ax.plot(centers, values[0], color="#4e79a7", linewidth=1.2, label="p50", drawstyle="steps-mid")
    if np.isfinite(values).any():
        ax.set_yscale("log")
    ax.set_ylabel("latency, ms (log)")
    ax.set_xlabel("seconds since the first phase began")
    ax.legend(loc="upper left", frameon=False, ncols=2)
    decorate(ax, axis, marks, labels=True)
    service_type = cols.types[type_code]
    chart_id = f"latency-{index}"
    caption = (f"Latency of successful {_esc(service_type)} requests (start to last byte), p50 and p99 per "
               f"{grid.width_label} of start time, from the raw values; gaps: no successful request then.")
    return Chart(chart_id, "latency", f"Latency over time: {service_type}", svg.to_svg(fig, chart_id, marks), caption)


def agent(axis: TimeAxis, cols: Columns, summary: RunSummary) -> Chart:
    """The load agent's start lag per second (p50, p99, max) and the requests it never sent."""
    grid = make_grid(axis.begin_ns, axis.end_ns, origin_ns=axis.origin_ns, finest_ms=LATENCY_BUCKET_MS)
    def lag_ms(rows: slice) -> tuple[IntArray, FloatArray]:
        return cols.scheduled_ns[rows], (cols.start_ns[rows] - cols.scheduled_ns[rows]) / 1e6

    not_sent_code = _code(cols, NOT_SENT)

    def not_sent(rows: slice) -> tuple[IntArray, IntArray]:
        scheduled = cols.scheduled_ns[rows][cols.outcome_code[rows] == not_sent_code]
        return scheduled, np.zeros(len(scheduled), dtype=np.int64)

    lags = quantiles_by_slab(grid, len(cols), lag_ms, (0.5, 0.99, 1.0))
    sent_grid = make_grid(axis.begin_ns, axis.end_ns, origin_ns=axis.origin_ns, finest_ms=100)
    missing = counts_by_chunk(sent_grid, len(cols), not_sent, 1)[0]
    fig = svg.figure(3.2)
    lag_ax, miss_ax = fig.subplots(2, 1, sharex=True, height_ratios=(2.0, 1.0))
    marks = svg.Marks()
    centers = grid.centers_s
    for values, label, color in ((lags[2], "max", "#bab0ac"), (lags[1], "p99", "#e15759"), (lags[0], "p50", "#4e79a7")):
        lag_ax.plot(centers, np.maximum(values, 0.001), label=label, color=color, linewidth=1.1,
                    drawstyle="steps-mid")
    lag_ax.axhline(10, color="#999", linestyle="--", linewidth=0.8)
    lag_ax.set_yscale("log")
    lag_ax.set_ylabel("start lag, ms (log)")
    lag_ax.legend(loc="upper left", frameon=False, ncols=3)
    miss_ax.stairs(missing, sent_grid.edges_s, fill=True, color=svg.OUTCOME_COLORS[NOT_SENT], edgecolor=
                   svg.OUTCOME_COLORS[NOT_SENT], linewidth=0.8)
    miss_ax.set_ylim(0, max(1, int(missing.max()) + 1))
    miss_ax.yaxis.set_major_locator(MaxNLocator(nbins=3, integer=True))
    miss_ax.set_ylabel(f"not sent per {sent_grid.width_label}")
    miss_ax.set_xlabel("seconds since the first phase began")
    decorate(lag_ax, axis, marks, labels=True)
    decorate(miss_ax, axis, None)
    a = summary.agent
    caption = ("Start lag: actual start minus scheduled start of every request (dashed: 10 ms, a late start). "
               f"Not sent: requests the agent never started (its in-flight cap was reached): {a.not_sent:,} in all; "
               "they count against the client, not the service.")
    return Chart("agent-lag", "agent", "Load-agent health", svg.to_svg(fig, "agent-lag", marks), caption)


@dataclass(frozen=True)
class PodEvents:
    """Pod events to draw under the request timelines (seconds since the origin, per row)."""

    rows: tuple[tuple[str, tuple[float, ...], str, str], ...]

    @classmethod
    def from_events(cls, kinds: list[str], ts_ns: list[int], axis: TimeAxis) -> PodEvents:
        rows = []
        for label, wanted, marker, color in POD_ROWS:
            times = tuple(axis.seconds(t) for k, t in zip(kinds, ts_ns, strict=True)
                          if k in wanted and axis.begin_ns <= t <= axis.end_ns)
            rows.append((label, times, marker, color))
        return cls(tuple(rows))

    def draw(self, ax: Axes, axis: TimeAxis) -> None:
        for y, (_label, times, marker, color) in enumerate(self.rows):
            if times:
                ax.plot(times, [y] * len(times), linestyle="none", marker=marker, color=color, markersize=5)
        ax.set_yticks(range(len(self.rows)), [r[0] for r in self.rows])
        ax.set_ylim(-0.6, len(self.rows) - 0.4)
        ax.grid(False, axis="y")


def _code(cols: Columns, outcome: str) -> int:
    return cols.outcomes.index(outcome) if outcome in cols.outcomes else -1


def _esc(text: str) -> str:
    import html

    return html.escape(text)


__all__ = ["Chart", "FaultMark", "Grid", "PodEvents", "TimeAxis", "agent", "latency", "time_axis", "timeline"]
