"""Recovery of each fault instance on three clocks, measured from the fault instant.

* ``replacement_ready``: replaced pods: when the last needed new pod became Ready (a pod first
  seen after this fault and before the next one, with a victim's owner prefix; one per victim).
  Container restarts: the victim Ready again after its CONTAINER_RESTARTED.
* ``endpoints_converged``: the first data-path sync (PROXY_SYNCED) after which no Service that
  routed to a victim still forwards to a victim IP, and each such Service forwards to every
  replacement IP. Container restarts: each such Service forwards to the victim again, once Ready.
  A backend that cannot observe its data path (kube) reports no syncs; then the Services' ready
  endpoint sets (ENDPOINT_ADDED/REMOVED) stand in, and ``endpoints_source`` says so.
* ``last_failure``: end of the last failed request attributed to this fault. A failure belongs to
  the most recent fault instant at or before its start; failures before the first fault belong to
  none. Each failure and each new pod belongs to exactly one fault: nothing is counted twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from chaoskit.analysis.frames import Columns, seconds
from chaoskit.analysis.timeline import FaultInstance, PodHistory, ProxySync, Timeline, owner_prefix

REPLACEMENT_READY: Final = "replacement_ready"
ENDPOINTS_CONVERGED: Final = "endpoints_converged"
LAST_FAILURE: Final = "last_failure"
CLOCKS: Final = (REPLACEMENT_READY, ENDPOINTS_CONVERGED, LAST_FAILURE)
DATA_PATH: Final = "data-path"
CONTROL_PLANE: Final = "control-plane"
RESTART_KINDS: Final = frozenset({"container-restart"})
"""Fault kinds that restart a container in place instead of replacing the pod."""


@dataclass(frozen=True)
class FaultRecovery:
    """How long one fault instance took to recover, on each clock (seconds; None = did not end)."""

    name: str
    kind: str
    begin_ns: int
    end_ns: int | None
    victims: tuple[str, ...]
    victim_ips: tuple[str, ...]
    replacements: tuple[str, ...]
    replacement_ips: tuple[str, ...]
    replacement_ready_s: float | None
    endpoints_converged_s: float | None
    last_failure_s: float
    failures: int
    """Failed requests attributed to this fault."""
    never_recovered: tuple[str, ...] = ()
    """Clocks that were expected to end but never did."""
    unobserved: tuple[str, ...] = ()
    """Clocks with nothing to measure: no events from the backend, or no victims."""
    endpoints_source: str = DATA_PATH
    """What ``endpoints_converged`` watched: the proxies' data path, or (when the backend cannot see it)
    the control plane's endpoint set; empty when it was not measured."""

    @property
    def recovery_s(self) -> float | None:
        """The longest clock that ended (None if no clock ended)."""
        values = [
            v for v in (self.replacement_ready_s, self.endpoints_converged_s, self.last_failure_s) if v is not None
        ]
        return max(values) if values else None


@dataclass(frozen=True)
class _Clock:
    at_ns: int | None
    pods: tuple[PodHistory, ...] = ()
    applicable: bool = True


def recovery(timeline: Timeline, cols: Columns) -> tuple[tuple[FaultRecovery, ...], int]:
    """Recovery per fault instance, and the number of failures that precede every fault."""
    faults = timeline.faults
    counts, last_end, unattributed = attribute_failures(cols, [f.begin_ns for f in faults])
    results = []
    for i, fault in enumerate(faults):
        next_ns = faults[i + 1].begin_ns if i + 1 < len(faults) else None
        results.append(_recover(timeline, fault, next_ns, failures=int(counts[i]), last_end=int(last_end[i])))
    return tuple(results), unattributed


def attribute_failures(cols: Columns, instants_ns: list[int]) -> tuple[np.ndarray, np.ndarray, int]:
    """Per fault: failures attributed and their latest end (ns, 0 if none); failures before all."""
    failed = ~cols.ok
    start = cols.start_ns[failed]
    end = start + cols.latency_ns[failed]
    instants = np.asarray(instants_ns, dtype=np.int64)
    owner = np.searchsorted(instants, start, side="right") - 1
    mine = owner >= 0
    counts = np.bincount(owner[mine], minlength=len(instants))
    last_end = np.zeros(len(instants), dtype=np.int64)
    np.maximum.at(last_end, owner[mine], end[mine])
    return counts, last_end, int((~mine).sum())


def _recover(
    timeline: Timeline, fault: FaultInstance, next_ns: int | None, *, failures: int, last_end: int
) -> FaultRecovery:
    restart = fault.kind in RESTART_KINDS
    ready = _restart_ready(timeline, fault) if restart else _replacement_ready(timeline, fault, next_ns)
    replaced_by = fault.victims if restart else ready.pods
    wanted = {p.ip for p in replaced_by if p.ip}
    # Backends that cannot see their data path (kube) report no syncs: fall back to the EndpointSlices.
    source = DATA_PATH if timeline.syncs else CONTROL_PLANE
    syncs = timeline.syncs or timeline.endpoint_views
    converged = _converged(syncs, timeline, fault, ready, wanted, restart=restart)
    never, unobserved = [], []
    for clock_name, clock in ((REPLACEMENT_READY, ready), (ENDPOINTS_CONVERGED, converged)):
        if not clock.applicable:
            unobserved.append(clock_name)
        elif clock.at_ns is None:
            never.append(clock_name)
    return FaultRecovery(
        name=fault.name,
        kind=fault.kind,
        begin_ns=fault.begin_ns,
        end_ns=fault.end_ns,
        victims=tuple(v.pod for v in fault.victims),
        victim_ips=tuple(v.ip for v in fault.victims),
        replacements=tuple(p.name for p in ready.pods),
        replacement_ips=tuple(p.ip for p in ready.pods),
        replacement_ready_s=_since(fault, ready),
        endpoints_converged_s=_since(fault, converged),
        last_failure_s=seconds(last_end - fault.begin_ns) if failures else 0.0,
        failures=failures,
        never_recovered=tuple(never),
        unobserved=tuple(unobserved),
        endpoints_source=source if converged.applicable else "",
    )


def _since(fault: FaultInstance, clock: _Clock) -> float | None:
    return None if clock.at_ns is None else seconds(max(0, clock.at_ns - fault.begin_ns))


def _replacement_ready(timeline: Timeline, fault: FaultInstance, next_ns: int | None) -> _Clock:
    if not fault.victims:
        return _Clock(None, applicable=False)
    victims = {v.pod for v in fault.victims}
    prefixes = {owner_prefix(v.pod) for v in fault.victims}
    ready: list[tuple[int, PodHistory]] = []
    for pod in timeline.pods.values():
        # A new pod with a victim's owner prefix, or a victim re-created under its own name.
        if owner_prefix(pod.name) not in prefixes and pod.name not in victims:
            continue
        # Other pods count by first sight only: a watch re-list may re-announce old pods as added.
        appeared = pod.appeared_in(fault.begin_ns, next_ns, recreated=pod.name in victims)
        ready_ns = None if appeared is None else pod.first_ready_after(appeared)
        if ready_ns is not None:
            ready.append((ready_ns, pod))
    ready.sort(key=lambda item: (item[0], item[1].name))
    needed = len(victims)
    if len(ready) < needed:
        return _Clock(None, pods=tuple(p for _, p in ready))
    return _Clock(ready[needed - 1][0], pods=tuple(p for _, p in ready[:needed]))


def _restart_ready(timeline: Timeline, fault: FaultInstance) -> _Clock:
    if not fault.victims:
        return _Clock(None, applicable=False)
    latest = fault.begin_ns
    for victim in fault.victims:
        pod = timeline.pods.get(victim.pod)
        restarted = next((t for t in pod.restarted_ns if t >= fault.begin_ns), None) if pod else None
        back = pod.first_ready_after(restarted) if pod and restarted is not None else None
        if back is None:
            return _Clock(None)
        latest = max(latest, back)
    return _Clock(latest)


def _converged(
    syncs: tuple[ProxySync, ...],
    timeline: Timeline,
    fault: FaultInstance,
    ready: _Clock,
    wanted: set[str],
    *,
    restart: bool,
) -> _Clock:
    if not syncs or not fault.victims:
        return _Clock(None, applicable=False)
    victim_ips = {v.ip for v in fault.victims if v.ip}
    state = _replay({}, [s for s in syncs if s.ts_ns <= fault.begin_ns])
    services = {svc for (svc, _), ips in state.items() if ips & victim_ips}
    services |= {svc for ts, ip, svc in timeline.endpoint_adds if ip in victim_ips and ts <= fault.begin_ns}
    if not services:
        return _Clock(None, applicable=False)
    if ready.at_ns is None or not wanted:
        return _Clock(None)
    # A restarted pod keeps its IP: "forwards to it" means recovered only once it is Ready again.
    earliest = ready.at_ns if restart else fault.begin_ns
    state = _replay({}, [s for s in syncs if s.ts_ns <= earliest])
    if _holds(state, services, victim_ips, wanted, restart=restart):
        return _Clock(earliest)
    for sync in (s for s in syncs if s.ts_ns > earliest):
        state[(sync.service, sync.node)] = sync.endpoints
        if _holds(state, services, victim_ips, wanted, restart=restart):
            return _Clock(sync.ts_ns)
    return _Clock(None)


def _replay(
    state: dict[tuple[str, str], frozenset[str]], syncs: list[ProxySync]
) -> dict[tuple[str, str], frozenset[str]]:
    state = dict(state)
    for sync in syncs:
        state[(sync.service, sync.node)] = sync.endpoints
    return state


def _holds(
    state: dict[tuple[str, str], frozenset[str]],
    services: set[str],
    victim_ips: set[str],
    wanted: set[str],
    *,
    restart: bool,
) -> bool:
    for service in services:
        paths = [ips for (svc, _), ips in state.items() if svc == service]
        union = frozenset().union(*paths)
        if not wanted <= union:
            return False
        if not restart and any(ips & victim_ips for ips in paths):
            return False
    return True
