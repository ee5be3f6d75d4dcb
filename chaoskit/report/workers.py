"""The report's per-worker load health: what each load worker was to send, what reached chaoskit, how it fared."""

from __future__ import annotations

from collections.abc import Sequence

from chaoskit.load.report import WorkerReport, workers_needed
from chaoskit.report.fmt import DASH
from chaoskit.report.markdown import table


def _state(w: WorkerReport) -> str:
    if w.problem:
        return "**not delivered**"
    return "**saturated**" if w.saturated else "ok"


def _row(w: WorkerReport) -> list[str]:
    cpu = DASH if w.cpu_utilisation is None else f"{w.cpu_utilisation * 100:.0f}%"
    return [w.worker, w.where or DASH, f"{w.planned:,}", f"{w.recorded:,}", f"{w.planned_rate:,.1f}/s",
            f"{w.delivered_rate:,.1f}/s", f"{w.lag.p99_ms:.1f} / {w.lag.max_ms:.1f} ms", cpu,
            f"{w.clock_offset_ms:+.3f} ± {w.clock_uncertainty_ms:.3f} ms", _state(w)]


def workers_section(workers: Sequence[WorkerReport]) -> str:
    """Markdown: a table of the workers, then what was not delivered and how many workers the plan needs."""
    headers = ["Worker", "Where", "Planned", "Recorded", "Planned rate", "Delivered rate", "Start lag p99 / max",
               "CPU", "Clock offset", "State"]
    text = "\n## Load workers\n\n" + table(headers, [_row(w) for w in workers], align="llrrrrrrrl") + "\n"
    problems = [w.problem for w in workers if w.problem]
    if problems:
        text += ("\n**The load was not delivered as planned**, so the availability figures do not describe the "
                 "planned load:\n\n" + "".join(f"- {p}\n" for p in problems))
    if any(w.saturated for w in workers):
        needed = workers_needed(sum(w.planned_rate for w in workers), workers)
        size = f" about {needed} workers (`--workers {needed}`) at 70% CPU each" if needed else " more workers"
        text += (f"\nA worker was saturated (CPU > 90%, p99 start lag > 20 ms or requests refused by its in-flight "
                 f"cap): at the measured CPU per request the plan needs{size}.\n")
    return text
