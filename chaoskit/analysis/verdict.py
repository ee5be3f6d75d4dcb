"""The verdict: each SLO checked against the measurements, with a reason for every failure."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from chaoskit.analysis.availability import ALL_PHASES, AvailabilityRow
from chaoskit.analysis.health import AgentHealth
from chaoskit.analysis.recovery import FaultRecovery
from chaoskit.checks.results import DataCheckResult

LATENCY_PHASES: Final = ("chaos", "recovery")
"""The p99 latency SLO is judged over these phases together (the whole run if none was recorded)."""


@dataclass(frozen=True)
class SloTargets:
    """The experiment's SLOs, in analysis units (the engine maps the spec's Slo onto this)."""

    availability: float | None = None
    """Minimum ok ratio per service type over the whole run (0.99 = 99 %); None = not checked."""
    p99_latency_s: float | None = None
    """Maximum p99 latency of ok requests over chaos + recovery, seconds; None = not checked."""
    recovery_s: float | None = None
    """Maximum recovery of any fault on its worst clock (``FaultRecovery.recovery_s``), seconds; a clock
    that never ended fails it; None = not checked."""
    data: bool = True
    """Data-survival expectations must hold."""


@dataclass(frozen=True)
class SloCheck:
    """One SLO judged on one scope (a service type, a fault instance, a volume check)."""

    slo: str
    """``availability``, ``p99_latency``, ``recovery`` or ``data``."""
    scope: str
    target: float | None
    measured: float | None
    passed: bool
    detail: str
    """A sentence a human reads: the numbers and, when failed, why."""


class Outcome(enum.StrEnum):
    PASS = "PASS"  # noqa: S105 (a verdict, not a password)
    FAIL = "FAIL"
    INCONCLUSIVE = "INCONCLUSIVE"
    ABORTED = "ABORTED"


@dataclass(frozen=True)
class Verdict:
    """PASS: every SLO held and the run is conclusive. FAIL: an SLO was violated in a conclusive run.
    INCONCLUSIVE: the run cannot support a claim either way (``inconclusive`` says why; failed checks are
    still listed). ABORTED: stopped before it finished. The first that applies, in the order
    ABORTED, INCONCLUSIVE, FAIL, PASS."""

    passed: bool
    """True only for PASS."""
    aborted: bool
    reasons: tuple[str, ...]
    """The detail of every failed check (and the abort), in check order."""
    checks: tuple[SloCheck, ...] = ()
    warnings: tuple[str, ...] = ()
    """Things that do not void the run but weaken the measurement."""
    outcome: str = Outcome.PASS
    """An ``Outcome`` value."""
    inconclusive: tuple[str, ...] = ()
    """Why the run cannot support a claim (a fault that did not happen, no steady state, load not delivered)."""


def judge(
    slo: SloTargets,
    *,
    availability: Sequence[AvailabilityRow],
    p99_ms: Mapping[str, float | None],
    recovery: Sequence[FaultRecovery],
    data: Sequence[DataCheckResult],
    agent: AgentHealth,
    aborted: bool,
    inconclusive: Sequence[str] = (),
    warnings: Sequence[str] = (),
) -> Verdict:
    checks = [
        *_availability_checks(slo, availability),
        *_latency_checks(slo, p99_ms),
        *_recovery_checks(slo, recovery),
        *_data_checks(slo, data),
    ]
    reasons = [c.detail for c in checks if not c.passed]
    if aborted:
        reasons.insert(0, "aborted before the experiment finished")
    notes = list(warnings)
    if agent.saturated and not inconclusive:
        notes.append(
            f"load agent near saturation (p99 start lag {agent.lag_p99_ms} ms, {agent.late_starts} late starts, "
            f"CPU {agent.cpu_utilisation}): latency may be partly the client's"
        )
    outcome = (Outcome.ABORTED if aborted else Outcome.INCONCLUSIVE if inconclusive
               else Outcome.FAIL if reasons else Outcome.PASS)
    return Verdict(
        passed=outcome is Outcome.PASS,
        aborted=aborted,
        reasons=tuple(reasons),
        checks=tuple(checks),
        warnings=tuple(notes),
        outcome=outcome,
        inconclusive=tuple(inconclusive),
    )


def _availability_checks(slo: SloTargets, rows: Sequence[AvailabilityRow]) -> list[SloCheck]:
    if slo.availability is None:
        return []
    target = slo.availability
    checks = []
    for row in (r for r in rows if r.phase == ALL_PHASES):
        passed = row.ratio is not None and row.ratio >= target
        measured = "no requests" if row.ratio is None else f"{_pct(row.ratio)}"
        detail = (
            f"availability {row.service_type}: {measured} "
            f"{'>=' if passed else '<'} {_pct(target)} ({row.failed} of {row.requests} failed)"
        )
        checks.append(SloCheck("availability", row.service_type, target, row.ratio, passed, detail))
    if not checks:
        # Nothing measured cannot count as available: the load agent never ran or recorded nothing.
        detail = "availability: no requests were measured"
        checks.append(SloCheck("availability", "all", target, None, False, detail))
    return checks


def _latency_checks(slo: SloTargets, p99_ms: Mapping[str, float | None]) -> list[SloCheck]:
    if slo.p99_latency_s is None:
        return []
    target_ms = slo.p99_latency_s * 1000
    checks = []
    for service_type, measured in p99_ms.items():
        passed = measured is None or measured <= target_ms
        shown = "no successful requests" if measured is None else f"{measured:g} ms"
        detail = f"p99 latency {service_type} over chaos+recovery: {shown} {'<=' if passed else '>'} {target_ms:g} ms"
        checks.append(SloCheck("p99_latency", service_type, target_ms, measured, passed, detail))
    return checks


def _recovery_checks(slo: SloTargets, faults: Sequence[FaultRecovery]) -> list[SloCheck]:
    if slo.recovery_s is None:
        return []
    target = slo.recovery_s
    checks = []
    for fault in faults:
        worst = fault.recovery_s
        if fault.never_recovered:
            passed = False
            stuck = fault.unrecovered_addresses
            where = f" ({', '.join(stuck)} failing at the end of the run)" if stuck else ""
            detail = f"recovery {fault.name}: never recovered on {', '.join(fault.never_recovered)}{where}"
        else:
            passed = worst is None or worst <= target
            clock = _worst_clock(fault)
            detail = (
                f"recovery {fault.name}: {worst if worst is not None else 0:g} s on {clock} "
                f"{'<=' if passed else '>'} {target:g} s"
            )
        checks.append(SloCheck("recovery", fault.name, target, worst, passed, detail))
    return checks


def _data_checks(slo: SloTargets, results: Sequence[DataCheckResult]) -> list[SloCheck]:
    if not slo.data:
        return []
    checks = []
    for r in results:
        if not r.checked:
            continue  # no marker was written (or read) there: it says nothing about the data; the report shows it
        seen = "survived" if r.survived else "lost"
        scope = f"{r.volume} ({r.volume_type}) after {r.fault}, {r.placement}"
        detail = f"data {scope}: {seen}, expected {r.expected}"
        checks.append(SloCheck("data", scope, None, float(r.survived), r.as_expected, detail))
    return checks


def _worst_clock(fault: FaultRecovery) -> str:
    known = {k: v for k, v in fault.clocks().items() if v is not None}
    return max(known, key=lambda k: known[k]) if known else "no clock"


def _pct(value: float) -> str:
    return f"{value * 100:.3f}%"
