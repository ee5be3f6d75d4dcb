"""Dashboard (b): recovery and data — how long each fault took to heal, error windows, data survival, verdicts."""

from __future__ import annotations

from grafana_foundation_sdk.builders import bargauge, statetimeline, table
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.models import dashboard as model

from dashboards import queries as q
from dashboards.common import base, target

UID = "chaoskit-recovery"

PASS_FAIL = model.ValueMap(options={
    "1": model.ValueMappingResult(text="PASS", color="green", index=0),
    "0": model.ValueMappingResult(text="FAIL", color="red", index=1),
})
SURVIVED = model.ValueMap(options={
    "1": model.ValueMappingResult(text="survived", color="green", index=0),
    "0": model.ValueMappingResult(text="lost", color="orange", index=1),
})


def build() -> db.Dashboard:
    return (
        base("chaoskit: recovery and data", UID,
             "Final results of runs: recovery per clock, error windows, availability by phase, data survival.")
        .with_row(db.Row("Recovery"))
        .with_panel(bargauge.Panel().title("Recovery time per clock (worst fault)").height(8).span(8).unit("s")
                    .description("Fault instant to: replacement pod Ready, endpoints converged, last failed request.")
                    .with_target(target(q.RECOVERY_WORST, legend="{{clock}}")))
        .with_panel(table.Panel().title("Recovery per fault instance").height(8).span(16).unit("s")
                    .with_target(target(q.RECOVERY_PER_FAULT, table=True)))
        .with_panel(bargauge.Panel().title("Error windows (worst run)").height(8).span(12).unit("s")
                    .description("Total and longest stretch of failing requests per Service type, and their count.")
                    .with_target(target(q.WINDOW_TOTAL, legend="total {{service_type}}", ref="A"))
                    .with_target(target(q.WINDOW_LONGEST, legend="longest {{service_type}}", ref="B"))
                    .with_target(target(q.WINDOW_COUNT, legend="windows {{service_type}}", ref="C")))
        .with_panel(bargauge.Panel().title("Availability by phase (worst run)").height(8).span(12)
                    .unit("percentunit").min(0).max(1)
                    .with_target(target(q.AVAILABILITY_BY_PHASE, legend="{{service_type}} {{phase}}")))
        .with_row(db.Row("Data and verdicts"))
        .with_panel(table.Panel().title("Data survival (emptyDir / hostPath)").height(8).span(12)
                    .description("Share of marker checks whose marker was still there after the fault.")
                    .mappings([SURVIVED])
                    .with_target(target(q.SURVIVAL, table=True, ref="A"))
                    .with_target(target(q.SURVIVAL_AS_EXPECTED, table=True, ref="B")))
        .with_panel(table.Panel().title("Runs").height(8).span(12)
                    .with_target(target(q.RUNS, table=True)))
        .with_panel(statetimeline.Panel().title("Verdict history").height(8).span(24).mappings([PASS_FAIL])
                    .with_target(target(q.VERDICT_HISTORY, legend="{{experiment}} {{run}}")))
    )
