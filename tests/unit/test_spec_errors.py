"""One test per spec error message: the message, its hint, and the file:line:column it points at."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaoskit.experiment import SpecError, SpecIssue
from chaoskit.kinds import load_experiment
from tests.unit.test_spec_helpers import EXPERIMENT, edit, errors, load, where, write_manifest

pytestmark = pytest.mark.unit


def only(err: SpecError) -> SpecIssue:
    assert len(err.issues) == 1, [str(i) for i in err.issues]
    return err.issues[0]


def test_the_fixture_experiment_is_valid(tmp_path: Path) -> None:
    assert load(EXPERIMENT, tmp_path).name == "demo"


def test_unknown_key_lists_allowed_keys_and_suggests_the_closest(tmp_path: Path) -> None:
    text = edit("  rate: 10\n", "  rate: 10\n  conection: keepalive\n")
    issue = only(errors(text, tmp_path))
    assert issue.message == "load: unknown key 'conection'"
    assert "did you mean 'connection'?" in issue.hint
    assert "allowed keys: rate, connection, timeout, path, from, workers, services" in issue.hint
    assert (issue.line, issue.column) == where(text, "conection")


def test_wrong_type_points_at_the_value(tmp_path: Path) -> None:
    text = edit("rate: 10", "rate: [10]")
    issue = only(errors(text, tmp_path))
    assert issue.message.startswith("load.rate: Input should be a valid number")
    assert (issue.line, issue.column) == where(text, "[10]")


def test_bad_duration_says_what_is_accepted(tmp_path: Path) -> None:
    text = edit("baseline: 1s", "baseline: 1sec")
    issue = only(errors(text, tmp_path))
    assert issue.message == 'phases.baseline: invalid duration "1sec"'
    assert '"500ms"' in issue.hint
    assert (issue.line, issue.column) == where(text, "1sec")


def test_zero_phase_is_rejected(tmp_path: Path) -> None:
    text = edit("recovery: 2s", "recovery: 0s")
    issue = only(errors(text, tmp_path))
    assert issue.message == "phases.recovery: Input should be greater than 0"
    assert (issue.line, issue.column) == where(text, "recovery: 0s", skip=len("recovery: "))


def test_bad_percent_says_how_to_write_one(tmp_path: Path) -> None:
    text = edit("availability: 99%", "availability: 99")
    issue = only(errors(text, tmp_path))
    assert issue.message == "slo.availability: percent out of range: 99 (must be 0%..100%)"
    assert '"99.9%"' in issue.hint
    assert (issue.line, issue.column) == where(text, "availability: 99", skip=len("availability: "))


def test_count_and_percent_together_is_an_error(tmp_path: Path) -> None:
    text = edit("    schedule: {at: 1s", "    target: {count: 1, percent: 50%}\n    schedule: {at: 1s")
    issue = only(errors(text, tmp_path))
    assert issue.message == "faults[0].target: both count and percent are set"
    assert "choose one" in issue.hint
    assert (issue.line, issue.column) == where(text, "{count")


def test_schedule_past_the_chaos_phase_is_an_error(tmp_path: Path) -> None:
    # Fires at 1, 3, 5 s: the last firing is not inside a 5 s chaos phase.
    text = edit("chaos: 10s", "chaos: 5s")
    issue = only(errors(text, tmp_path))
    assert issue.message == (
        "faults[0].schedule: fault fires at 5 s after chaos starts, but the chaos phase lasts only 5 s"
    )
    assert "at + every * (times - 1) < phases.chaos" in issue.hint
    assert (issue.line, issue.column) == where(text, "{at: 1s")


def test_repeated_schedule_needs_an_interval(tmp_path: Path) -> None:
    text = edit("{at: 1s, every: 2s, times: 3}", "{at: 1s, times: 3}")
    issue = only(errors(text, tmp_path))
    assert issue.message == "faults[0].schedule: times is 3 but every is not set"
    assert "every: 5s" in issue.hint


def test_missing_manifest_is_located_at_its_list_item(tmp_path: Path) -> None:
    text = edit("manifests: [target.yaml]", "manifests: [target.yaml, gone.yaml]")
    issue = only(errors(text, tmp_path))
    assert issue.message == f"target.manifests[1]: manifest file not found: {tmp_path / 'gone.yaml'}"
    assert "relative to the experiment file" in issue.hint
    assert (issue.line, issue.column) == where(text, "gone.yaml")


def test_yaml_syntax_error_has_a_position(tmp_path: Path) -> None:
    text = edit("  rate: 10\n", "  rate: 10\n   oops: [\n")
    issue = only(errors(text, tmp_path))
    assert issue.message.startswith("YAML syntax error:")
    assert issue.line == where(text, "oops")[0]
    assert issue.column is not None


def test_duplicate_key_is_a_yaml_error(tmp_path: Path) -> None:
    text = EXPERIMENT + "name: again\n"
    issue = only(errors(text, tmp_path))
    assert "duplicate key" in issue.message
    assert "once per mapping" in issue.hint
    assert issue.line == where(text, "name: again")[0]


def test_unknown_fault_kind_suggests_the_closest(tmp_path: Path) -> None:
    text = edit("kind: pod-delete", "kind: pod-delet")
    issue = only(errors(text, tmp_path))
    assert issue.message == "faults[0]: unknown kind 'pod-delet'"
    assert issue.hint.startswith("did you mean 'pod-delete'?")
    assert "pod-kill, container-restart, node-drain" in issue.hint
    assert (issue.line, issue.column) == where(text, "kind: pod-delet")


def test_fault_without_kind(tmp_path: Path) -> None:
    text = edit("  - kind: pod-delete\n    schedule", "  - schedule")
    issue = only(errors(text, tmp_path))
    assert issue.message == "faults[0]: missing 'kind'"
    assert "kind must be one of: pod-delete" in issue.hint


def test_missing_required_key_points_at_its_parent(tmp_path: Path) -> None:
    text = edit("  recovery: 2s\n", "")
    issue = only(errors(text, tmp_path))
    assert issue.message == "phases: missing required key 'recovery'"
    assert (issue.line, issue.column) == where(text, "phases:")


def test_literal_choice_suggests_the_closest(tmp_path: Path) -> None:
    text = edit("rate: 10\n", "rate: 10\n  connection: keep-alive\n")
    issue = only(errors(text, tmp_path))
    assert issue.message == "load.connection: Input should be 'keepalive' or 'new-connection'"
    assert issue.hint == "did you mean 'keepalive'?"


def test_name_must_be_a_dns_label(tmp_path: Path) -> None:
    text = edit("name: demo\ndesc", "name: Demo_1\ndesc")
    issue = only(errors(text, tmp_path))
    assert issue.message.startswith("name: String should match pattern")
    assert "lowercase letters, digits and '-'" in issue.hint
    assert (issue.line, issue.column) == where(text, "Demo_1")


def test_duplicate_fault_names(tmp_path: Path) -> None:
    text = EXPERIMENT.replace("data:", "  - kind: pod-kill\n    name: pod-delete-0\ndata:")
    issue = only(errors(text, tmp_path))
    assert issue.message == "faults[1].name: fault name pod-delete-0 is used twice"
    assert (issue.line, issue.column) == where(text, "pod-delete-0")


def test_several_errors_are_reported_at_once_in_file_order(tmp_path: Path) -> None:
    text = edit("rate: 10", "rate: -1")
    text = edit("baseline: 1s", "baseline: soon", text)
    text = edit("  selector: {app: demo}\n", "  selector: {app: demo}\n  replica: 3\n", text)
    text = edit("availability: 99%", "availability: 2", text)
    err = errors(text, tmp_path)
    found = [(i.line, i.column, i.message.split(":")[0]) for i in err.issues]
    assert found == [
        (*where(text, "replica:"), "target"),
        (*where(text, "-1"), "load.rate"),
        (*where(text, "soon"), "phases.baseline"),
        (*where(text, "availability: 2", skip=len("availability: ")), "slo.availability"),
    ]
    assert str(err).splitlines()[0].startswith(f"{tmp_path / 'exp.yaml'}:{found[0][0]}:{found[0][1]}: ")


def test_volume_must_exist_in_the_pod_template(tmp_path: Path) -> None:
    text = edit("volume: scratch", "volume: scrach")
    issue = only(errors(text, tmp_path))
    assert issue.message == "data[0].volume: volume 'scrach' is not in the target's pod template"
    assert issue.hint == "volumes there: node-data, scratch"
    assert (issue.line, issue.column) == where(text, "scrach")


def test_container_must_exist_in_the_pod_template(tmp_path: Path) -> None:
    text = edit("kind: pod-delete", "kind: container-restart\n    container: webb")
    issue = only(errors(text, tmp_path))
    assert issue.message == "faults[0].container: container 'webb' is not in the target's pod template"
    assert issue.hint == "containers there: sidecar, web"
    assert (issue.line, issue.column) == where(text, "webb")


def test_loaded_service_must_be_in_the_manifests(tmp_path: Path) -> None:
    text = edit("- name: demo-np", "- name: demo-nodeport")
    issue = only(errors(text, tmp_path))
    assert issue.message == "load.services[1].name: Service 'demo-nodeport' is not defined in the manifests"
    assert issue.hint == "Services there: demo, demo-headless, demo-np"


@pytest.mark.parametrize(
    ("service", "kind", "message"),
    [
        ("demo", "NodePort", "Service 'demo' is ClusterIP, it cannot be reached as NodePort"),
        ("demo-headless", "ClusterIP", "Service 'demo-headless' is headless, it cannot be reached as ClusterIP"),
        ("demo", "Headless", "Service 'demo' is ClusterIP, it cannot be reached as Headless"),
    ],
)
def test_service_type_must_fit_the_service(tmp_path: Path, service: str, kind: str, message: str) -> None:
    text = edit("    - name: demo\n      types: [ClusterIP]", f"    - name: {service}\n      types: [{kind}]")
    issue = only(errors(text, tmp_path))
    assert issue.message == f"load.services[0].types[0]: {message}"
    assert (issue.line, issue.column) == where(text, f"[{kind}]", skip=1)


def test_headless_and_nodeport_services_validate(tmp_path: Path) -> None:
    text = edit("    - name: demo\n      types: [ClusterIP]", "    - name: demo-headless\n      types: [Headless]")
    text = edit("types: [NodePort]", "types: [NodePort, ClusterIP]", text)
    assert load(text, tmp_path).load.services[0].types[0].value == "Headless"


def test_selector_must_match_a_pod_template(tmp_path: Path) -> None:
    text = edit("selector: {app: demo}", "selector: {app: other}")
    issue = only(errors(text, tmp_path))
    assert issue.message == "target.selector: no pod template in the manifests has labels app=other"
    assert issue.hint == "pod templates found: demo (app=demo,tier=web)"


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    for text, got in (("", "an empty document"), ("- a\n", "a list"), ("hello\n", "a scalar")):
        issue = only(errors(text, tmp_path))
        assert issue.message == f"an experiment must be a mapping, got {got}"
        assert (issue.line, issue.column) == (1, 1)


def test_unreadable_file_has_no_position(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        load_experiment(tmp_path / "absent.yaml")
    issue = only(info.value)
    assert (issue.line, issue.column) == (None, None)
    assert issue.message.startswith("cannot read:")


def test_issue_text_format() -> None:
    issue = SpecIssue("a.yaml", 3, 5, "load.rate: bad", "use a number")
    assert str(issue) == "a.yaml:3:5: load.rate: bad (hint: use a number)"
    assert str(SpecIssue("a.yaml", None, None, "gone")) == "a.yaml: gone"


def test_unparseable_manifest_is_located_at_its_list_item(tmp_path: Path) -> None:
    write_manifest(tmp_path)
    (tmp_path / "broken.yaml").write_text("kind: [\n", encoding="utf-8")
    text = edit("manifests: [target.yaml]", "manifests: [target.yaml, broken.yaml]")
    issue = only(errors(text, tmp_path))
    assert issue.message.startswith("target.manifests[1]: cannot read manifest:")
    assert (issue.line, issue.column) == where(text, "broken.yaml")


def test_list_manifests_and_odd_objects_are_read_without_crashing(tmp_path: Path) -> None:
    text = edit("manifests: [target.yaml]", "manifests: [target.yaml, extra.yaml]")
    # Odd shapes (metadata as a string, a list of non-objects) contribute nothing instead of crashing.
    (tmp_path / "extra.yaml").write_text(
        "kind: List\nitems:\n  - {kind: Service, metadata: {name: more}, spec: {type: NodePort}}\n"
        "  - 42\n---\nkind: Deployment\nmetadata: oops\nspec: {template: []}\n---\n- just a list\n",
        encoding="utf-8",
    )
    text = edit("- name: demo-np", "- name: more", text)
    assert load(text, tmp_path).load.services[1].name == "more"


def test_python_field_names_are_not_yaml_keys(tmp_path: Path) -> None:
    # `from_` is the Python name of the YAML key `from`; a file must use the YAML spelling.
    text = edit("rate: 10\n", "rate: 10\n  from_: local\n")
    issue = only(errors(text, tmp_path))
    assert issue.message == "load: unknown key 'from_'"
    assert issue.hint.startswith("did you mean 'from'?")
