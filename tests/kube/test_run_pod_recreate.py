"""End to end on a real cluster: `chaoskit run pod-recreate --backend kube` and what it must have measured."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.kube, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def test_pod_recreate_on_a_real_cluster(kube_context: str, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "chaoskit.cli", "run", "pod-recreate", "--backend", "kube",
               "--context", kube_context, "--yes", "--create-namespace", "--baseline", "3s", "--chaos", "15s",
               "--recovery", "5s", "--out", str(tmp_path), "--json"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    # 0 = SLOs held, 1 = an SLO was violated: both are measurements. Anything else is a broken run.
    assert result.returncode in (0, 1), result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert summary["backend"] == "kube"
    assert not summary["aborted"]
    # Real pods were deleted and recreated with new IPs.
    assert len(summary["recovery"]) == 3
    assert summary["churn"]["pods_created"] >= 3
    assert summary["churn"]["reused_ip_count"] == 0
    # Real ClusterIP and NodePort traffic went through kube-proxy and was mostly served.
    overall = {row["service_type"]: row for row in summary["availability"] if row["phase"] == "all"}
    for service_type in ("ClusterIP", "NodePort"):
        assert overall[service_type]["requests"] > 0
        assert overall[service_type]["ratio"] > 0.9
    # emptyDir markers are lost with the pod; hostPath markers stay on the node (a single node: same node).
    data = summary["data"]
    assert data, "no data check ran"
    assert {r["survived"] for r in data if r["volume_type"] == "emptyDir"} == {False}
    assert {r["survived"] for r in data if r["volume_type"] == "hostPath" and r["placement"] == "same-node"} == {True}
    run_dir = next(tmp_path.iterdir())
    for name in ("requests.parquet", "events.parquet", "report.md", "summary.json"):
        assert (run_dir / name).is_file()
