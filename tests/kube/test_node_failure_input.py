"""Bad input on a real cluster, refused (exit 2, the reason and a hint) before anything changes: node-failure without
the opt-in or on a protected node, data checks that cannot hold (a PVC check on an emptyDir, a StatefulSet without
claim templates). And `--dry-run` lists the node agent a node-failure would start, creating nothing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from chaoskit.cluster.kube.nodefail import AGENT_NAME
from tests.kube.nodefail_support import HEALTHY_NODE, MANIFESTS, admin, chaoskit, experiment

pytestmark = pytest.mark.kube


def cluster_state(context: str) -> tuple[set[str], set[str]]:
    """The namespaces and the node-agent pods that exist now."""
    api = admin(context)
    try:
        names = {n["metadata"]["name"] for n in api.request("GET", "/api/v1/namespaces")["items"]}
        agents = api.request("GET", "/api/v1/pods", query=[("labelSelector", f"app.kubernetes.io/name={AGENT_NAME}")])
    finally:
        api.close()
    return names, {p["metadata"]["uid"] for p in agents["items"]}


@contextmanager
def creates_nothing(context: str, namespace: str) -> Iterator[None]:
    """Compared with the cluster before the block: no run namespace, no chaoskit-system, no node agent (what an
    earlier test left behind is that test's failure, not this one's)."""
    names_before, agents_before = cluster_state(context)
    yield
    names, agents = cluster_state(context)
    assert namespace not in names
    assert "chaoskit-system" not in names - names_before
    assert agents <= agents_before


def run(context: str, path: Path, *extra: str) -> tuple[int, str, str]:
    result = chaoskit("run", str(path), "--backend", "kube", "--context", context, "--yes", "--create-namespace",
                      "--load-from", "local", "--out", str(path.parent / "runs"), *extra, timeout_s=180)
    return result.returncode, result.stdout, result.stderr


def test_node_failure_without_the_opt_in_changes_nothing(kube_context: str, tmp_path: Path) -> None:
    path, namespace = experiment(tmp_path, "stop", extra="", name="nf-noflag")
    with creates_nothing(kube_context, namespace):
        code, _out, err = run(kube_context, path)
    assert code == 2, err
    assert "fails a node without a drain; that needs --allow-node-failure" in err and "hint:" in err


def test_node_failure_of_the_node_chaoskit_runs_on_is_refused(kube_context: str, tmp_path: Path) -> None:
    path, namespace = experiment(tmp_path, "stop", extra="", name="nf-protected")
    path.write_text(path.read_text().replace("node: chaoskit-node-2", f"node: {HEALTHY_NODE}"))
    with creates_nothing(kube_context, namespace):
        code, _out, err = run(kube_context, path, "--allow-node-failure")
    assert code == 2, err
    # The test bed's node 1 is this host: failing it would freeze the node chaoskit measures from.
    assert f"node-failure: node {HEALTHY_NODE} runs chaoskit (this host has its address" in err, err


def test_dry_run_lists_the_node_agent_and_creates_nothing(kube_context: str, tmp_path: Path) -> None:
    path, namespace = experiment(tmp_path, "partition", extra="", name="nf-dry")
    with creates_nothing(kube_context, namespace):
        code, out, err = run(kube_context, path, "--allow-node-failure", "--dry-run")
    assert code == 0, err
    assert f"node-failure (partition): per firing, pod chaoskit-system/{AGENT_NAME}-<run id>-<n>" in out, out
    assert "privileged, hostPID, hostNetwork" in out and "restores it on its own timer" in out


@pytest.mark.parametrize(("change", "message"), [
    (("  - volume: scratch\n    volume_type: emptyDir", "  - volume: scratch\n    volume_type: persistentVolumeClaim"),
     "volume 'scratch' is an emptyDir, not a persistentVolumeClaim"),
    (("    volume_type: emptyDir", "    volume_type: persistentVolumeClaim"), None),
])
def test_data_checks_that_cannot_hold_are_refused_on_kube_too(kube_context: str, tmp_path: Path,
                                                              change: tuple[str, str], message: str | None) -> None:
    path, namespace = experiment(tmp_path, "stop", extra="", name="nf-badcheck")
    text = path.read_text().replace(*change)
    if message is None:  # a StatefulSet whose pods mount `data` but that has no volumeClaimTemplates
        stateful = (MANIFESTS / "nf-db.yaml").read_text().split("  volumeClaimTemplates:")[0]
        (tmp_path / "db.yaml").write_text(stateful)
        db = tmp_path / "db.yaml"
        text = text.replace('"]\n  selector: {app: nf-web}', f'", "{db}"]\n  selector: {{app: nf-db}}')
        text = text.replace("replicas: 4", "replicas: 1").replace("volume: scratch", "volume: data")
        message = "StatefulSet 'nf-db' has no volumeClaimTemplates (and no volume of that name)"
    path.write_text(text)
    with creates_nothing(kube_context, namespace):
        code, _out, err = run(kube_context, path, "--allow-node-failure")
    assert code == 2, err
    assert message in err and "hint:" in err, err
