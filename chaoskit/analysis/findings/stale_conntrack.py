"""stale-conntrack: sporadic connect timeouts well after a pod left the endpoints (kubernetes/kubernetes#101607).

kube-proxy deletes conntrack entries of removed endpoints for UDP but not for TCP. A client that opens a new
connection from a source port it used before (few source ports, or a NAT that reuses them) matches the old
entry, whose SYNs still go to the removed pod's IP and are never answered: a connect timeout, now and then,
for as long as the entry is renewed. The conntrack table is not observable from the run, so this is inferred
from the failures' shape: only ``connect_timeout``, after the removal (past the shutdown race's window), on an
address that kept answering other requests meanwhile, while the workload had ready pods.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from chaoskit.analysis.findings.context import FindingContext, evidence, intervals_below
from chaoskit.analysis.findings.model import LOW, MEDIUM, MIN_SUPPORT, Finding
from chaoskit.analysis.findings.registry import Rule
from chaoskit.analysis.findings.shutdown_race import CONTROL_PLANE_ALLOWANCE_S
from chaoskit.analysis.frames import NS_PER_S, BoolArray, Columns, row_chunks

RULE_ID: Final = "stale-conntrack"
HORIZON_S: Final = 120.0
"""How long after a removal a connect timeout can still be a stale entry (the SYN_SENT entry is renewed by
each retry; tens of seconds were reported)."""
MECHANISM: Final = (
    "kube-proxy deletes the conntrack entries of a removed endpoint for UDP but not for TCP, so an entry in "
    "SYN_SENT toward the old pod IP stays as long as a client keeps renewing it. A client that opens a new "
    "connection from a source port it used before matches that entry: its SYNs go to the removed pod and the "
    "connect times out, sporadically, for tens of seconds after the pod is gone.")


def evaluate(ctx: FindingContext) -> list[Finding]:
    fails = ctx.failures
    timeouts = fails.outcome == "connect_timeout"
    if not timeouts.any():
        return []
    horizon, allowance = int(HORIZON_S * NS_PER_S), 0 if ctx.data_path_observed else \
        int(CONTROL_PLANE_ALLOWANCE_S * NS_PER_S)
    late = np.zeros(len(fails), dtype=bool)
    racing = np.zeros(len(fails), dtype=bool)
    removed_pods = []
    for term in ctx.terminations:
        removed, services = ctx.removed_from_routing(term.ip, term.ts_ns) if term.ip else (None, frozenset())
        if removed is None:
            continue
        begin = max(removed, term.ts_ns) + allowance
        racing |= fails.started_in(term.ts_ns, begin)  # the shutdown race's window, not a stale entry
        hits = timeouts & fails.started_in(begin + 1, begin + horizon) & np.isin(fails.service, sorted(services)) \
            & ~_dark(ctx, term.pod)
        if hits.any():
            late |= hits
            removed_pods.append((term.pod, begin))
    late &= ~racing
    late &= _sporadic(ctx, late)
    if not late.any():
        return []
    return [_finding(ctx, late, removed_pods)]


def _dark(ctx: FindingContext, pod: str) -> BoolArray:
    """Failures that started while the pod's workload had no ready pod at all (an outage, not this)."""
    fails = ctx.failures
    out = np.zeros(len(fails), dtype=bool)
    steps = ctx.ready_steps(ctx.member_of(ctx.workload_name(pod)))
    for begin, end in intervals_below(steps, 1, ctx.origin_ns, ctx.run_end_ns):
        out |= fails.started_in(begin, end - 1)
    return out


def _sporadic(ctx: FindingContext, late: BoolArray) -> BoolArray:
    """Late failures on addresses where some request succeeded between the first and the last of them."""
    fails, cols = ctx.failures, ctx.cols
    keep = np.zeros(len(fails), dtype=bool)
    code_of = {label: code for code, label in enumerate(cols.addresses)}
    for address in set(fails.address[late].tolist()):
        mine = late & (fails.address == address)
        first, last = int(fails.start[mine].min()), int(fails.start[mine].max())
        if int(mine.sum()) == 1 or _success_between(cols, code_of[address], first, last):
            keep |= mine
    return keep


def _success_between(cols: Columns, address: int, first: int, last: int) -> bool:
    """Did a request on the address succeed that started strictly between ``first`` and ``last``? By code and
    mask a chunk of rows at a time, never a string per successful request."""
    for rows in row_chunks(len(cols)):
        start = cols.start_ns[rows]
        if ((cols.address_code[rows] == address) & cols.ok[rows] & (start > first) & (start < last)).any():
            return True
    return False


def _finding(ctx: FindingContext, late: BoolArray, removed: list[tuple[str, int]]) -> Finding:
    explained = ctx.failures.where(late)
    begins = np.array(sorted(begin for _, begin in removed), dtype=np.int64)
    latest = begins[np.maximum(np.searchsorted(begins, explained.start, side="right") - 1, 0)]
    after = ((explained.start - latest) / NS_PER_S).tolist()
    where = "data path" if ctx.data_path_observed else "endpoints (plus the shutdown race's window)"
    lines = [f"{len(explained)} connect timeouts started {min(after):.1f} s to {max(after):.1f} s after the "
             f"latest removal of a pod ({', '.join(p for p, _ in removed[:4])}) from the {where}, between "
             "other requests that succeeded on the same address(es): "
             f"first at {ctx.at(int(explained.start.min()))}, last at {ctx.at(int(explained.start.max()))}.",
             "The workload had ready pods all along; only connect timeouts, no refusals: connections that "
             "never reached a live pod."]
    level = MEDIUM if len(explained) >= MIN_SUPPORT else LOW
    return Finding(
        rule=RULE_ID,
        headline=f"{len(explained)} sporadic connect timeouts after pods had left the endpoints: stale TCP "
                 "conntrack entries are the likely cause",
        workload="the clients of " + ", ".join(sorted(set(explained.service.tolist()))),
        evidence=evidence(explained, len(ctx.failures), pods=tuple(p for p, _ in removed),
                          measured={"first_after_removal_s": round(min(after), 6),
                                    "last_after_removal_s": round(max(after), 6)},
                          lines=tuple(lines)),
        mechanism=MECHANISM,
        recommendation="On the client side: let every new connection take a fresh ephemeral source port (do not "
                       "bind a fixed port or a small range), reuse connections from a keep-alive pool so fewer "
                       "new ones are opened, and give connect a short timeout (under 1 s) with one retry on a new "
                       "socket. On a node, `conntrack -D -d <removed pod IP> -p tcp` clears the entries.",
        snippet="",
        confidence=level,
        confidence_basis=f"inferred from the failures' shape ({len(explained)} connect timeouts after the removal, "
                         "with successes between them); the conntrack table is not observable, so at most medium",
        references=("https://github.com/kubernetes/kubernetes/issues/101607",),
    )


RULE: Final = Rule(RULE_ID, "Stale connection tracking after an endpoint was removed", evaluate)
