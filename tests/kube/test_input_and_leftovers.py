"""On a real cluster: bad input is exit 2 with nothing left (an unknown manifest field, a context the
kubeconfig lacks), a complete run leaves no marker file, and SIGKILLed runs leave nothing after
`chaoskit cleanup --backend kube`."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chaoskit.cluster.kube.api import KubeApi
from chaoskit.cluster.kube.cleanup import find_leftovers
from chaoskit.cluster.kube.config import load_configuration
from chaoskit.cluster.kube.markers import find_markers
from chaoskit.cluster.protocol import NotFoundError
from tests.kube.support import SESSION, kube_options, unique_namespace
from tests.support import children_of, reap_zombies

pytestmark = pytest.mark.kube
ROOT = Path(__file__).resolve().parents[2]
TRIALS = int(os.environ.get("CHAOSKIT_KUBE_SIGKILL_TRIALS", "3"))


def experiment_in(tmp_path: Path, namespace: str, *, bogus_field: bool = False) -> Path:
    """pod-recreate moved into ``namespace`` (nodePort allocated: earlier namespaces may still be going)."""
    manifest = (ROOT / "manifests" / "target.yaml").read_text().replace("chaoskit-demo", namespace)
    manifest = manifest.replace("      nodePort: 30080\n", "\n")
    if bogus_field:
        manifest = manifest.replace("          imagePullPolicy: IfNotPresent\n",
                                    "          imagePullPolicy: IfNotPresent\n          bogus: 1\n")
    (tmp_path / "target.yaml").write_text(manifest)
    experiment = tmp_path / f"{namespace}.yaml"
    experiment.write_text((ROOT / "experiments" / "pod-recreate.yaml").read_text()
                          .replace("../manifests/target.yaml", str(tmp_path / "target.yaml"))
                          .replace("namespace: chaoskit-demo", f"namespace: {namespace}"))
    return experiment


def chaoskit(*args: str, timeout_s: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chaoskit.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout_s, check=False)


def api_for(context: str) -> KubeApi:
    return KubeApi(load_configuration(kube_options(context, "unused")).configuration, request_timeout_s=30)


def namespace_gone(context: str, namespace: str) -> bool:
    api = api_for(context)
    try:
        api.request("GET", f"/api/v1/namespaces/{namespace}")
    except NotFoundError:
        return True
    finally:
        api.close()
    return False


def test_an_unknown_manifest_field_is_exit_2_and_nothing_is_left(kube_context: str, tmp_path: Path) -> None:
    namespace = unique_namespace("bogus")
    result = chaoskit("run", str(experiment_in(tmp_path, namespace, bogus_field=True)), "--backend", "kube",
                      "--context", kube_context, "--yes", "--create-namespace", "--out", str(tmp_path / "runs"))
    assert result.returncode == 2, result.stderr[-3000:]
    assert "bogus: field not declared in schema" in result.stderr
    assert "the manifest has a field its kind does not have" in result.stderr
    assert namespace_gone(kube_context, namespace)  # the one change made before the check, undone


def test_a_context_missing_from_the_kubeconfig_is_exit_2(kube_context: str, tmp_path: Path) -> None:
    missing = f"no-such-context-{SESSION}"
    result = chaoskit("run", "pod-recreate", "--backend", "kube", "--context", missing, "--yes",
                      "--out", str(tmp_path / "runs"), timeout_s=60)
    assert result.returncode == 2, result.stderr
    assert f"context '{missing}' is not in kubeconfig" in result.stderr
    assert kube_context in result.stderr  # the hint lists the contexts there
    assert not (tmp_path / "runs").exists()
    cleanup = chaoskit("cleanup", "--context", missing, "--yes", timeout_s=60)
    assert cleanup.returncode == 2, cleanup.stderr


def markers_on_nodes(context: str, host_path: str) -> dict[str, list[str]]:
    """node -> marker files in ``host_path`` there, looked at through a pod per node (hostPath outlives pods)."""
    namespace = unique_namespace("look")
    api = api_for(context)
    try:
        api.request("POST", "/api/v1/namespaces", body={"metadata": {"name": namespace}})
        nodes = [n["metadata"]["name"] for n in api.request("GET", "/api/v1/nodes")["items"]]
        for node in nodes:
            api.request("POST", f"/api/v1/namespaces/{namespace}/pods", body={
                "metadata": {"name": f"look-{node}"},
                "spec": {"nodeName": node, "restartPolicy": "Never", "terminationGracePeriodSeconds": 0,
                         "containers": [{"name": "look", "image": "httpd:2.4", "imagePullPolicy": "IfNotPresent",
                                         "command": ["sh", "-c", "sleep 300"],
                                         "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
                         "volumes": [{"name": "data", "hostPath": {"path": host_path,
                                                                   "type": "DirectoryOrCreate"}}]}})
        found = {}
        for node in nodes:
            deadline = time.monotonic() + 120
            while api.request("GET", f"/api/v1/namespaces/{namespace}/pods/look-{node}")["status"].get(
                    "phase") != "Running":
                assert time.monotonic() < deadline, f"the look pod on {node} never ran"
                time.sleep(0.5)
            found[node] = find_markers(api, namespace, f"look-{node}", "look", mount_paths=["/data"], run_id="",
                                       remove=False, timeout_s=30)
        return found
    finally:
        api.request("DELETE", f"/api/v1/namespaces/{namespace}")
        api.close()


@pytest.mark.slow
def test_a_complete_run_leaves_no_marker_file_even_in_hostpath(kube_context: str, tmp_path: Path) -> None:
    namespace = unique_namespace("markers")
    result = chaoskit("run", str(experiment_in(tmp_path, namespace)), "--backend", "kube", "--context",
                      kube_context, "--yes", "--create-namespace", "--out", str(tmp_path / "runs"), "--baseline",
                      "2s", "--chaos", "15s", "--recovery", "3s", "--json")
    assert result.returncode in (0, 1, 4), result.stderr[-3000:]  # a verdict, not an error
    summary = json.loads(result.stdout)
    assert [r for r in summary["data"] if r["volume_type"] == "hostPath"], "no hostPath marker was written"
    assert not [n for n in summary["context"]["notes"] if "marker" in n], summary["context"]["notes"]
    found = markers_on_nodes(kube_context, f"/var/lib/{namespace}/node-data")
    assert found and all(files == [] for files in found.values()), found


@pytest.mark.slow
@pytest.mark.usefixtures("orphan_reaper")
def test_sigkilled_runs_leave_nothing_after_cleanup(kube_context: str, tmp_path: Path) -> None:
    rng = random.Random(20261202)
    for trial in range(TRIALS):
        namespace = unique_namespace(f"kill{trial}")
        command = [sys.executable, "-m", "chaoskit.cli", "run", str(experiment_in(tmp_path, namespace)),
                   "--backend", "kube", "--context", kube_context, "--yes", "--create-namespace", "--out",
                   str(tmp_path / "runs"), "--baseline", "3s", "--chaos", "15s", "--recovery", "3s", "--quiet"]
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(rng.uniform(5.0, 35.0))  # setup, baseline or chaos (faults at 2, 8, 14 s into chaos)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        listed = chaoskit("cleanup", "--backend", "kube", "--context", kube_context, "--yes", "--dry-run")
        assert listed.returncode == 0, listed.stderr
        done = chaoskit("cleanup", "--backend", "kube", "--context", kube_context, "--yes")
        assert done.returncode == 0, done.stderr
        # The same files (which pod a hostPath marker is seen through may change between the two: pods churn).
        markers = sorted(line.rsplit("/", 1)[1] for line in listed.stdout.splitlines()
                         if line.startswith("would remove"))
        assert markers == sorted(line.rsplit("/", 1)[1] for line in done.stdout.splitlines()
                                 if line.startswith("removed"))
        again = chaoskit("cleanup", "--backend", "kube", "--context", kube_context, "--yes")
        assert again.stdout.startswith("nothing left behind"), again.stdout
        assert namespace_gone(kube_context, namespace)
        api = api_for(kube_context)
        try:
            left = find_leftovers(api, run_id=None)
        finally:
            api.close()
        assert (left.objects, left.nodes) == ([], [])
        deadline = time.monotonic() + 15
        while children_of(os.getpid()) and time.monotonic() < deadline:  # the load agent dies with its parent
            reap_zombies()
            time.sleep(0.1)
        assert children_of(os.getpid()) == []
    chaoskit("cleanup", "--out", str(tmp_path / "runs"))  # the local side: crashed run directories
    assert all((d / "summary.json").exists() or (d / ".incomplete").exists() for d in (tmp_path / "runs").iterdir())
