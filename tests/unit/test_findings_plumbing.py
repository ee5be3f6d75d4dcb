"""Around the rules: the manifest facts they read, the registry, the snippet merge, and where findings go
(summary.json, report.md, the terminal, the metrics)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from rich.console import Console

from chaoskit.analysis.findings import BUILTIN_RULES, FindingRegistry, Rule, RuleError, default_registry
from chaoskit.analysis.findings.snippets import merge
from chaoskit.analysis.summary import RunSummary
from chaoskit.analysis.templates import manifest_facts
from chaoskit.metrics.run import RunMetrics
from chaoskit.report import markdown, terminal
from tests.unit.findings_frames import analyse, budget, deployment, facts, requests, rules
from tests.unit.test_findings_shutdown import _deleted, _racing

pytestmark = pytest.mark.unit
DOCS = Path(__file__).resolve().parents[2] / "docs" / "findings.md"


def test_manifest_facts_read_what_the_rules_need() -> None:
    web = deployment(pre_stop_s=3, grace=10, probe={"initialDelaySeconds": 4, "periodSeconds": 2}, spread=True,
                     volumes=[{"name": "cache", "emptyDir": {}}])
    web["spec"]["template"]["spec"]["containers"].append(
        {"name": "proxy", "image": "envoy", "lifecycle": {"preStop": {"exec": {"command": ["/bin/sh", "-c",
                                                                                            "sleep 5"]}}}})
    service = {"kind": "Service", "metadata": {"name": "web-np"},
               "spec": {"type": "NodePort", "externalTrafficPolicy": "Local", "selector": {"app": "web"}}}
    found = manifest_facts([web, budget(maxUnavailable="50%"), service, {"kind": "ConfigMap"}], {"app": "web"})
    (workload,) = found.workloads
    assert (workload.describe, workload.replicas, workload.grace_period_s, workload.target) == \
        ("Deployment web", 3, 10.0, True)
    assert [(c.name, c.pre_stop, c.pre_stop_sleep_s) for c in workload.containers] == \
        [("httpd", "sleep", 3.0), ("proxy", "exec", 5.0)]
    assert workload.pre_stop_sleep_s == 5.0 and workload.spread == "topologySpreadConstraints"
    assert workload.containers[0].readiness is not None and workload.containers[0].readiness.initial_delay_s == 4
    assert [(v.name, v.type) for v in workload.volumes] == [("cache", "emptyDir")]
    assert found.budgets_for(workload)[0].max_unavailable == "50%"
    assert found.services[0].external_traffic_policy == "Local"
    assert found.workload_of("web-7d9f-x2k4p") is workload and found.workload_of("other-1") is None


def test_odd_values_never_raise_and_defaults_hold() -> None:
    odd = {"kind": "Deployment", "metadata": {"name": "x"}, "spec": {"replicas": "three", "template": []}}
    (workload,) = manifest_facts([odd, {"kind": "Pod", "metadata": {"name": "solo"}, "spec": {
        "nodeName": "n1", "containers": [{"name": "c", "lifecycle": {"preStop": {"exec": {"command": ["x"]}}}}]}}],
                                 {}).workloads[:1]
    assert workload.replicas == 1 and workload.grace_period_s == 30.0 and not workload.target
    solo = manifest_facts([{"kind": "Pod", "metadata": {"name": "solo"}, "spec": {"nodeName": "n1"}}], {})
    assert solo.workloads[0].pinned == "nodeName: n1" and solo.workloads[0].replicas == 1


def test_merge_keys_by_name_keeps_order_and_deletes_with_null() -> None:
    base = {"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}], "keep": 1,
                     "minAvailable": 2}}
    patch = {"spec": {"containers": [{"name": "b", "lifecycle": {}}, {"name": "c"}], "minAvailable": None}}
    assert merge(base, patch) == {"spec": {"containers": [{"name": "a", "image": "x"},
                                                          {"name": "b", "image": "y", "lifecycle": {}},
                                                          {"name": "c"}], "keep": 1}}


def test_the_registry_refuses_a_duplicate_and_a_run_is_judged_by_the_rules_given() -> None:
    registry = default_registry()
    with pytest.raises(RuleError) as caught:
        registry.register(BUILTIN_RULES[0])
    assert "shutdown-race" in str(caught.value) and caught.value.hint
    quiet = FindingRegistry([Rule("nothing", "never matches", lambda ctx: [])])
    assert quiet.ids == ("nothing",)
    assert analyse(requests(_racing), _deleted(), facts(deployment()), registry=quiet).findings == ()
    assert rules(analyse(requests(_racing), _deleted(), facts(deployment()))) == {"shutdown-race"}


def test_every_builtin_rule_is_in_the_catalogue() -> None:
    documented = set(re.findall(r"^### `([a-z-]+)`", DOCS.read_text(encoding="utf-8"), flags=re.MULTILINE))
    assert documented == {rule.id for rule in BUILTIN_RULES}


def test_findings_survive_summary_json_and_reach_report_terminal_and_metrics() -> None:
    summary = analyse(requests(_racing), _deleted(), facts(deployment()))
    again = RunSummary.from_dict(json.loads(json.dumps(summary.to_dict())))
    assert again == summary and again.schema_version == 2
    report = markdown.render(summary)
    assert report.index("## Findings") < report.index("## Fault injection")
    assert "### `shutdown-race`:" in report and "```yaml\n# Keep serving" in report
    console = Console(width=200, record=True)
    terminal.render(summary, console)
    assert "> shutdown-race [high]: " in console.export_text()
    metrics = RunMetrics("synthetic")
    metrics.finalize(summary)
    text = generate_latest(metrics.registry).decode()
    explained = summary.findings[0].evidence.failures
    assert 'chaoskit_finding{experiment="synthetic",rule="shutdown-race"} 1.0' in text
    assert 'chaoskit_finding{experiment="synthetic",rule="single-replica"} 0.0' in text
    assert f'chaoskit_finding_failed_requests{{experiment="synthetic",rule="shutdown-race"}} {explained:.1f}' in text


def test_a_run_without_findings_says_so() -> None:
    summary = analyse(requests(lambda t: False), _deleted(), facts(deployment()))
    assert summary.findings == ()
    assert "No rule matched this run's evidence." in markdown.render(summary)


def test_a_load_agent_behind_its_schedule_lowers_every_finding() -> None:
    (race,) = analyse(requests(_racing, lag_ms=50), _deleted(), facts(deployment())).findings
    assert race.confidence == "medium" and race.confidence_basis.endswith("some failures may be the client's")
