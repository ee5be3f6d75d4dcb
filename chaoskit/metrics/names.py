"""Metric names, label names and histogram buckets: the one list the collectors and the dashboards share."""

from __future__ import annotations

from typing import Final

PREFIX: Final = "chaoskit"

REQUESTS: Final = "chaoskit_requests_total"
"""Counter {experiment, service, service_type, outcome}: requests by how they ended."""
REQUEST_DURATION: Final = "chaoskit_request_duration_seconds"
"""Histogram {experiment, service, service_type}: latency of successful requests."""
FAULTS: Final = "chaoskit_faults_injected_total"
"""Counter {experiment, fault}: fault instances injected (one per firing, however many victims)."""
PHASE: Final = "chaoskit_experiment_phase"
"""Gauge {experiment, phase}: 1 for the phase the run is in, 0 for the others."""
RECOVERY: Final = "chaoskit_recovery_seconds"
"""Gauge {experiment, fault, clock}: fault instant to recovery on one clock, per fault instance."""
ERROR_WINDOW: Final = "chaoskit_error_window_seconds"
"""Gauge {experiment, service_type}: total length of the error windows."""
ERROR_WINDOW_LONGEST: Final = "chaoskit_error_window_longest_seconds"
"""Gauge {experiment, service_type}: length of the longest error window (0 when there was none)."""
ERROR_WINDOWS: Final = "chaoskit_error_windows"
"""Gauge {experiment, service_type}: how many error windows."""
AVAILABILITY: Final = "chaoskit_availability_ratio"
"""Gauge {experiment, service_type, phase}: ok / requests (phase ``all`` = whole run)."""
DATA_SURVIVED: Final = "chaoskit_data_survived"
"""Gauge {experiment, volume_type, fault, placement}: share of the marker checks whose marker survived."""
DATA_CHECKS: Final = "chaoskit_data_checks"
"""Gauge {experiment, volume_type, fault, placement}: how many marker checks."""
DATA_AS_EXPECTED: Final = "chaoskit_data_as_expected"
"""Gauge {experiment, volume_type, fault, placement}: 1 when every check matched the spec's expectation."""
VERDICT: Final = "chaoskit_experiment_verdict"
"""Gauge {experiment}: 1 passed, 0 failed (an aborted run fails)."""
RUN_INFO: Final = "chaoskit_run_info"
"""Info {experiment, run_id, backend}: the only series that carries the run id."""

WORKER_REQUESTS: Final = "chaoskit_load_worker_requests_total"
"""Counter {experiment, worker}: request records received from each load worker (live)."""
WORKER_START_LAG: Final = "chaoskit_load_worker_start_lag_seconds"
"""Histogram {experiment, worker}: start - scheduled of each worker's requests (live)."""
WORKER_PLANNED: Final = "chaoskit_load_worker_planned_requests"
"""Gauge {experiment, worker}: requests in the worker's share of the schedule (after the run)."""
WORKER_CPU: Final = "chaoskit_load_worker_cpu_ratio"
"""Gauge {experiment, worker}: the worker's CPU seconds per wall second (after the run)."""
WORKER_SATURATED: Final = "chaoskit_load_worker_saturated"
"""Gauge {experiment, worker}: 1 when the worker was saturated (after the run)."""
WORKER_DELIVERED: Final = "chaoskit_load_worker_delivered"
"""Gauge {experiment, worker}: 1 when the worker delivered its whole share (after the run)."""
WORKER_CLOCK_OFFSET: Final = "chaoskit_load_worker_clock_offset_seconds"
"""Gauge {experiment, worker}: the worker's clock minus the run's, as measured (after the run)."""
LOAD_DELIVERED: Final = "chaoskit_load_delivered"
"""Gauge {experiment}: 1 when every worker delivered its share (after the run); 0 makes the run inconclusive."""

LAG_BUCKETS_S: Final = (0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1.0)
"""Start lag upper bounds: 10 ms is a late start, 20 ms (p99) a saturated worker."""
LATENCY_BUCKETS_S: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds (seconds) from 1 ms to 10 s, about three per decade; +Inf is implied."""

LIVE_PHASES: Final = ("setup", "baseline", "chaos", "recovery", "verify", "done")
"""Values of the ``phase`` label of :data:`PHASE`, in run order."""
