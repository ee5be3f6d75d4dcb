"""Dashboard (a): service continuity — what users saw while faults were injected."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import stat, timeseries
from grafana_foundation_sdk.models.common import BigValueColorMode, BigValueGraphMode, BigValueTextMode

from dashboards import queries as q
from dashboards.common import base, target

UID = "chaoskit-continuity"


def build() -> db.Dashboard:
    return (
        base("chaoskit: service continuity", UID,
             "Requests by outcome, error ratio and latency per Service type; red marks are fault injections.")
        .with_row(db.Row("Traffic"))
        .with_panel(stat.Panel().title("Current phase").height(4).span(6)
                    .with_target(target(q.CURRENT_PHASE, legend="{{phase}}"))
                    .text_mode(BigValueTextMode.NAME).color_mode(BigValueColorMode.NONE)
                    .graph_mode(BigValueGraphMode.NONE))
        .with_panel(timeseries.Panel().title("Request rate by outcome").height(9).span(18).unit("reqps")
                    .description("Requests per second by how they ended, per Service type (ClusterIP, NodePort).")
                    .with_target(target(q.REQUEST_RATE, legend="{{service_type}} {{outcome}}")))
        .with_panel(timeseries.Panel().title("Error ratio").height(9).span(12).unit("percentunit").min(0).max(1)
                    .description("Failed / all requests per Service type (every outcome but ok is a failure).")
                    .with_target(target(q.ERROR_RATIO, legend="{{service_type}}")))
        .with_panel(timeseries.Panel().title("Latency p50 / p99 (successful requests)").height(9).span(12).unit("s")
                    .description("From the request-duration histogram (1 ms to 10 s buckets); failures excluded.")
                    .with_target(target(q.P50, legend="p50 {{service_type}}", ref="A"))
                    .with_target(target(q.P99, legend="p99 {{service_type}}", ref="B")))
    )
