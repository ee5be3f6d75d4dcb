"""What the node-failure tests share: the experiment they run, the cluster's nodes, and the timeline they read from
a run's events (seconds from the fault instant, printed so `pytest -s` shows the measurement)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from chaoskit.cluster.kube.api import KubeApi
from chaoskit.cluster.kube.config import load_configuration
from tests.kube.support import kube_options, unique_namespace

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = Path(__file__).parent / "manifests"
FAILED_NODE = "chaoskit-node-2"
HEALTHY_NODE = "chaoskit-node"


def experiment(tmp_path: Path, mode: str, *, extra: str, duration_s: int = 40, chaos_s: int = 50,
               recovery_s: int = 30, name: str = "") -> tuple[Path, str]:
    """A node-failure experiment file for the test bed: nf-web (2 pods per node) plus ``extra``'s workload,
    node 2 failed ``duration_s`` from chaos+2 s. Returns the file and its namespace."""
    namespace = unique_namespace(name or f"nf-{mode}")
    manifests = [str(MANIFESTS / "nf-web.yaml")] + ([str(MANIFESTS / extra)] if extra else [])
    text = f"""
name: kube-node-failure-{mode}
description: |
  Node 2 fails ({mode}) for {duration_s} s: NotReady after the grace period, eviction, replacements on node 1.
target:
  namespace: {namespace}
  manifests: {json.dumps(manifests)}
  selector: {{app: nf-web}}
  replicas: 4
load:
  rate: 20
  connection: new-connection
  timeout: 2s
  services:
    - name: nf-web
      types: [ClusterIP]
    - name: nf-web-np
      types: [NodePort]
phases: {{baseline: 5s, chaos: {chaos_s}s, recovery: {recovery_s}s}}
faults:
  - kind: node-failure
    name: {mode}
    schedule: {{at: 2s}}
    node: {FAILED_NODE}
    mode: {mode}
    duration: {duration_s}s
data:
  - volume: scratch
    volume_type: emptyDir
    expect: {{after_pod_replaced_same_node: lost, after_pod_replaced_other_node: lost}}
slo:
  availability: 80%
  recovery: 90s
  data: true
"""
    path = tmp_path / f"node-failure-{mode}.yaml"
    path.write_text(text)
    return path, namespace


def chaoskit(*args: str, timeout_s: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chaoskit.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout_s, check=False)


def admin(context: str) -> KubeApi:
    return KubeApi(load_configuration(kube_options(context, "unused")).configuration, request_timeout_s=30)


def node_state(api: KubeApi, name: str) -> tuple[bool, bool, list[str]]:
    """(Ready, schedulable, taint keys) of a node."""
    node = api.request("GET", f"/api/v1/nodes/{name}")
    ready = any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"].get("conditions", []))
    taints = [str(t["key"]) for t in node["spec"].get("taints") or []]
    return ready, not node["spec"].get("unschedulable", False), taints


@dataclass(frozen=True)
class Timeline:
    """What happened after the fault instant, in seconds (None: never seen)."""

    events: pd.DataFrame
    t0_ns: int

    @classmethod
    def of(cls, run_dir: Path) -> Timeline:
        events = pd.read_parquet(run_dir / "events.parquet")
        begin = events[(events["kind"] == "fault_begin") & events["detail"].str.startswith("node-failure")]
        return cls(events.sort_values("ts_ns", kind="stable"), int(begin["ts_ns"].min()))

    def at(self, kind: str, **match: str) -> list[float]:
        rows = self.events[self.events["kind"] == kind]
        for column, value in match.items():
            rows = rows[rows[column].astype(str).str.startswith(value)]
        return [round((int(t) - self.t0_ns) / 1e9, 2) for t in rows["ts_ns"]]

    def first(self, kind: str, **match: str) -> float | None:
        found = [t for t in self.at(kind, **match) if t >= 0]
        return min(found) if found else None

    def pods_on(self, node: str, prefix: str, *, before_s: float = 0.0) -> set[str]:
        """Pods (by name) seen on ``node`` before ``before_s``."""
        rows = self.events[(self.events["node"] == node) & self.events["name"].astype(str).str.startswith(prefix)
                           & (self.events["ts_ns"] < self.t0_ns + before_s * 1e9)]
        return set(rows["name"].astype(str))


def report(mode: str, timeline: Timeline, summary: dict[str, Any]) -> dict[str, Any]:
    """The measured node-failure timeline (printed for the record) from the run's events and summary."""
    victims = timeline.pods_on(FAILED_NODE, "nf-web")
    terminating = [t for name in victims for t in timeline.at("pod_terminating", name=name) if t >= 0]
    replaced = [t for t in timeline.at("pod_ready", node=HEALTHY_NODE, name="nf-web") if t >= 0]
    (recovery,) = [r for r in summary["recovery"] if r["kind"] == "node-failure"]
    out = {
        "mode": mode,
        "node_not_ready_s": timeline.first("node_not_ready", name=FAILED_NODE),
        "pods_not_ready_s": sorted(t for n in victims for t in timeline.at("pod_not_ready", name=n) if t >= 0),
        "evicted_s": sorted(terminating),
        "replacements_ready_s": sorted(replaced),
        "endpoints_removed_s": sorted(t for n in victims for t in timeline.at("endpoint_removed", name=n) if t >= 0),
        "node_ready_again_s": timeline.first("node_ready", name=FAILED_NODE),
        "clocks": {k: recovery.get(k) for k in ("replacement_ready_s", "endpoints_converged_s", "last_failure_s",
                                                "traffic_recovered_s", "failures")},
        "availability": {r["service_type"]: (r["requests"], r["ratio"]) for r in summary["availability"]
                         if r["phase"] == "chaos"},
        "notes": [n for n in summary["context"]["notes"] if "node-failure" in n],
    }
    print(f"\nnode-failure {mode} timeline: {json.dumps(out, indent=1)}")
    return out
