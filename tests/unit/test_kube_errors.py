"""The kube backend's error answers, typed (on recorded API server responses); the server-side dry run of
manifests before anything is applied; where `chaoskit cleanup` looks for marker files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chaoskit.cluster.kube.api import KubeApi, PlannedAction
from chaoskit.cluster.kube.apply import labelled, validate_objects
from chaoskit.cluster.kube.cleanup import volume_mounts
from chaoskit.cluster.kube.errors import (
    ApiConflictError,
    ApiForbiddenError,
    ApiManifestError,
    ApiNotFoundError,
    ApiStatusError,
    ApiUnavailableError,
    error_from_status,
)
from chaoskit.cluster.protocol import ClusterError, ManifestError

pytestmark = pytest.mark.unit
RECORDED = Path(__file__).parents[1] / "kube" / "recorded"
ERRORS: dict[str, Any] = json.loads((RECORDED / "errors.json").read_text())


def recorded(name: str) -> ClusterError:
    answer = ERRORS[name]
    body = answer["body"]
    raw = json.dumps(body).encode() if isinstance(body, dict) else body.encode()
    return error_from_status(answer["code"], raw, what=answer["request"])


@pytest.mark.parametrize(("name", "kind", "bad_input"), [
    ("unknown_field_apply", ApiManifestError, True),
    ("invalid_value", ApiManifestError, True),
    ("bad_request", ApiManifestError, True),
    ("namespace_missing", ApiNotFoundError, False),
    ("already_exists", ApiConflictError, False),
    ("forbidden", ApiForbiddenError, False),
    ("unauthorized", ApiForbiddenError, False),
    ("too_many_requests", ApiUnavailableError, False),
    ("etcd_timeout", ApiUnavailableError, False),
    ("unavailable", ApiUnavailableError, False),
])
def test_each_status_maps_to_its_typed_error(name: str, kind: type[ClusterError], bad_input: bool) -> None:
    error = recorded(name)
    assert type(error) is kind
    assert isinstance(error, ManifestError) is bad_input  # the CLI's exit 2; the rest are exit 3
    status = error.api_status  # type: ignore[attr-defined]
    assert status.code == ERRORS[name]["code"]
    body = ERRORS[name]["body"]
    assert status.payload == (body if isinstance(body, dict) else {})  # the Status object, kept whole
    assert str(error).startswith(f"{ERRORS[name]['request']}: {status.code}")


def test_an_unknown_field_says_so_and_how_to_fix_it() -> None:
    error = recorded("unknown_field_apply")
    assert "bogus: field not declared in schema" in str(error)
    assert error.hint.startswith("the manifest has a field its kind does not have")


def test_a_500_that_is_not_about_the_schema_stays_a_cluster_failure() -> None:
    error = recorded("etcd_timeout")
    assert isinstance(error, ApiStatusError) and not isinstance(error, ManifestError)
    assert error.status == 500
    assert "overloaded or failing" in error.hint


def test_the_causes_of_a_rejection_are_kept() -> None:
    error = recorded("invalid_value")
    causes = error.api_status.payload["details"]["causes"]  # type: ignore[attr-defined]
    assert causes[0]["field"] == "spec.ports[0].nodePort"


class RecordedApi:
    """A KubeApi stand-in for ``validate_objects`` alone: answers each PATCH from a recorded response."""

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers
        self.sent: list[tuple[str, str, list[tuple[str, str]]]] = []
        self.dry_run = True
        self.planned: list[PlannedAction] = []

    def resource(self, api_version: str, kind: str) -> Any:
        from chaoskit.cluster.kube.api import Resource

        plural = {"Deployment": "deployments", "Service": "services"}[kind]
        return Resource(api_version, kind, plural, namespaced=True)

    def request(self, method: str, path: str, *, query: Any = None, server_dry_run: bool = False,
                **_: Any) -> dict[str, Any]:
        assert server_dry_run, "a validation must be a server-side dry run"
        self.sent.append((method, path, list(query or [])))
        name = path.rsplit("/", 1)[-1]
        if name in self.answers:
            raise recorded(self.answers[name])
        return {}


def objects() -> list[dict[str, Any]]:
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc", "namespace": "ns"}}
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "ns"},
                  "spec": {"bogus": 1}}
    return [labelled(service, run_id="r"), labelled(deployment, run_id="r")]


def test_validation_dry_runs_every_object_and_stops_at_a_rejection() -> None:
    api = RecordedApi({"web": "unknown_field_apply"})
    with pytest.raises(ApiManifestError, match="field not declared in schema"):
        validate_objects(api, objects())  # type: ignore[arg-type]
    assert [p for _, p, _ in api.sent] == ["/api/v1/namespaces/ns/services/svc",
                                          "/apis/apps/v1/namespaces/ns/deployments/web"]
    assert all(("fieldManager", "chaoskit") in q for _, _, q in api.sent)
    assert api.planned == []


def test_validation_skips_objects_whose_namespace_is_not_there_yet() -> None:
    api = RecordedApi({"svc": "namespace_missing"})
    validate_objects(api, objects())  # type: ignore[arg-type]
    assert len(api.sent) == 2


@pytest.mark.local
def test_a_server_side_dry_run_is_sent_even_in_dry_run_mode(tmp_path: Path) -> None:
    # The API address is a closed loopback port: a request that is really sent fails to connect.
    from chaoskit.cluster.kube.api import ClusterUnreachable
    from chaoskit.cluster.kube.config import KubeOptions, load_configuration
    from tests.unit.test_run_flags import KUBECONFIG

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)
    cfg = load_configuration(KubeOptions(kubeconfig=kubeconfig, in_cluster=False)).configuration
    cfg.retries = 0
    api = KubeApi(cfg, request_timeout_s=2.0, dry_run=True)
    try:
        api.request("PATCH", "/api/v1/namespaces/ns/services/svc", body={})
        assert [a.path for a in api.planned] == ["/api/v1/namespaces/ns/services/svc"]  # planned, not sent
        with pytest.raises(ClusterUnreachable):
            api.request("PATCH", "/api/v1/namespaces/ns/services/svc", body={}, server_dry_run=True)
    finally:
        api.close()


def test_cleanup_looks_in_each_emptydir_and_hostpath_volume_once() -> None:
    pod = json.loads((RECORDED / "pod_lifecycle.json").read_text())["ready"]
    seen: set[tuple[str, str]] = set()
    assert volume_mounts(pod, seen) == {"httpd": ["/usr/local/apache2/htdocs/scratch",
                                                  "/usr/local/apache2/htdocs/node-data"]}
    # Another pod on the same node mounting the same hostPath: its emptyDir is new, the node directory is not.
    assert volume_mounts(pod, seen) == {"httpd": ["/usr/local/apache2/htdocs/scratch"]}
    died = json.loads((RECORDED / "pod_lifecycle.json").read_text())["died"]
    assert volume_mounts(died, set()) == {}  # no running container: nothing to exec into
