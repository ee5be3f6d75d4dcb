"""grace-period-cut: requests in flight were cut when a terminating pod was killed at the end of its grace
period (its containers did not stop on SIGTERM in time, so the kubelet sent SIGKILL).

A pod was killed when it left the API no earlier than its grace period after it turned Terminating (less
:data:`KILL_TOLERANCE_S`). A cut request started before that instant and failed (reset, timeout, error) at or
after it, on a Service that routed to the pod. Which pod served a request is not recorded, so requests in
flight through such a Service at that instant are the candidates.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np

from chaoskit.analysis.findings.context import FindingContext, Termination, evidence, outcome_text
from chaoskit.analysis.findings.model import Finding, share_confidence
from chaoskit.analysis.findings.registry import Rule
from chaoskit.analysis.findings.snippets import render, workload_patch
from chaoskit.analysis.frames import NS_PER_S, Columns, row_chunks
from chaoskit.analysis.templates import WorkloadFacts

RULE_ID: Final = "grace-period-cut"
KILL_TOLERANCE_S: Final = 0.25
CUT_OUTCOMES: Final = ("error", "reset", "timeout")
MARGIN_S: Final = 5
MECHANISM: Final = (
    "On deletion the kubelet runs the preStop hook, sends SIGTERM, and sends SIGKILL when "
    "terminationGracePeriodSeconds have passed, whatever the containers are doing. Requests still in flight "
    "then lose their connection, and their clients see a reset or a timeout.")


def evaluate(ctx: FindingContext) -> list[Finding]:
    fails = ctx.failures
    candidates = np.isin(fails.outcome, CUT_OUTCOMES)
    if not candidates.any():
        return []
    cut = np.zeros(len(fails), dtype=bool)
    killed: list[tuple[Termination, int]] = []
    for term in ctx.terminations:
        kill_ns = _killed_at(term)
        if kill_ns is None or not term.ip:
            continue
        _, services = ctx.removed_from_routing(term.ip, term.ts_ns)
        hits = candidates & (fails.start < kill_ns) & (fails.done >= kill_ns) & np.isin(fails.service, sorted(services))
        if hits.any():
            cut |= hits
            killed.append((term, kill_ns))
    return [_finding(ctx, cut, killed)] if cut.any() else []


def _killed_at(term: Termination) -> int | None:
    """The SIGKILL instant (Terminating + grace), when the pod lasted that long."""
    if term.grace_s is None or term.grace_s <= 0 or term.deleted_ns is None:
        return None
    kill_ns = term.ts_ns + int(term.grace_s * NS_PER_S)
    return kill_ns if term.deleted_ns >= kill_ns - int(KILL_TOLERANCE_S * NS_PER_S) else None


def longest_ok_ns(cols: Columns) -> int:
    """The longest successful request, a chunk of rows at a time (0 when none succeeded)."""
    return max((int(part.max()) for rows in row_chunks(len(cols)) if len(part := cols.latency_ns[rows][cols.ok[rows]])),
               default=0)


def _finding(ctx: FindingContext, cut: np.ndarray, killed: list[tuple[Termination, int]]) -> Finding:
    explained = ctx.failures.where(cut)
    term = killed[0][0]
    workload = ctx.workload(term.pod)
    grace = term.grace_s or 0.0
    in_flight = max(float(k - s) / NS_PER_S for s in explained.start.tolist() for _, k in killed if s < k)
    longest_ok = float(longest_ok_ns(ctx.cols)) / NS_PER_S
    sleep = workload.pre_stop_sleep_s if workload else 0.0
    seconds = math.ceil(sleep + max(in_flight, longest_ok)) + MARGIN_S
    lines = [f"{t.pod} turned Terminating at {ctx.at(t.ts_ns)} with a {t.grace_s:g} s grace period and was killed "
             f"at {ctx.at(k)}: it had not stopped on SIGTERM." for t, k in killed[:6]]
    lines += [f"{len(explained)} requests in flight at that instant failed ({outcome_text(explained.outcomes())}); "
              f"the oldest had been running {in_flight:.3f} s.",
              f"The longest successful request took {longest_ok:.3f} s; the preStop sleep is {sleep:g} s."]
    level, basis = share_confidence(
        len(explained), len(ctx.failures), observed=False,
        caveat="the kill instant was observed (pod events); which pod served each request is not recorded, so "
               "the requests in flight through a Service that routed to it are counted")
    return Finding(
        rule=RULE_ID,
        headline=f"{len(explained)} requests were cut when {len(killed)} pod(s) were killed at the end of a "
                 f"{grace:g} s grace period",
        workload=ctx.workload_name(term.pod),
        evidence=evidence(explained, len(ctx.failures), pods=tuple(t.pod for t, _ in killed),
                          measured={"grace_period_s": grace, "in_flight_max_s": round(in_flight, 6),
                                    "longest_ok_s": round(longest_ok, 6), "recommended_grace_s": float(seconds)},
                          lines=tuple(lines)),
        mechanism=MECHANISM,
        recommendation=f"Give the pods terminationGracePeriodSeconds: {seconds} (preStop sleep plus the longest "
                       f"request plus {MARGIN_S} s), and make the server stop accepting and finish its in-flight "
                       "requests when it gets SIGTERM.",
        snippet=_snippet(workload, seconds, term.pod),
        confidence=level, confidence_basis=basis,
    )


def _snippet(workload: WorkloadFacts | None, seconds: int, pod: str) -> str:
    return render(workload_patch(workload, {"terminationGracePeriodSeconds": seconds},
                                 fallback=pod.rsplit("-", 2)[0]),
                  "Room for the preStop sleep and the longest request after SIGTERM.")


RULE: Final = Rule(RULE_ID, "Grace period shorter than the requests in flight", evaluate)
