"""The run report as Markdown (report.md): verdict first, then each measurement with its numbers."""

from __future__ import annotations

from collections.abc import Sequence

from chaoskit import __version__
from chaoskit.analysis.availability import ALL_PHASES
from chaoskit.analysis.findings import Finding
from chaoskit.analysis.recovery import CONTROL_PLANE
from chaoskit.analysis.summary import RunSummary
from chaoskit.report.evidence import FIRING_HEADERS, firing_rows, headline, steady_state_line
from chaoskit.report.fmt import CLOCK_TITLES, DASH, clocks, ms, observation_line, offset, pct, secs, verdict_word


def render(summary: RunSummary, *, version: str = __version__) -> str:
    """The whole report; sections are separated by blank lines and always present.

    ``version`` is the chaoskit that made the run (shown in the header); re-rendering an old run should pass
    the version recorded with it.
    """
    sections = [
        f"**{headline(summary)}**",
        _header(summary, version),
        _verdict(summary),
        findings_section(summary),
        *([_happenings(summary)] if summary.happenings else []),
        _injections(summary),
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


def _header(s: RunSummary, version: str) -> str:
    phases = ", ".join(f"{p.name} {p.duration_s:.1f} s" for p in s.phases) or "none recorded"
    return (
        f"# chaoskit report: {s.experiment}\n\n"
        f"Run `{s.run_id}` on the `{s.backend}` backend with chaoskit {version} · {s.requests:,} requests · "
        f"phases: {phases}"
    )


def _verdict(s: RunSummary) -> str:
    lines = [f"## Verdict: **{verdict_word(s)}**", ""]
    if s.verdict.inconclusive:
        lines += ["The run cannot support a claim either way:", ""]
        lines += [f"- {reason}" for reason in s.verdict.inconclusive]
        if s.verdict.reasons:
            lines += ["", "Checks that failed (not a verdict, given the above):", ""]
    elif s.verdict.passed:
        lines.append("Every SLO held." if s.verdict.checks else "No SLO was set; nothing to fail.")
    lines += [f"- {reason}" for reason in s.verdict.reasons]
    lines += [f"- warning: {w}" for w in s.verdict.warnings]
    observed = observation_line(s)
    if observed is not None:
        lines.append(f"- warning: {observed}")
    return "\n".join(lines)


def findings_section(s: RunSummary) -> str:
    """Why users noticed and what to change: each finding with its evidence, mechanism, YAML and confidence."""
    head = ("## Findings\n\nWhy users noticed, and what to change, judged from this run's requests and events "
            "(the rules: docs/findings.md).")
    if not s.findings:
        return f"{head}\n\nNo rule matched this run's evidence."
    return "\n\n".join([head, *(_finding(f) for f in s.findings)])


def _finding(f: Finding) -> str:
    parts = [f"### `{f.rule}`: {f.headline}", f"Applies to {f.workload}. Confidence **{f.confidence}**: "
             f"{f.confidence_basis}.", "Evidence:\n" + "\n".join(f"- {line}" for line in f.evidence.lines),
             f"Why: {f.mechanism}", f"Change: {f.recommendation}"]
    if f.snippet:
        parts.append(f"```yaml\n{f.snippet.rstrip()}\n```")
    if f.references:
        parts.append("See: " + ", ".join(f.references))
    return "\n\n".join(parts)


def _happenings(s: RunSummary) -> str:
    return "## What happened\n\n" + "\n".join(f"- {line}" for line in s.happenings)


def _injections(s: RunSummary) -> str:
    head = "## Fault injection\n\n" + steady_state_line(s)
    if not s.firings:
        return f"{head}\n\nNo fault was scheduled: a control run (PASS means the steady state held)."
    body = table(FIRING_HEADERS, firing_rows(s), align="lllrrll")
    return (f"{head}\n\nEvery scheduled firing, when it acted after its instant, and whom it hit; a firing that "
            f"hit nothing or fewer pods than asked makes the run inconclusive.\n\n{body}")


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
        "## Unavailability windows\n\nPer address (the path a request took): from the start of a failed request "
        "to the start of the next successful request on the same address; *open* when no success followed "
        "before the run ended. \"Unavailable\" is the time during which at least one address of the type was "
        "in a window."
    )
    summary_rows = [
        [w.service_type, str(len(w.addresses)), str(w.count), str(w.failed), secs(w.unavailable_s),
         secs(w.longest.duration_s) if w.longest else DASH, str(w.open) if w.open else DASH]
        for w in s.windows
    ]  # fmt: skip
    parts = [head, table(["Service type", "Addresses", "Windows", "Failed", "Unavailable", "Longest", "Open"],
                         summary_rows, align="lrrrrrr")]  # fmt: skip
    if any(len(w.addresses) > 1 for w in s.windows):
        rows = [[a.service_type, a.address, str(a.count), str(a.failed), secs(a.total_s),
                 secs(a.longest_s) if a.count else DASH, "**open at the end**" if a.open else DASH]
                for w in s.windows for a in w.addresses]  # fmt: skip
        parts += ["Per address:", table(["Service type", "Address", "Windows", "Failed", "Total", "Longest",
                                         "Last window"], rows, align="llrrrrl")]  # fmt: skip
    top = sorted((w for stats in s.windows for w in stats.top), key=lambda w: (-w.duration_s, w.begin_ns))[:10]
    if top:
        rows = [
            [w.service_type, w.address, offset(s, w.begin_ns),
             "**open** (end of run)" if w.open else offset(s, w.end_ns), secs(w.duration_s), str(w.failed),
             ", ".join(f"{k} {v}" for k, v in w.outcomes.items())]
            for w in top
        ]  # fmt: skip
        parts += ["Longest windows:", table(
            ["Service type", "Address", "Begins", "Ends", "Duration", "Failed", "Outcomes"], rows,
            align="lllrrrl")]  # fmt: skip
    return "\n\n".join(parts)


def _recovery(s: RunSummary) -> str:
    head = "## Recovery\n\nSeconds from the fault instant until each clock stopped (definitions below)."
    parts = [head]
    if s.recovery:
        rows = [[f.name, f.kind, offset(s, f.begin_ns), ", ".join(f.victims) or DASH, *clocks(f), str(f.failures)]
                for f in s.recovery]  # fmt: skip
        headers = ["Fault", "Kind", "At", "Victims", *CLOCK_TITLES, "Failures"]
        parts.append(table(headers, rows, align="llll" + "r" * (len(CLOCK_TITLES) + 1)))
        stuck = [f"- {f.name}: never recovered on {', '.join(f.never_recovered)}" + (
            f"; still failing at the end of the run: {', '.join(f.unrecovered_addresses)}"
            if f.unrecovered_addresses else "") for f in s.recovery if f.never_recovered]  # fmt: skip
        if stuck:
            parts.append("**Never recovered:**\n" + "\n".join(stuck))
        if any(f.endpoints_source == CONTROL_PLANE for f in s.recovery):
            parts.append(
                "Endpoints converged is read from the Services' ready endpoints (control plane): this backend "
                "does not report what its proxies forward to, so the data path may lag behind it."
            )
    else:
        parts.append("No fault was injected.")
    parts.append(
        f"Failures before any fault (completed before the first fault instant: baseline noise): "
        f"{s.unattributed_failures}."
    )
    parts.append(_observation(s))
    return "\n\n".join(parts)


def _observation(s: RunSummary) -> str:
    o = s.recovery_observation
    line = observation_line(s)
    if line is not None:
        return f"**{line[0].upper()}{line[1:]}.**"
    if o.recovery_observed is None:
        return "Recovery observed: not judged (no phase was recorded)."
    if o.last_failure_to_end_s is None:
        return "Recovery observed: no request failed in the run."
    return (f"Recovery observed: the last failed request started {o.last_failure_to_end_s:.3f} s before the end "
            f"of {o.phase} (at least {o.quiet_s:g} s required) and every window closed.")


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
        [d.volume, d.volume_type, d.fault, d.placement, d.observed,
         d.expected, ("yes" if d.as_expected else "**NO**") if d.checked else "not judged"]
        for d in s.data
    ]  # fmt: skip
    headers = ["Volume", "Type", "Fault", "Placement", "Observed", "Expected", "As expected"]
    return f"{head}\n\n" + table(headers, rows)


def _churn(s: RunSummary) -> str:
    c = s.churn
    reused = f"yes: {', '.join(c.reused_ips)}" if c.ips_reused else "no"
    return (
        "## Pod churn\n\nWithin the phases (first phase begin to last phase end): setup's pods and teardown's "
        "deletions are not counted.\n\n"
        f"- pods created: {c.pods_created}; deleted: {c.pods_deleted}\n"
        f"- pods Ready at some moment of the phases: {c.distinct_pods}; their IPs: {c.distinct_pod_ips}\n"
        f"- a pod IP reused by another pod during the run: {reused}"
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
        f"- agent CPU: {cpu}\n"
        f"- requests planned: {DASH if a.planned is None else f'{a.planned:,}'}; not sent (the agent's in-flight cap "
        f"was reached, so they count against the client, not the service): {a.not_sent:,}"
    )


def _slo_checks(s: RunSummary) -> str:
    if not s.verdict.checks:
        return "## SLO checks\n\nNo SLO check ran (none was set)."
    rows = [[c.slo, c.scope, "pass" if c.passed else "**FAIL**", c.detail] for c in s.verdict.checks]
    return "## SLO checks\n\n" + table(["SLO", "Scope", "Result", "Detail"], rows)


HOW_TO_READ = """## How to read this

- **Findings** say why users noticed and what to change. Each is judged from this run's requests and events
  (never from the manifest alone); its YAML merges into your manifest by kind and name, containers by name.
  Its confidence is the share of the run's failed requests it explains, lowered when its mechanism was
  inferred rather than observed (docs/findings.md).
- **Availability** counts every request the load agent scheduled. A request is ok only when its answer's
  status is in the Service's `request.success` (default: 2xx and 3xx), or, for a `mode: tcp` Service, when
  the connection opened (and the reply began with `expect`, if one is set). Everything else fails, each
  with its outcome: `http_5xx`, `http_4xx`, `http_other` (e.g. a redirect when only 2xx counts),
  `refused`, `reset`, `timeout`, `connect_timeout`, `tls_error`, `tcp_unexpected_reply`, `error`,
  `agent_saturated`. The load keeps a constant arrival rate, so an outage does not lower the number of
  requests, and no client retry hides a failure.
- **Address**: a path users take, the `host:port` a request went to (a NodePort has one per node).
  Runs recorded without addresses use the Service type as the only address.
- **Unavailability windows** are computed per address. A window runs from the *start* of a failed
  request to the *start* of the next successful request on the same address, so no successful request
  starts inside a window, and a timeout counts from its start (waiting out the timeout does not lengthen
  the window past the next success). A window with no success after it is **open**: it ends at the end
  of the run and is flagged. Per Service type, "Unavailable" is the union of its addresses' windows:
  the time during which at least one of its addresses was unavailable.
- **Attribution**: a failed request belongs to the fault in force when it *failed* (its start plus its
  latency): the latest fault instant at or before that moment, never an earlier one. Failures that
  completed before the first fault are "before any fault" (baseline noise).
- **Recovery** clocks run from the fault instant: *replacement scheduled* (the replacement pod was bound
  to a node), *replacement ready* (it became Ready), *endpoints converged* (the data path, or on kube the
  Services' ready endpoints, stopped sending to the old pod and sent to the new one; endpoints ready
  before the run count from the start), *last failure* (the start of the last failed request attributed
  to the fault), *traffic recovered* (the start of the first successful request after that last
  failure, on every address that failed for the fault; the latest of them). `never`: the clock had not
  stopped when the run ended (an address still failing at the end has never recovered); `n/a`: nothing
  to measure it by; `none`: the fault caused no failure. The recovery SLO judges the longest clock and
  fails on any `never`.
- **Recovery observed**: failures that go on into the last seconds of the recovery phase (or a window
  still open at the end) mean the run ended before the service was seen to recover.
- **Latency** percentiles come from the raw durations of successful requests, never averaged.
- **Load agent health**: when the client falls behind its schedule, latency and failures may be the
  client's own, not the service's; the verdict warns about it."""
