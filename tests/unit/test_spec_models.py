"""The Experiment model's helpers and defaults: fault instants, overrides, picks, immutability."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from chaoskit.cluster.protocol import ServiceKind
from chaoskit.experiment import NODE_OF_VICTIM, NodePick, PodPick, Schedule, SpecError
from chaoskit.faults.container_restart import ContainerRestart
from chaoskit.faults.node_drain import NodeDrain
from chaoskit.faults.pod_delete import PodDelete
from tests.unit.test_spec_helpers import EXPERIMENT, edit, load

pytestmark = pytest.mark.unit

TWO_FAULTS = EXPERIMENT.replace(
    "data:",
    "  - kind: node-drain\n    name: drain\n    schedule: {at: 2s, every: 4s, times: 2}\n    node: worker-2\ndata:",
)


def test_values_are_typed_once(tmp_path: Path) -> None:
    exp = load(EXPERIMENT, tmp_path)
    assert (exp.phases.baseline, exp.phases.chaos, exp.phases.recovery) == (1.0, 10.0, 2.0)
    assert exp.load.timeout == 2.0 and exp.load.connection == "new-connection" and exp.load.from_ == "auto"
    assert exp.load.services[1].types == [ServiceKind.NODE_PORT]
    assert exp.slo.availability == pytest.approx(0.99) and exp.slo.data is True
    assert exp.target.manifests == [tmp_path.resolve() / "target.yaml"]
    assert exp.data[0].expect.after_pod_replaced_same_node == "lost"
    assert exp.data[0].expect.after_pod_replaced_other_node == "any"


def test_fault_defaults(tmp_path: Path) -> None:
    fault = load(EXPERIMENT, tmp_path).faults[0]
    assert isinstance(fault, PodDelete)
    assert fault.name == "pod-delete-0"
    assert fault.grace is None
    assert fault.target == PodPick(count=1, percent=None, selector=None, pick="random")


def test_fault_instants_are_sorted_across_faults(tmp_path: Path) -> None:
    exp = load(TWO_FAULTS, tmp_path)
    assert [(t, f.name) for t, f in exp.fault_instants()] == [
        (1.0, "pod-delete-0"),
        (2.0, "drain"),
        (3.0, "pod-delete-0"),
        (5.0, "pod-delete-0"),
        (6.0, "drain"),
    ]
    assert exp.total_duration_s == 13.0


def test_node_pick_shorthand_and_default(tmp_path: Path) -> None:
    drain = load(TWO_FAULTS, tmp_path).faults[1]
    assert isinstance(drain, NodeDrain)
    assert drain.node == NodePick(name="worker-2") and not drain.node.of_victim
    assert drain.timeout == 60.0
    assert NodePick().of_victim and NodePick().name == NODE_OF_VICTIM


def test_selector_for_falls_back_to_the_target(tmp_path: Path) -> None:
    exp = load(TWO_FAULTS, tmp_path)
    assert exp.selector_for(exp.faults[0]) == {"app": "demo"}
    own = ContainerRestart(kind="container-restart", target=PodPick(selector={"tier": "web"}))
    assert exp.selector_for(own) == {"tier": "web"}


def test_with_overrides_returns_a_new_validated_experiment(tmp_path: Path) -> None:
    exp = load(EXPERIMENT, tmp_path)
    short = exp.with_overrides(baseline=0.5, chaos=6.0, recovery=1.0, rate=25.0)
    assert (short.phases.baseline, short.phases.chaos, short.phases.recovery) == (0.5, 6.0, 1.0)
    assert short.load.rate == 25.0 and short.total_duration_s == 7.5
    assert short.faults == exp.faults and short.data == exp.data
    assert exp.phases.chaos == 10.0  # the original is untouched


def test_with_overrides_revalidates(tmp_path: Path) -> None:
    exp = load(EXPERIMENT, tmp_path)
    with pytest.raises(SpecError) as info:
        exp.with_overrides(chaos=4.0, rate=-1.0)
    messages = [i.message for i in info.value.issues]
    assert messages == [
        "load.rate: Input should be greater than or equal to 0.01",
        "faults[0].schedule: fault fires at 5 s after chaos starts, but the chaos phase lasts only 4 s",
    ]
    assert info.value.issues[0].file == "overrides"


def test_models_are_frozen_and_closed(tmp_path: Path) -> None:
    exp = load(EXPERIMENT, tmp_path)
    with pytest.raises(ValidationError, match="frozen"):
        exp.phases.chaos = 1.0  # type: ignore[misc]
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        Schedule.model_validate({"at": "1s", "when": "now"})


def test_dump_and_revalidate_round_trips(tmp_path: Path) -> None:
    exp = load(TWO_FAULTS, tmp_path)
    again = type(exp).model_validate(exp.model_dump(by_alias=True))
    assert again == exp
    assert "from" in exp.model_dump(by_alias=True)["load"]


@pytest.mark.parametrize(
    ("pick", "matching", "victims"),
    [
        (PodPick(), 3, 1),
        (PodPick(count=2), 3, 2),
        (PodPick(count=5), 3, 3),
        (PodPick(percent=0.5), 3, 2),
        (PodPick(percent=0.34), 3, 2),
        (PodPick(percent=0.01), 3, 1),
        (PodPick(percent=1.0), 4, 4),
        (PodPick(count=1), 0, 0),
    ],
)
def test_victims(pick: PodPick, matching: int, victims: int) -> None:
    assert pick.victims(matching) == victims


def test_percent_pick_from_yaml(tmp_path: Path) -> None:
    text = edit("    schedule: {at: 1s", "    target: {percent: 50%, pick: oldest}\n    schedule: {at: 1s")
    fault = load(text, tmp_path).faults[0]
    assert isinstance(fault, PodDelete)
    assert (fault.target.count, fault.target.percent, fault.target.pick) == (None, 0.5, "oldest")


def test_no_fault_control_run_is_valid(tmp_path: Path) -> None:
    text = edit("faults:\n  - kind: pod-delete\n    schedule: {at: 1s, every: 2s, times: 3}\n", "")
    exp = load(text, tmp_path)
    assert exp.faults == [] and exp.fault_instants() == []


def test_summary_is_the_first_line(tmp_path: Path) -> None:
    text = edit("description: A demo experiment.", "description: |\n  First line.\n  More detail.")
    assert load(text, tmp_path).summary == "First line."
