"""The verdict's evidence in words: the one-line headline, each fault firing as it happened, the steady state.

Shared by the Markdown report and the terminal, so both say the same thing.
"""

from __future__ import annotations

from chaoskit.analysis.summary import RunSummary
from chaoskit.analysis.verdict import Outcome
from chaoskit.report.fmt import DASH, offset


def headline(summary: RunSummary) -> str:
    """``OUTCOME: the first reason`` — the first line of the report and of the terminal output."""
    verdict = summary.verdict
    if verdict.outcome == Outcome.ABORTED:
        return "ABORTED: stopped before the experiment finished (partial results)"
    if verdict.outcome == Outcome.INCONCLUSIVE:
        more = len(verdict.inconclusive) - 1
        tail = f" (and {more} more reason{'s' if more > 1 else ''} below)" if more > 0 else ""
        return f"INCONCLUSIVE: {verdict.inconclusive[0]}{tail}"
    if verdict.outcome == Outcome.FAIL:
        more = len(verdict.reasons) - 1
        return f"FAIL: {verdict.reasons[0]}" + (f" (and {more} more below)" if more > 0 else "")
    if not verdict.checks:
        return "PASS: no SLO was set, so nothing could fail; every fault was injected as planned"
    return "PASS: every SLO held, every fault was injected as planned and the load was delivered"


def firing_rows(summary: RunSummary) -> list[list[str]]:
    """One row per scheduled firing: instance, kind, when (scheduled, acted), victims hit/asked, result."""
    rows = []
    for f in summary.firings:
        acted = DASH if f.begun_ns is None else f"+{(f.begun_ns - f.scheduled_ns) / 1e6:.0f} ms"
        hit = f"{len(f.victims)}/{f.victims_asked}" + (f" on {f.node}" if f.node else "")
        result = f.error or ("injected" if f.injected and len(f.victims) >= f.victims_asked
                             else "hit fewer than asked" if f.victims else "hit nothing")
        rows.append([f.instance, f.kind, offset(summary, f.scheduled_ns), acted, hit,
                     ", ".join(f.victims) or DASH, result])
    return rows


FIRING_HEADERS = ["Firing", "Kind", "Scheduled", "Acted after", "Hit/asked", "Victims", "Result"]


def steady_state_line(summary: RunSummary) -> str:
    steady = summary.steady_state
    if steady is None:
        return "Steady state: not checked (no load was started from this host)."
    if not steady.reached:
        return (f"Steady state: **not reached**: not every address answered {steady.consecutive} times in a row "
                f"within {steady.waited_s:g} s.")
    where = ", ".join(steady.addresses) or "no address from this host"
    return (f"Steady state: every address loaded from this host answered {steady.consecutive} times in a row "
            f"after {steady.waited_s:.3f} s ({where}); the baseline then has to meet the availability SLO.")
