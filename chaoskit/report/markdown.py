"""The run report as Markdown (report.md): verdict first, then each measurement with its numbers."""

from __future__ import annotations

from collections.abc import Sequence

from chaoskit.analysis.availability import ALL_PHASES
from chaoskit.analysis.recovery import CONTROL_PLANE, ENDPOINTS_CONVERGED, LAST_FAILURE, REPLACEMENT_READY
from chaoskit.analysis.summary import RunSummary
from chaoskit.report.fmt import DASH, clock, ms, offset, pct, secs, verdict_word


def render(summary: RunSummary) -> str:
    """The whole report; sections are separated by blank lines and always present."""
    sections = [
        _header(summary),
        _verdict(summary),
        _availability(summary),
        *([_by_target(summary)] if summary.by_target else []),
        _windows(summary),
        _recovery(summary),
        _latency(summary),
        _data(summary),
        _churn(summary),
        _agent(summary),
        _slo_checks(summary),
        HOW_TO_READ,
    ]
    return "\n\n".join(s.rstrip() for s in sections) + "\n"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, align: str = "") -> str:
    """A GitHub-flavoured Markdown table; ``align`` is one letter per column (l/r), default left."""
    marks = [("---:" if a == "r" else "---") for a in align.ljust(len(headers), "l")]
    lines = [_row(headers), _row(marks), *(_row(r) for r in rows)]
    return "\n".join(lines)


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


def _header(s: RunSummary) -> str:
    phases = ", ".join(f"{p.name} {p.duration_s:.1f} s" for p in s.phases) or "none recorded"
    return (
        f"# chaoskit report: {s.experiment}\n\n"
        f"Run `{s.run_id}` on the `{s.backend}` backend · {s.requests:,} requests · phases: {phases}"
    )


def _verdict(s: RunSummary) -> str:
    lines = [f"## Verdict: **{verdict_word(s)}**", ""]
    if s.verdict.passed:
        lines.append("Every SLO held." if s.verdict.checks else "No SLO was set; nothing to fail.")
    lines += [f"- {reason}" for reason in s.verdict.reasons]
    lines += [f"- warning: {w}" for w in s.verdict.warnings]
    return "\n".join(lines)


def _availability(s: RunSummary) -> str:
    phases = [p.name for p in s.phases]
    extra = sorted({r.phase for r in s.availability} - {*phases, ALL_PHASES})
    columns = [*phases, *extra, ALL_PHASES]
    cells = {(r.service_type, r.phase): r for r in s.availability}
    rows = []
    for service_type in s.service_types:
        row = [service_type]
        for phase in columns:
            r = cells.get((service_type, phase))
            row.append(DASH if r is None else f"{pct(r.ratio, failed=r.failed)} ({r.failed}/{r.requests})")
        rows.append(row)
    outcomes = [
        f"- {t}: " + ", ".join(f"{k} {v}" for k, v in s.overall(t).failures_by_outcome.items())
        for t in s.service_types
        if s.overall(t).failures_by_outcome
    ]
    body = table(["Service type", *columns], rows, align="l" + "r" * len(columns))
    tail = "\n\nFailures by outcome:\n" + "\n".join(outcomes) if outcomes else ""
    return (
        "## Availability\n\nOk ratio (failed/requests), requests assigned to phases by scheduled start.\n\n"
        + body
        + tail
    )


def _by_target(s: RunSummary) -> str:
    rows = [
        [r.service_type, r.target, f"{pct(r.ratio, failed=r.failed)} ({r.failed}/{r.requests})",
         ", ".join(f"{k} {v}" for k, v in r.failures_by_outcome.items()) or DASH,
         DASH if r.first_failure_s is None else f"{r.first_failure_s:.3f} to {r.last_failure_s:.3f} s"]
        for r in s.by_target
    ]  # fmt: skip
    return (
        "## By address\n\nOne service type, several addresses (a NodePort on every node): which path failed, "
        "and when (seconds after the first request).\n\n"
        + table(["Service type", "Address", "Availability", "Failures", "Failed between"], rows, align="llrll")
    )


def _windows(s: RunSummary) -> str:
    head = (
        f"## Error windows\n\nFailures with no success between them, merged when less than "
        f"{s.gap_tolerance_s * 1000:g} ms apart."
    )
    summary_rows = [
        [w.service_type, str(w.count), str(w.failed), secs(w.total_s),
         secs(w.longest.duration_s) if w.longest else DASH]
        for w in s.windows
    ]  # fmt: skip
    parts = [head, table(["Service type", "Windows", "Failed", "Total", "Longest"], summary_rows,
                         align="lrrrr")]  # fmt: skip
    top = sorted((w for stats in s.windows for w in stats.top), key=lambda w: -w.duration_s)[:10]
    if top:
        rows = [
            [w.service_type, offset(s, w.begin_ns), secs(w.duration_s), str(w.failed),
             str(w.ok_inside), ", ".join(f"{k} {v}" for k, v in w.outcomes.items())]
            for w in top
        ]  # fmt: skip
        parts += ["Longest windows:", table(
            ["Service type", "Begins", "Duration", "Failed", "Ok inside", "Outcomes"], rows,
            align="llrrrl")]  # fmt: skip
    return "\n\n".join(parts)


def _recovery(s: RunSummary) -> str:
    head = "## Recovery\n\nSeconds from the fault instant until each clock stopped."
    if not s.recovery:
        return f"{head}\n\nNo fault was injected."
    rows = []
    for f in s.recovery:
        never, unseen = f.never_recovered, f.unobserved
        rows.append([
            f.name, f.kind, offset(s, f.begin_ns), ", ".join(f.victims) or DASH,
            clock(f.replacement_ready_s, REPLACEMENT_READY, never, unseen),
            clock(f.endpoints_converged_s, ENDPOINTS_CONVERGED, never, unseen),
            clock(f.last_failure_s, LAST_FAILURE, never, unseen), str(f.failures),
        ])  # fmt: skip
    headers = ["Fault", "Kind", "At", "Victims", "Replacement ready", "Endpoints converged",
               "Last failure", "Failures"]  # fmt: skip
    parts = [head, table(headers, rows, align="llllrrrr")]
    stuck = [f"- {f.name}: never recovered on {', '.join(f.never_recovered)}"
             for f in s.recovery if f.never_recovered]  # fmt: skip
    if stuck:
        parts.append("**Never recovered:**\n" + "\n".join(stuck))
    if any(f.endpoints_source == CONTROL_PLANE for f in s.recovery):
        parts.append(
            "Endpoints converged is read from the Services' ready endpoints (control plane): this backend "
            "does not report what its proxies forward to, so the data path may lag behind it."
        )
    parts.append(f"Failures before the first fault (not attributed): {s.unattributed_failures}.")
    return "\n\n".join(parts)


def _latency(s: RunSummary) -> str:
    rows = [
        [r.service_type, r.phase, str(r.ok), str(r.failed),
         ms(r.p50_ms), ms(r.p95_ms), ms(r.p99_ms), ms(r.max_ms)]
        for r in s.latency
    ]  # fmt: skip
    headers = ["Service type", "Phase", "Ok", "Failed", "p50 ms", "p95 ms", "p99 ms", "max ms"]
    judged = ", ".join(f"{t} {ms(v)} ms" for t, v in s.slo_p99_ms.items())
    return (
        "## Latency\n\nSuccessful requests only, percentiles of the raw values.\n\n"
        + table(headers, rows, align="llrrrrrr")
        + f"\n\np99 over chaos+recovery (judged by the latency SLO): {judged or DASH}."
    )


def _data(s: RunSummary) -> str:
    head = "## Data survival\n\nA marker file written before the fault, read after it."
    if not s.data:
        return f"{head}\n\nNo data checks in this experiment."
    rows = [
        [d.volume, d.volume_type, d.fault, d.placement, "survived" if d.survived else "lost",
         d.expected, "yes" if d.as_expected else "**NO**"]
        for d in s.data
    ]  # fmt: skip
    headers = ["Volume", "Type", "Fault", "Placement", "Observed", "Expected", "As expected"]
    return f"{head}\n\n" + table(headers, rows)


def _churn(s: RunSummary) -> str:
    c = s.churn
    reused = f"yes: {', '.join(c.reused_ips)}" if c.ips_reused else "no"
    return (
        "## Pod churn\n\n"
        f"- pods created during the run: {c.pods_created}; deleted: {c.pods_deleted}\n"
        f"- distinct pods seen: {c.distinct_pods}; distinct pod IPs: {c.distinct_pod_ips}\n"
        f"- a pod IP reused by another pod: {reused}"
    )


def _agent(s: RunSummary) -> str:
    a = s.agent
    cpu = DASH if a.cpu_utilisation is None else f"{a.cpu_utilisation * 100:.0f}%"
    state = "**saturated**: the client may have caused latency or failures" if a.saturated else "kept its schedule"
    return (
        "## Load agent health\n\n"
        f"- the load agent {state}\n"
        f"- late starts (> 10 ms behind schedule): {a.late_starts} of {a.requests} "
        f"({pct(a.late_ratio)})\n"
        f"- start lag p50 / p99 / max: {ms(a.lag_p50_ms)} / {ms(a.lag_p99_ms)} / {ms(a.lag_max_ms)} ms\n"
        f"- agent CPU: {cpu}"
    )


def _slo_checks(s: RunSummary) -> str:
    if not s.verdict.checks:
        return "## SLO checks\n\nNo SLO check ran (none was set)."
    rows = [[c.slo, c.scope, "pass" if c.passed else "**FAIL**", c.detail] for c in s.verdict.checks]
    return "## SLO checks\n\n" + table(["SLO", "Scope", "Result", "Detail"], rows)


HOW_TO_READ = """## How to read this

- **Availability** counts every request the load agent scheduled. A request is ok only when its answer's
  status is in the Service's `request.success` (default: 2xx and 3xx), or, for a `mode: tcp` Service, when
  the connection opened (and the reply began with `expect`, if one is set). Everything else fails, each
  with its outcome: `http_5xx`, `http_4xx`, `http_other` (e.g. a redirect when only 2xx counts),
  `refused`, `reset`, `timeout`, `connect_timeout`, `tls_error`, `tcp_unexpected_reply`, `error`,
  `agent_saturated`. The load keeps a constant arrival rate, so an outage does not lower the number of
  requests, and no client retry hides a failure.
- **Error windows** show how long users saw failures: a window starts at the first failed request and
  ends when the last failed request in it finished.
- **Recovery** is measured from the fault instant on three clocks: the replacement pod became Ready,
  the data path (proxies) stopped sending to the old pod and sent to the new one, and the last failed
  request ended. Each failure belongs to the most recent fault only; `never` means the clock never
  stopped during the run, `n/a` that the backend reported nothing to measure it by.
- **Latency** percentiles come from the raw durations of successful requests, never averaged.
- **Load agent health**: when the client falls behind its schedule, latency and failures may be the
  client's own, not the service's; the verdict warns about it."""
