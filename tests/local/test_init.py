"""`chaoskit init --manifests`: a ready experiment for the embedded cluster, written into ./experiments, that
validates, is listed first by `chaoskit list`, and runs unchanged; every refusal is exit 2 and writes nothing."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chaoskit.cli.app import app
from chaoskit.kinds import load_experiment

pytestmark = pytest.mark.local
ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).parent / "experiments"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user's project: its own manifests folder, and the current directory."""
    (tmp_path / "deploy").mkdir()
    shutil.copy(ROOT / "manifests" / "target.yaml", tmp_path / "deploy" / "target.yaml")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def init(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["init", *args])
    return result.exit_code, result.stdout, result.stderr


def test_init_writes_a_commented_experiment_that_validates_and_is_listed_first(project: Path) -> None:
    code, out, err = init("--manifests", "deploy/target.yaml")
    assert code == 0, err
    written = project / "experiments" / "chaoskit-target.yaml"
    assert out.startswith(f"wrote {written}: Deployment chaoskit-target in deploy/target.yaml, 3 replica(s)")
    text = written.read_text()
    assert "manifests: [../deploy/target.yaml]" in text  # beside the user's code: both move together
    spec = load_experiment(written)
    assert spec.target.selector == {"app": "chaoskit-target"}
    assert [(s.name, [t.value for t in s.types], s.port) for s in spec.load.services] == [
        ("chaoskit-target", ["ClusterIP"], "http"), ("chaoskit-target-nodeport", ["ClusterIP", "NodePort"], "http")]
    assert spec.load.rate == 15  # 5 per replica
    assert [(f.kind, f.target.count) for f in spec.faults] == [("pod-delete", 1)]  # type: ignore[attr-defined]
    expect = {d.volume: (d.volume_type, d.expect.after_pod_replaced_same_node, d.expect.after_pod_replaced_other_node)
              for d in spec.data}
    assert expect == {"scratch": ("emptyDir", "lost", "lost"), "node-data": ("hostPath", "survives", "lost")}
    assert (spec.slo.availability, spec.slo.recovery) == (0.99, 30.0)
    assert "# scratch: emptyDir; an emptyDir is created with its pod and deleted with it" in text
    listing = CliRunner().invoke(app, ["list"])
    assert listing.stdout.index("chaoskit-target") < listing.stdout.index("pod-recreate")
    assert CliRunner().invoke(app, ["validate", "chaoskit-target"]).exit_code == 0


def test_an_existing_file_is_kept_unless_forced(project: Path) -> None:
    assert init("--manifests", "deploy/target.yaml", "--name", "mine")[0] == 0
    written = project / "experiments" / "mine.yaml"
    written.write_text("# my edits\n")
    code, _, err = init("--manifests", "deploy/target.yaml", "--name", "mine")
    assert code == 2
    assert err.splitlines() == [f"error: {written} exists",
                                "  hint: choose another --name, or pass --force to overwrite it"]
    assert written.read_text() == "# my edits\n"
    assert init("--manifests", "deploy/target.yaml", "--name", "mine", "--force")[0] == 0
    assert written.read_text().startswith("# A resilience experiment for Deployment chaoskit-target")


def test_a_single_replica_says_what_a_pod_fault_means(project: Path) -> None:
    shutil.copy(HERE / "single.manifest.yaml", project / "deploy" / "single.yaml")
    assert init("--manifests", "deploy/single.yaml")[0] == 0
    text = (project / "experiments" / "single.yaml").read_text()
    assert "delete of the only pod is an outage until its replacement is Ready" in text
    assert "availability: 85%" in text
    assert "path: /healthz" in text  # the readiness probe's path, on the port the Service loads


def test_a_port_discovery_cannot_choose_is_asked_for(project: Path) -> None:
    manifest = (HERE / "ports.manifest.yaml").read_text()
    (project / "deploy" / "ports.yaml").write_text(manifest.replace("name: http, port: 8000", "name: api, port: 8001"))
    code, _, err = init("--manifests", "deploy/ports.yaml", "--deployment", "ports-a")
    assert code == 2
    assert err.splitlines()[0] == ("error: --manifests: Service ports has 2 ports and none looks like HTTP; "
                                   "Service ports-headless has 2 ports and none looks like HTTP")
    assert "(for `chaoskit init`: --port NAME|NUMBER)" in err
    assert not (project / "experiments").exists()
    assert init("--manifests", "deploy/ports.yaml", "--deployment", "ports-a", "--port", "api")[0] == 0
    spec = load_experiment(project / "experiments" / "ports-a.yaml")
    assert {s.name: s.port for s in spec.load.services} == {"ports": "api", "ports-headless": "api"}


@pytest.mark.parametrize(("args", "message"), [
    (["--manifests", "deploy/ports.yaml"], "error: --manifests: 2 workloads fit; workloads there: Deployment ports-a, "
     "Deployment ports-b"),
    (["--manifests", "deploy/ports.yaml", "--statefulset", "db"], "error: --manifests: no workload fits"),
    (["--manifests", "deploy/missing.yaml"], "error: deploy/missing.yaml: no such manifest file or directory"),
    (["--namespace", "shop"], "error: say what to read: --namespace and one of --deployment, --statefulset"),
    (["--deployment", "web"], "error: say what to read: --namespace and one of --deployment, --statefulset"),
    (["-n", "shop", "--deployment", "a", "--selector", "app=a"], "error: give one of --deployment, --statefulset, "
     "--selector"),
    (["-n", "shop", "--selector", "app"], "error: --selector 'app': not key=value"),
    (["--manifests", "deploy/ports.yaml", "--name", "Bad_Name"], "error: --name 'Bad_Name': not a DNS label"),
])
def test_bad_input_is_exit_2_and_writes_nothing(project: Path, args: list[str], message: str) -> None:
    shutil.copy(HERE / "ports.manifest.yaml", project / "deploy" / "ports.yaml")
    code, _, err = init(*args)
    assert code == 2, err
    assert err.splitlines()[0].startswith(message), err
    assert "hint:" in err
    assert not (project / "experiments").exists()


@pytest.mark.slow
def test_the_written_experiment_runs_unchanged(project: Path) -> None:
    assert init("--manifests", "deploy/target.yaml")[0] == 0
    command = [sys.executable, "-m", "chaoskit.cli", "run", "chaoskit-target", "--json", "--baseline", "2s",
               "--chaos", "21s", "--recovery", "4s", "--out", str(project / "runs")]
    result = subprocess.run(command, cwd=project, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode in (0, 1, 4), result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert summary["experiment"] == "chaoskit-target"
    assert len(summary["recovery"]) == 2  # both pod deletes fired
    assert {row["volume"] for row in summary["data"]} == {"scratch", "node-data"}
    assert {r["service_type"] for r in summary["availability"]} >= {"ClusterIP", "NodePort"}
