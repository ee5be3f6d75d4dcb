"""Recovery of each fault instance on five clocks, in seconds from the fault instant.

From cluster events:

* ``replacement_scheduled``: replaced pods: when the last needed new pod was bound to a node
  (POD_SCHEDULED of a pod first seen after this fault and before the next one, with a victim's owner
  prefix, or a victim re-created under its own name; one per victim). Container restarts reschedule
  nothing: n/a.
* ``replacement_ready``: when the last needed new pod (same rule) became Ready. Container restarts:
  the victim Ready again after its CONTAINER_RESTARTED.
* ``endpoints_converged``: the first data-path sync (PROXY_SYNCED) after which no Service that
  routed to a victim still forwards to a victim IP, and each such Service forwards to every
  replacement IP. Container restarts: each such Service forwards to the victim again, once Ready.
  A backend that cannot observe its data path (kube) reports no syncs; then the Services' ready
  endpoint sets (ENDPOINT_ADDED/REMOVED) stand in, and ``endpoints_source`` says so. The state before
  the fault includes the endpoints that were ready when the backend began watching: both backends
  report them as ENDPOINT_ADDED, stamped when they were first seen.

From requests (attribution.py states the attribution rule exactly):

* ``last_failure``: the start of the last failed request attributed to this fault.
* ``traffic_recovered``: the start of the first successful request after that last failure, on every
  address that failed for this fault (the latest of them).

A clock is ``never`` (listed in ``never_recovered``) when it was expected to end and had not when the
run ended; ``n/a`` (listed in ``unobserved``) when there was nothing to measure it by. The two request
clocks have no value (None) when no failure was attributed to the fault: nothing had to recover.
Each failure and each new pod belongs to exactly one fault: nothing is counted twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from chaoskit.analysis.attribution import FaultFailures, attribute
from chaoskit.analysis.frames import Columns, seconds
from chaoskit.analysis.timeline import FaultInstance, PodHistory, ProxySync, Timeline, owner_prefix
from chaoskit.analysis.windows import FailureRuns

REPLACEMENT_SCHEDULED: Final = "replacement_scheduled"
REPLACEMENT_READY: Final = "replacement_ready"
ENDPOINTS_CONVERGED: Final = "endpoints_converged"
LAST_FAILURE: Final = "last_failure"
TRAFFIC_RECOVERED: Final = "traffic_recovered"
CLOCKS: Final = (REPLACEMENT_SCHEDULED, REPLACEMENT_READY, ENDPOINTS_CONVERGED, LAST_FAILURE, TRAFFIC_RECOVERED)
DATA_PATH: Final = "data-path"
CONTROL_PLANE: Final = "control-plane"
RESTART_KINDS: Final = frozenset({"container-restart"})
"""Fault kinds that restart a container in place instead of replacing the pod."""


@dataclass(frozen=True)
class FaultRecovery:
    """How long one fault instance took to recover, on each clock (seconds from its instant)."""

    name: str
    kind: str
    begin_ns: int
    end_ns: int | None
    victims: tuple[str, ...]
    victim_ips: tuple[str, ...]
    replacements: tuple[str, ...]
    replacement_ips: tuple[str, ...]
    replacement_scheduled_s: float | None
    replacement_ready_s: float | None
    endpoints_converged_s: float | None
    last_failure_s: float | None
    """None: no failure was attributed to this fault."""
    traffic_recovered_s: float | None
    """None: no failure attributed, or an address never recovered (then it is in ``never_recovered``)."""
    failures: int
    """Failed requests attributed to this fault."""
    never_recovered: tuple[str, ...] = ()
    """Clocks that were expected to end but had not when the run ended."""
    unobserved: tuple[str, ...] = ()
    """Clocks with nothing to measure: no events from the backend, or no victims."""
    endpoints_source: str = DATA_PATH
    """What ``endpoints_converged`` watched: the proxies' data path, or (when the backend cannot see it)
    the control plane's endpoint set; empty when it was not measured."""
    failed_addresses: tuple[str, ...] = ()
    """Addresses with a failure attributed to this fault."""
    unrecovered_addresses: tuple[str, ...] = ()
    """Addresses that failed for this fault and never had a successful request after, in the run."""

    def clocks(self) -> dict[str, float | None]:
        """Every clock by name (:data:`CLOCKS` order)."""
        return {
            REPLACEMENT_SCHEDULED: self.replacement_scheduled_s,
            REPLACEMENT_READY: self.replacement_ready_s,
            ENDPOINTS_CONVERGED: self.endpoints_converged_s,
            LAST_FAILURE: self.last_failure_s,
            TRAFFIC_RECOVERED: self.traffic_recovered_s,
        }

    @property
    def recovery_s(self) -> float | None:
        """The worst clock (the recovery SLO's measure): the longest clock; None when a clock never
        ended (the fault never recovered) or no clock had a value."""
        if self.never_recovered:
            return None
        values = [v for v in self.clocks().values() if v is not None]
        return max(values) if values else None


@dataclass(frozen=True)
class _Clock:
    at_ns: int | None
    pods: tuple[PodHistory, ...] = ()
    applicable: bool = True


def recovery(timeline: Timeline, cols: Columns, runs: FailureRuns) -> tuple[tuple[FaultRecovery, ...], int]:
    """Recovery per fault instance, and the number of failures before any fault."""
    faults = timeline.faults
    per_fault, before_any = attribute(cols, runs, [f.begin_ns for f in faults])
    results = []
    for i, fault in enumerate(faults):
        next_ns = faults[i + 1].begin_ns if i + 1 < len(faults) else None
        results.append(_recover(timeline, fault, next_ns, per_fault[i]))
    return tuple(results), before_any


def _recover(timeline: Timeline, fault: FaultInstance, next_ns: int | None, failed: FaultFailures) -> FaultRecovery:
    restart = fault.kind in RESTART_KINDS
    if restart:
        scheduled, ready = _Clock(None, applicable=False), _restart_ready(timeline, fault)
    else:
        scheduled, ready = _replacement_clocks(timeline, fault, next_ns)
    replaced_by = fault.victims if restart else ready.pods
    wanted = {p.ip for p in replaced_by if p.ip}
    # Backends that cannot see their data path (kube) report no syncs: fall back to the EndpointSlices.
    source = DATA_PATH if timeline.syncs else CONTROL_PLANE
    syncs = timeline.syncs or timeline.endpoint_views
    converged = _converged(syncs, timeline, fault, ready, wanted, restart=restart)
    never, unobserved = [], []
    for clock_name, clock in ((REPLACEMENT_SCHEDULED, scheduled), (REPLACEMENT_READY, ready),
                              (ENDPOINTS_CONVERGED, converged)):  # fmt: skip
        if not clock.applicable:
            unobserved.append(clock_name)
        elif clock.at_ns is None:
            never.append(clock_name)
    if failed.unrecovered_addresses:
        never.append(TRAFFIC_RECOVERED)
    return FaultRecovery(
        name=fault.name,
        kind=fault.kind,
        begin_ns=fault.begin_ns,
        end_ns=fault.end_ns,
        victims=tuple(v.pod for v in fault.victims),
        victim_ips=tuple(v.ip for v in fault.victims),
        replacements=tuple(p.name for p in ready.pods),
        replacement_ips=tuple(p.ip for p in ready.pods),
        replacement_scheduled_s=_since(fault, scheduled.at_ns),
        replacement_ready_s=_since(fault, ready.at_ns),
        endpoints_converged_s=_since(fault, converged.at_ns),
        last_failure_s=_since(fault, failed.last_failure_ns),
        traffic_recovered_s=_since(fault, failed.recovered_ns),
        failures=failed.failures,
        never_recovered=tuple(never),
        unobserved=tuple(unobserved),
        endpoints_source=source if converged.applicable else "",
        failed_addresses=failed.failed_addresses,
        unrecovered_addresses=failed.unrecovered_addresses,
    )


def _since(fault: FaultInstance, at_ns: int | None) -> float | None:
    return None if at_ns is None else seconds(max(0, at_ns - fault.begin_ns))


def _replacement_clocks(timeline: Timeline, fault: FaultInstance, next_ns: int | None) -> tuple[_Clock, _Clock]:
    """(scheduled, ready) of the new pods that replace the victims."""
    if not fault.victims:
        return _Clock(None, applicable=False), _Clock(None, applicable=False)
    victims = {v.pod for v in fault.victims}
    prefixes = {owner_prefix(v.pod) for v in fault.victims}
    # A backend (or an old run) that reports no POD_SCHEDULED at all cannot time scheduling: n/a, not never.
    reports_binding = any(p.scheduled_ns for p in timeline.pods.values())
    scheduled: list[tuple[int, PodHistory]] = []
    ready: list[tuple[int, PodHistory]] = []
    for pod in timeline.pods.values():
        # A new pod with a victim's owner prefix, or a victim re-created under its own name.
        if owner_prefix(pod.name) not in prefixes and pod.name not in victims:
            continue
        # Other pods count by first sight only: a watch re-list may re-announce old pods as added.
        appeared = pod.appeared_in(fault.begin_ns, next_ns, recreated=pod.name in victims)
        if appeared is None:
            continue
        bound_ns, ready_ns = pod.first_scheduled_after(appeared), pod.first_ready_after(appeared)
        if bound_ns is not None:
            scheduled.append((bound_ns, pod))
        if ready_ns is not None:
            ready.append((ready_ns, pod))
    bound = _nth(scheduled, len(victims)) if reports_binding else _Clock(None, applicable=False)
    return bound, _nth(ready, len(victims))


def _nth(found: list[tuple[int, PodHistory]], needed: int) -> _Clock:
    """The moment the ``needed``-th pod got there (never if fewer did), and the first ``needed`` pods."""
    found.sort(key=lambda item: (item[0], item[1].name))
    if len(found) < needed:
        return _Clock(None, pods=tuple(p for _, p in found))
    return _Clock(found[needed - 1][0], pods=tuple(p for _, p in found[:needed]))


def _restart_ready(timeline: Timeline, fault: FaultInstance) -> _Clock:
    if not fault.victims:
        return _Clock(None, applicable=False)
    latest = fault.begin_ns
    for victim in fault.victims:
        back = min((t for pod in _incarnations(timeline, victim.pod) if (t := _back_after(pod, fault.begin_ns))),
                   default=None)
        if back is None:
            return _Clock(None)
        latest = max(latest, back)
    return _Clock(latest)


def _incarnations(timeline: Timeline, name: str) -> list[PodHistory]:
    """Every pod that carried ``name`` (a StatefulSet's pod may have been replaced before or after the fault)."""
    return [pod for pod in timeline.pods.values() if pod.name == name]


def _back_after(pod: PodHistory, begin_ns: int) -> int | None:
    """When ``pod`` was Ready again after its first container restart at or after ``begin_ns``."""
    restarted = next((t for t in pod.restarted_ns if t >= begin_ns), None)
    return None if restarted is None else pod.first_ready_after(restarted)


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
    # Services known to route to a victim only from the control plane count when their data path is watched
    # too (a headless Service has no proxy: it never syncs, and would never "converge").
    watched = {s.service for s in syncs}
    services |= {svc for ts, ip, svc in timeline.endpoint_adds
                 if ip in victim_ips and ts <= fault.begin_ns and svc in watched}
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
