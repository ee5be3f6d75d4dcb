"""The recovery chart of report.html: every fault instance on its five clocks (recovery.py ``CLOCKS``)."""

from __future__ import annotations

from typing import Final

import numpy as np
from matplotlib.patches import Patch

from chaoskit.analysis.recovery import CLOCKS
from chaoskit.analysis.summary import RunSummary
from chaoskit.report import svg
from chaoskit.report.charts import Chart
from chaoskit.report.fmt import CLOCK_TITLES

CLOCK_COLORS: Final = ("#a0cbe8", "#4e79a7", "#59a14f", "#e15759", "#f28e2b")


def recovery(summary: RunSummary, run_end_ns: int) -> Chart:
    """Horizontal bars, one group per fault: seconds from the fault instant until each clock stopped.

    ``never`` is drawn as a hatched bar to the end of the run; ``n/a`` and ``none`` are written, not drawn."""
    faults = summary.recovery
    fig = svg.figure(1.2 + 0.55 * len(faults), left_in=1.9)
    ax = fig.subplots()
    marks = svg.Marks()
    height = 0.8 / len(CLOCKS)
    for row, fault in enumerate(faults):
        until_end = max((run_end_ns - fault.begin_ns) / 1e9, 0.0)
        for k, (clock, value) in enumerate(fault.clocks().items()):
            y = row + (k - (len(CLOCKS) - 1) / 2) * height
            color = CLOCK_COLORS[k]
            if clock in fault.never_recovered:
                bar = ax.barh(y, until_end, height=height * 0.9, color="white", edgecolor=color, hatch="////",
                              linewidth=0.8)
                ax.text(until_end, y, " never", va="center", fontsize=7, color="#c0392b")
            elif clock in fault.unobserved or value is None:
                bar = ax.barh(y, 0, height=height * 0.9, color=color)
                ax.text(0, y, " n/a" if clock in fault.unobserved else " none", va="center", fontsize=7,
                        color="#777")
            else:
                bar = ax.barh(y, value, height=height * 0.9, color=color)
                ax.text(value, y, f" {value:.3f} s", va="center", fontsize=7, color="#333")
            shown = "never" if clock in fault.never_recovered else "n/a" if clock in fault.unobserved else (
                "none" if value is None else f"{value:.3f} s")
            bar.patches[0].set_gid(marks.add(f"clock-{row}-{k}", f"{fault.name}: {CLOCK_TITLES[k]} {shown}",
                                             **{"class": "recovery-bar", "data_fault": fault.name}))
    if summary.slo.recovery_s is not None:
        ax.axvline(summary.slo.recovery_s, color="#c0392b", linestyle="--", linewidth=0.9,
                   label=f"recovery SLO {summary.slo.recovery_s:g} s")
    ax.set_yticks(np.arange(len(faults)), [f"F{i + 1} {f.name}" for i, f in enumerate(faults)])
    ax.invert_yaxis()
    ax.set_xlabel("seconds from the fault instant")
    ax.grid(False, axis="y")
    handles = [Patch(color=c, label=t) for c, t in zip(CLOCK_COLORS, CLOCK_TITLES, strict=True)]
    ax.legend(handles=[*handles, *ax.get_lines()], loc="lower right", frameon=False, fontsize=7)
    caption = ("Seconds from each fault instant until each clock stopped: <i>replacement scheduled</i>, "
               "<i>replacement ready</i>, <i>endpoints converged</i>, <i>last failure</i> (start of the last failed "
               "request attributed to the fault), <i>traffic recovered</i> (start of the first success after it, on "
               "every address that failed). Hatched <i>never</i>: the clock had not stopped when the run ended; "
               "<i>n/a</i>: nothing to measure it by; <i>none</i>: the fault caused no failure.")
    return Chart("recovery-clocks", "recovery", "Recovery per fault", svg.to_svg(fig, "recovery-clocks", marks),
                 caption)
