"""Every PromQL expression the dashboards use, built from chaoskit's metric names so the two stay in step."""

from __future__ import annotations

from typing import Final

from chaoskit.metrics import names as n

EXP: Final = 'experiment=~"$experiment"'
"""Selects the experiments picked in the ``experiment`` template variable."""
EXP_TYPE: Final = f'{EXP}, service_type=~"$service_type"'
"""Also selects the Service types picked in the ``service_type`` variable."""

VAR_EXPERIMENT: Final = f"label_values({n.REQUESTS}, experiment)"
VAR_SERVICE_TYPE: Final = f"label_values({n.REQUESTS}{{{EXP}}}, service_type)"


def _rate(selector: str) -> str:
    return f"rate({n.REQUESTS}{{{selector}}}[$__rate_interval])"


REQUEST_RATE: Final = f"sum by (service_type, outcome) ({_rate(EXP_TYPE)})"
FAILED: Final = EXP_TYPE + ', outcome!="ok"'
ERROR_RATIO: Final = f"sum by (service_type) ({_rate(FAILED)}) / sum by (service_type) ({_rate(EXP_TYPE)})"



def latency_quantile(q: float) -> str:
    """A latency percentile of successful requests per Service type, from the histogram's buckets."""
    buckets = f"rate({n.REQUEST_DURATION}_bucket{{{EXP_TYPE}}}[$__rate_interval])"
    return f"histogram_quantile({q}, sum by (service_type, le) ({buckets}))"


P50: Final = latency_quantile(0.5)
P99: Final = latency_quantile(0.99)
CURRENT_PHASE: Final = f"max by (phase) ({n.PHASE}{{{EXP}}}) == 1"
FAULT_MARKS: Final = f"sum by (fault) (changes({n.FAULTS}{{{EXP}}}[$__rate_interval])) > 0"
"""Non-empty just after a fault instance was injected: the fault annotation."""

RECOVERY_WORST: Final = f"max by (clock) ({n.RECOVERY}{{{EXP}}})"
RECOVERY_PER_FAULT: Final = f"max by (experiment, run, fault, clock) ({n.RECOVERY}{{{EXP}}})"
WINDOW_TOTAL: Final = f"max by (service_type) ({n.ERROR_WINDOW}{{{EXP_TYPE}}})"
WINDOW_LONGEST: Final = f"max by (service_type) ({n.ERROR_WINDOW_LONGEST}{{{EXP_TYPE}}})"
WINDOW_COUNT: Final = f"max by (service_type) ({n.ERROR_WINDOWS}{{{EXP_TYPE}}})"
AVAILABILITY_BY_PHASE: Final = f"min by (service_type, phase) ({n.AVAILABILITY}{{{EXP_TYPE}}})"
SURVIVAL: Final = f"max by (experiment, run, volume_type, fault, placement) ({n.DATA_SURVIVED}{{{EXP}}})"
SURVIVAL_AS_EXPECTED: Final = (
    f"max by (experiment, run, volume_type, fault, placement) ({n.DATA_AS_EXPECTED}{{{EXP}}})"
)
VERDICT_HISTORY: Final = f"max by (experiment, run) ({n.VERDICT}{{{EXP}}})"
RUNS: Final = f"max by (experiment, run_id, backend) ({n.RUN_INFO}{{{EXP}}})"
