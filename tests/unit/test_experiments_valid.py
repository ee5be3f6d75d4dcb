"""Every shipped experiment in experiments/ validates, against the models and against the JSON schema."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
from ruamel.yaml import YAML

from chaoskit.cluster.protocol import ServiceKind
from chaoskit.faults.container_restart import ContainerRestart
from chaoskit.faults.node_drain import NodeDrain
from chaoskit.faults.pod_delete import PodDelete
from chaoskit.faults.pod_kill import PodKill
from chaoskit.kinds import load_experiment
from chaoskit.kinds import schema as json_schema

pytestmark = pytest.mark.unit

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
FILES = sorted(EXPERIMENTS.glob("*.yaml"))


def test_the_four_experiments_are_shipped() -> None:
    assert {p.stem for p in FILES} >= {"pod-recreate", "pod-kill", "container-restart", "node-drain"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_experiment_validates(path: Path) -> None:
    exp = load_experiment(path)
    assert exp.name == path.stem
    assert len(exp.faults) >= 1 and exp.fault_instants()
    assert all(m.is_file() for m in exp.target.manifests)
    # The description says what to expect: a summary line plus at least one line of explanation.
    lines = exp.description.strip().splitlines()
    assert len(lines) >= 2 and "Expected" in exp.description


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_experiment_matches_the_json_schema(path: Path) -> None:
    document = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))
    jsonschema.validate(document, json_schema())


def test_the_json_schema_rejects_what_the_models_reject() -> None:
    document = YAML(typ="safe", pure=True).load((EXPERIMENTS / "pod-recreate.yaml").read_text(encoding="utf-8"))
    document["phases"]["pause"] = "1s"
    with pytest.raises(jsonschema.ValidationError, match="pause"):
        jsonschema.validate(document, json_schema())


def test_pod_recreate_is_the_front_door() -> None:
    exp = load_experiment(EXPERIMENTS / "pod-recreate.yaml")
    assert (exp.phases.baseline, exp.phases.chaos, exp.phases.recovery) == (5.0, 20.0, 8.0)
    assert exp.load.rate == 50 and exp.load.connection == "new-connection"
    assert [(s.name, s.types) for s in exp.load.services] == [
        ("chaoskit-target", [ServiceKind.CLUSTER_IP]),
        ("chaoskit-target-nodeport", [ServiceKind.NODE_PORT]),
    ]
    assert [(t, type(f)) for t, f in exp.fault_instants()] == [(2.0, PodDelete), (8.0, PodDelete), (14.0, PodDelete)]
    expect = {d.volume: d.expect for d in exp.data}
    assert expect["scratch"].after_pod_replaced_same_node == "lost"
    assert expect["scratch"].after_pod_replaced_other_node == "lost"
    assert expect["node-data"].after_pod_replaced_same_node == "survives"
    assert expect["node-data"].after_pod_replaced_other_node == "lost"
    assert (exp.slo.availability, exp.slo.recovery, exp.slo.data) == (pytest.approx(0.99), 10.0, True)


def test_each_experiment_uses_its_fault_kind() -> None:
    kinds = {p.stem: type(load_experiment(p).faults[0]) for p in FILES}
    assert kinds["pod-kill"] is PodKill
    assert kinds["container-restart"] is ContainerRestart
    assert kinds["node-drain"] is NodeDrain
    drain = load_experiment(EXPERIMENTS / "node-drain.yaml").faults[0]
    assert isinstance(drain, NodeDrain) and drain.node.of_victim
    restart = load_experiment(EXPERIMENTS / "container-restart.yaml")
    assert all(d.expect.after_container_restart == "survives" for d in restart.data)


def test_the_statefulset_experiments_cover_every_fault_kind_and_volume_type() -> None:
    data = load_experiment(EXPERIMENTS / "statefulset-data.yaml")
    failure = load_experiment(EXPERIMENTS / "statefulset-node-failure.yaml")
    assert [f.kind for _, f in data.fault_instants()] + [f.kind for _, f in failure.fault_instants()] == [
        "container-restart", "pod-delete", "pod-kill", "node-drain", "node-failure"]
    for exp in (data, failure):
        assert {d.volume: d.volume_type for d in exp.data} == {
            "data": "persistentVolumeClaim", "scratch": "emptyDir", "node-data": "hostPath"}
        expect = {d.volume: d.expect for d in exp.data}
        assert (expect["data"].after_pod_replaced_same_node, expect["data"].after_pod_replaced_other_node) == (
            "survives", "survives")
        assert exp.total_duration_s <= 40
    assert failure.target.cluster.node_monitor_grace == 3.0
