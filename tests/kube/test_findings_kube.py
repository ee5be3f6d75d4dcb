"""Findings before and after on a real cluster: the flaw's finding with evidence that matches the saved tables,
then the same experiment with the finding's YAML merged into the manifest, and the finding gone.

On kube only the control plane is observed: the shutdown race's window runs to the EndpointSlice removal plus
the allowance the rule states (shutdown_race.CONTROL_PLANE_ALLOWANCE_S).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from chaoskit.analysis.findings.shutdown_race import CONTROL_PLANE_ALLOWANCE_S
from chaoskit.analysis.findings.snippets import merge
from tests.kube.test_run_node_drain import nodes
from tests.local.findings_support import deleted_at

pytestmark = [pytest.mark.kube, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).parent
CONNECT = ("refused", "reset", "connect_timeout")


def _run(context: str, experiment: Path | str, out: Path) -> tuple[dict[str, Any], Path]:
    command = [sys.executable, "-m", "chaoskit.cli", "run", str(experiment), "--backend", "kube", "--context",
               context, "--yes", "--create-namespace", "--out", str(out), "--json"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode in (0, 1, 4), result.stderr[-3000:]
    return json.loads(result.stdout), next(out.iterdir())


def _changed(experiment: Path, snippet: str, folder: Path, edits: dict[str, Any] | None = None) -> Path:
    """A copy of ``experiment`` whose manifests have ``snippet`` merged in (by kind and name)."""
    spec = yaml.safe_load(experiment.read_text())
    documents = []
    for path in spec["target"]["manifests"]:
        documents += [d for d in yaml.safe_load_all((experiment.parent / path).read_text()) if d]
    for patch in (p for p in yaml.safe_load_all(snippet) if p):
        key = (patch["kind"], patch["metadata"]["name"])
        index = next((i for i, d in enumerate(documents) if (d["kind"], d["metadata"]["name"]) == key), None)
        if index is None:
            documents.append({**patch, "metadata": {**patch["metadata"],
                                                    "namespace": spec["target"]["namespace"]}})
        else:
            documents[index] = merge(documents[index], patch)
    manifest = folder / f"{experiment.stem}.changed.manifest.yaml"
    manifest.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    spec["target"]["manifests"] = [str(manifest)]
    spec.update(edits or {})
    changed = folder / f"{experiment.stem}.changed.yaml"
    changed.write_text(yaml.safe_dump(spec, sort_keys=False))
    return changed


def _finding(summary: dict[str, Any], rule: str) -> dict[str, Any] | None:
    found = [f for f in summary["findings"] if f["rule"] == rule]
    assert len(found) <= 1
    return found[0] if found else None


def _race_failures(run_dir: Path) -> pd.DataFrame:
    """Connection failures that started between a pod's termination and its EndpointSlice removal plus the
    allowance: recomputed from the saved tables."""
    requests, events = pd.read_parquet(run_dir / "requests.parquet"), pd.read_parquet(run_dir / "events.parquet")
    bad = requests.loc[~requests["ok"] & requests["outcome"].astype(str).isin(CONNECT)]
    mask = pd.Series(False, index=bad.index)
    removed = events.loc[events["kind"] == "endpoint_removed"]
    last_phase_end = events.loc[events["kind"] == "phase", "ts_ns"].max()
    for term in events.loc[(events["kind"] == "pod_terminating") & (events["ts_ns"] < last_phase_end)].itertuples():
        gone = removed.loc[removed["ip"] == term.ip, "ts_ns"]
        end = max(int(gone.min()) if len(gone) else term.ts_ns, term.ts_ns) + int(CONTROL_PLANE_ALLOWANCE_S * 1e9)
        mask |= (bad["start_ns"] >= deleted_at(events, str(term.name), int(term.ts_ns))) & (bad["start_ns"] <= end)
    return bad.loc[mask]


def test_shutdown_race_on_a_real_cluster_then_gone_with_the_prestop_sleep(kube_context: str,
                                                                          tmp_path: Path) -> None:
    builtin = ROOT / "experiments" / "pod-recreate.yaml"
    before, run_dir = _run(kube_context, builtin, tmp_path / "before")
    raced = _race_failures(run_dir)
    race = _finding(before, "shutdown-race")
    if raced.empty:
        assert race is None
        pytest.skip("no connection failed after a graceful delete in this run: nothing to explain")
    assert race is not None, before["findings"]
    assert race["evidence"]["failures"] == len(raced)
    assert "not observable" in race["confidence_basis"]
    assert race["evidence"]["measured"]["pre_stop_sleep_s"] == 0.0

    after, after_dir = _run(kube_context, _changed(builtin, race["snippet"], tmp_path), tmp_path / "after")
    assert _finding(after, "shutdown-race") is None
    assert _race_failures(after_dir).empty


def test_maintenance_on_two_nodes_then_with_a_budget_and_with_a_spread(kube_context: str, tmp_path: Path) -> None:
    names = sorted(n["metadata"]["name"] for n in nodes(kube_context))
    if len(names) < 2:
        pytest.skip("the maintenance scenario needs two nodes (the test bed has two)")
    experiment = tmp_path / "maintenance.yaml"
    manifest = yaml.safe_load_all((HERE.parent / "local" / "experiments" / "maintenance.manifest.yaml").read_text())
    documents = [d for d in manifest if d]
    container = documents[0]["spec"]["template"]["spec"]["containers"][0]
    container.update(image="httpd:2.4", ports=[{"containerPort": 80}],
                     readinessProbe={"httpGet": {"path": "/", "port": 80}, "periodSeconds": 1})
    documents[1]["spec"]["ports"] = [{"port": 80, "targetPort": 80}]
    (tmp_path / "maintenance.manifest.yaml").write_text(yaml.safe_dump_all(documents, sort_keys=False))
    spec = yaml.safe_load((HERE.parent / "local" / "experiments" / "maintenance.yaml").read_text())
    spec["target"]["namespace"] = "chaoskit-demo"
    spec["faults"][0]["node"] = names[-1]
    spec["phases"] = {"baseline": "3s", "chaos": "20s", "recovery": "10s"}
    spec["faults"][0].update(uncordon_after="6s", schedule={"at": "1s"})
    spec["faults"][1].update(uncordon_after="6s", schedule={"at": "10s"})
    experiment.write_text(yaml.safe_dump(spec, sort_keys=False))

    before, _ = _run(kube_context, experiment, tmp_path / "before")
    drain, together = _finding(before, "drain-unprotected"), _finding(before, "replicas-colocated")
    assert drain is not None and together is not None, before["findings"]
    assert drain["evidence"]["faults"] == together["evidence"]["faults"] == ["second-node#1"]

    budgeted, _ = _run(kube_context, _changed(experiment, drain["snippet"], tmp_path), tmp_path / "budget")
    assert _finding(budgeted, "drain-unprotected") is None
    spread, _ = _run(kube_context, _changed(experiment, together["snippet"], tmp_path), tmp_path / "spread")
    assert _finding(spread, "replicas-colocated") is None and _finding(spread, "drain-unprotected") is None
