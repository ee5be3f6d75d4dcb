"""Pieces both dashboards share: the data source, the template variables, the fault annotation, panel helpers."""

from __future__ import annotations

from typing import Any, Final

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import prometheus
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from dashboards import queries as q

DATASOURCE_UID: Final = "chaoskit-prometheus"
"""The uid the provisioned data source (dashboards/provisioning/datasources) is given."""
DATASOURCE: Final = model.DataSourceRef(type_val="prometheus", uid=DATASOURCE_UID)
FAULT_ANNOTATION: Final = "Faults"


def target(expr: str, *, legend: str = "", ref: str = "A", table: bool = False) -> prometheus.Dataquery:
    query = prometheus.Dataquery().expr(expr).ref_id(ref).datasource(DATASOURCE)
    if legend:
        query = query.legend_format(legend)
    if table:  # the latest value of each series, one row per label set
        query = query.instant().format(PromQueryFormat.TABLE)
    return query


def variables() -> list[db.QueryVariable]:
    experiment = (db.QueryVariable("experiment").label("Experiment").datasource(DATASOURCE)
                  .query(q.VAR_EXPERIMENT).refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
                  .sort(model.VariableSort.ALPHABETICAL_ASC).multi(True).include_all(True).all_value(".*"))
    service_type = (db.QueryVariable("service_type").label("Service type").datasource(DATASOURCE)
                    .query(q.VAR_SERVICE_TYPE).refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
                    .sort(model.VariableSort.ALPHABETICAL_ASC).multi(True).include_all(True).all_value(".*"))
    return [experiment, service_type]


def fault_annotation() -> db.AnnotationQuery:
    return (db.AnnotationQuery().name(FAULT_ANNOTATION).datasource(DATASOURCE).enable(True)
            .icon_color("red").expr(q.FAULT_MARKS))


ANNOTATION_EXTRAS: Final[dict[str, Any]] = {"step": "1s", "titleFormat": "fault {{fault}}", "tagKeys": "fault"}
"""Prometheus annotation fields the SDK's AnnotationQuery has no setter for (min step, title, tags)."""


def base(title: str, uid: str, description: str) -> db.Dashboard:
    return (db.Dashboard(title).uid(uid).description(description).tags(["chaoskit"]).editable()
            .time("now-30m", "now").refresh("10s").timezone("browser").variables(list(variables()))
            .annotation(fault_annotation()))


def to_json(dashboard: db.Dashboard) -> dict[str, Any]:
    """The dashboard as Grafana's JSON model (plain dicts), with the annotation extras filled in."""
    import json

    from grafana_foundation_sdk.cog.encoder import JSONEncoder

    data: dict[str, Any] = _drop_nulls(json.loads(json.dumps(dashboard.build(), cls=JSONEncoder)))
    for annotation in data.get("annotations", {}).get("list", []):
        if annotation.get("name") == FAULT_ANNOTATION:
            annotation.update(ANNOTATION_EXTRAS)
    for number, panel in enumerate(data.get("panels", []), start=1):
        panel["id"] = number  # stable, unique ids: links to a panel (viewPanel=N) survive regeneration
    return data


def _drop_nulls(value: Any) -> Any:
    """The SDK writes unset options as null; Grafana expects such keys to be absent."""
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value
