"""The committed dashboards, provisioning and docker-compose.yml agree with the generator, the metric names and
each other."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaoskit.metrics import names
from dashboards import generate
from dashboards.common import DATASOURCE_UID
from tests.prometheus.dashboard_checks import dashboard_queries

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parents[2]
METRIC = re.compile(r"\bchaoskit_[a-z_]+")
KNOWN = {getattr(names, n) for n in dir(names) if isinstance(getattr(names, n), str) and
         getattr(names, n).startswith("chaoskit_")}


def load_yaml(relative: str) -> Any:
    return yaml.safe_load((ROOT / relative).read_text(encoding="utf-8"))


def test_committed_json_is_what_the_generator_makes() -> None:
    assert generate.stale() == [], "run `python -m dashboards.generate` and commit dashboards/json/"


def test_stale_json_is_detected(tmp_path: Path) -> None:
    for name, text in generate.rendered().items():
        (tmp_path / name).write_text(text.replace("Error ratio", "Error rate"), encoding="utf-8")
    assert generate.stale(tmp_path) == ["chaoskit-continuity.json"]


def test_queries_use_only_exported_metric_names() -> None:
    used = {m.removesuffix("_bucket") for _, expr in dashboard_queries() for m in METRIC.findall(expr)}
    assert used, "no chaoskit metric in any dashboard"
    assert used <= KNOWN, used - KNOWN


def test_both_dashboards_have_the_experiment_and_service_type_variables() -> None:
    for name, text in generate.rendered().items():
        board = yaml.safe_load(text)  # JSON is YAML
        assert [v["name"] for v in board["templating"]["list"]] == ["experiment", "service_type"], name
        assert [a["name"] for a in board["annotations"]["list"]] == ["Faults"], name


def test_every_query_uses_the_provisioned_data_source() -> None:
    provisioned = load_yaml("dashboards/provisioning/datasources/prometheus.yaml")["datasources"]
    assert [d["uid"] for d in provisioned] == [DATASOURCE_UID]
    for name, text in generate.rendered().items():
        uids = set(re.findall(r'"uid": "([^"]+)"', text)) - {name.removesuffix(".json")}
        assert uids == {DATASOURCE_UID}, name


def test_compose_ports_are_loopback_only_and_images_pinned() -> None:
    services = load_yaml("docker-compose.yml")["services"]
    assert set(services) == {"prometheus", "pushgateway", "grafana"}
    for name, service in services.items():
        image = service["image"]
        assert ":" in image and not image.endswith((":latest", ":main")), (name, image)
        assert service["ports"] and all(p.startswith("127.0.0.1:") for p in service["ports"]), name


def test_compose_mounts_exist_and_match_the_provisioning() -> None:
    services = load_yaml("docker-compose.yml")["services"]
    mounts = {s: [v.split(":") for v in services[s]["volumes"] if v.startswith("./")] for s in services
              if "volumes" in services[s]}
    for service, binds in mounts.items():
        for source, *_ in binds:
            assert (ROOT / source).exists(), (service, source)
    grafana = {target: source for source, target, *_ in mounts["grafana"]}
    provider = load_yaml("dashboards/provisioning/dashboards/chaoskit.yaml")["providers"][0]
    assert grafana[provider["options"]["path"]] == "./dashboards/json"
    prometheus = {target: source for source, target, *_ in mounts["prometheus"]}
    assert prometheus["/etc/prometheus/prometheus.yml"] == "./deploy/prometheus/prometheus.yml"


def test_prometheus_config_scrapes_chaoskit_and_the_pushgateway() -> None:
    config = load_yaml("deploy/prometheus/prometheus.yml")
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    assert jobs["pushgateway"]["honor_labels"] is True  # keeps the pushed experiment/run/job labels
    assert jobs["pushgateway"]["static_configs"][0]["targets"] == ["pushgateway:9091"]
    assert "host.docker.internal" in jobs["chaoskit"]["static_configs"][0]["targets"][0]
    interval = load_yaml("dashboards/provisioning/datasources/prometheus.yaml")["datasources"][0]["jsonData"]
    assert interval["timeInterval"] == config["global"]["scrape_interval"]  # $__rate_interval depends on it


def test_panels_have_unique_ids_and_titles() -> None:
    for name, text in generate.rendered().items():
        panels = yaml.safe_load(text)["panels"]
        assert [p["id"] for p in panels] == list(range(1, len(panels) + 1)), name
        titles = [p["title"] for p in panels]
        assert len(titles) == len(set(titles)), name
