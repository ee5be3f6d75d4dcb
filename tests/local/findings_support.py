"""Before/after support for the findings tests: apply a finding's YAML to an experiment's manifests, and
recompute what a finding claims straight from the saved tables (independently of the analysis code)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from chaoskit.analysis.findings import Finding
from chaoskit.analysis.findings.snippets import merge
from chaoskit.analysis.summary import RunSummary
from chaoskit.cluster.manifests import load_manifest_files
from chaoskit.experiment import Experiment


def with_change(spec: Experiment, finding: Finding, folder: Path) -> Experiment:
    """``spec`` with the finding's snippet merged into its manifests, by kind and name (new objects added)."""
    documents: list[dict[str, Any]] = [dict(m) for m in load_manifest_files(spec.target.manifests)]
    for patch in (p for p in yaml.safe_load_all(finding.snippet) if p):
        key = (patch["kind"], patch["metadata"]["name"])
        index = next((i for i, d in enumerate(documents) if (d["kind"], d["metadata"]["name"]) == key), None)
        if index is None:
            documents.append(patch)
        else:
            documents[index] = merge(documents[index], patch)
    path = folder / f"{spec.name}-{finding.rule}.manifest.yaml"
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    data = spec.model_dump(by_alias=True)
    data["target"]["manifests"] = [path]
    return type(spec).model_validate(data)


def finding(summary: RunSummary, rule: str) -> Finding:
    found = [f for f in summary.findings if f.rule == rule]
    assert len(found) == 1, [(f.rule, f.headline) for f in summary.findings]
    return found[0]


def rules(summary: RunSummary) -> set[str]:
    return {f.rule for f in summary.findings}


CONNECT = ("refused", "reset", "connect_timeout")
"""A new connection that found no pod listening (the shutdown race's outcomes)."""


def failed(requests: pd.DataFrame, outcomes: Iterable[str] | None = None) -> pd.DataFrame:
    """Failed requests that were sent (one the load agent never sent is the client's, as in the analysis),
    of the given outcomes (default: any)."""
    outcome = requests["outcome"].astype(str)
    bad = ~requests["ok"] & (outcome != "agent_saturated")
    if outcomes is not None:
        bad &= outcome.isin(list(outcomes))
    return requests.loc[bad]


def started_in(requests: pd.DataFrame, windows: Iterable[tuple[int, int]],
               outcomes: Iterable[str] | None = None) -> pd.DataFrame:
    """Failed requests (of ``outcomes``) that started inside any of the ``[begin, end]`` windows."""
    bad = failed(requests, outcomes)
    mask = pd.Series(False, index=bad.index)
    for begin, end in windows:
        mask |= (bad["start_ns"] >= begin) & (bad["start_ns"] <= end)
    return bad.loc[mask]


def deleted_at(events: pd.DataFrame, pod: str, terminating_ns: int) -> int:
    """When a pod was deleted: the fault's instant when its Terminating event followed within a second (a watch
    sees it late), else that event's (findings/context.py states the rule)."""
    acted = events.loc[(events["kind"] == "fault_begin") & events["detail"].astype(str).str.endswith(f"|{pod}"),
                       "ts_ns"]
    early = acted[(acted <= terminating_ns) & (acted >= terminating_ns - 1_000_000_000)]
    return int(early.min()) if len(early) else terminating_ns


def shutdown_windows(events: pd.DataFrame) -> list[tuple[str, int, int]]:
    """(pod, deleted, out of every Service's data path) for each pod that turned Terminating during the phases:
    the proxy's first sync of each Service after the termination that no longer lists the pod's IP; the latest."""
    rows = []
    syncs = events.loc[events["kind"] == "proxy_synced"]
    phases = events.loc[events["kind"] == "phase", "ts_ns"]
    terminating = events.loc[(events["kind"] == "pod_terminating") & (events["ts_ns"] < phases.max())]
    for term in terminating.itertuples():
        routed = syncs.loc[syncs["detail"].str.split(",").apply(lambda ips, ip=term.ip: ip in ips)
                           & (syncs["ts_ns"] <= term.ts_ns), "service"].unique()
        outs = []
        for service in routed:
            later = syncs.loc[(syncs["service"] == service) & (syncs["ts_ns"] >= term.ts_ns)]
            gone = later.loc[~later["detail"].str.split(",").apply(lambda ips, ip=term.ip: ip in ips), "ts_ns"]
            outs.append(int(gone.min()))
        if outs:
            rows.append((str(term.name), deleted_at(events, str(term.name), int(term.ts_ns)), max(outs)))
    return rows


def dark_windows(events: pd.DataFrame, service: str, end_ns: int) -> list[tuple[int, int]]:
    """Intervals in which the proxy forwarded ``service`` to no pod at all (an empty synced set)."""
    syncs = events.loc[(events["kind"] == "proxy_synced") & (events["service"] == service)].sort_values("ts_ns")
    windows, since = [], None
    for ts, detail in zip(syncs["ts_ns"].tolist(), syncs["detail"].tolist(), strict=True):
        if not detail and since is None:
            since = ts
        elif detail and since is not None:
            windows.append((since, ts))
            since = None
    return windows + ([(since, end_ns)] if since is not None else [])
