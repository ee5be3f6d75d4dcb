"""Rendering of the in-cluster load agent (ServiceAccount, ConfigMap, Job) and decoding of its pod log."""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from chaoskit.cluster.kube import loadjob
from chaoskit.cluster.kube.config import AGENT_IMAGE, RUN_ID_LABEL
from chaoskit.cluster.protocol import ClusterError
from chaoskit.load.plan import LoadPlan, LoadTarget
from chaoskit.load.records import RECORD, Outcome
from chaoskit.load.shape import RequestShape

pytestmark = pytest.mark.unit
ROOT = Path(__file__).parents[2]
PLAN = LoadPlan(targets=(LoadTarget("chaoskit-target", "ClusterIP", "10.96.0.10", 80),), rate=50.0,
                duration_s=10.0, connection="new-connection", timeout_s=1.0)


def spec() -> loadjob.AgentJobSpec:
    return loadjob.AgentJobSpec(namespace="chaoskit-demo", run_id="r1", plan_json=PLAN.to_json(),
                                deadline_s=60)


def test_render_objects_and_their_safety() -> None:
    account, config_map, job = loadjob.render(spec())
    assert [o["kind"] for o in (account, config_map, job)] == ["ServiceAccount", "ConfigMap", "Job"]
    assert account["automountServiceAccountToken"] is False
    pod = job["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    assert pod["restartPolicy"] == "Never" and job["spec"]["backoffLimit"] == 0
    assert job["spec"]["activeDeadlineSeconds"] == 60
    (container,) = pod["containers"]
    assert container["image"] == AGENT_IMAGE and ":" in AGENT_IMAGE and "latest" not in AGENT_IMAGE
    assert all(o["metadata"]["labels"][RUN_ID_LABEL] == "r1" for o in (account, config_map, job))


def test_config_map_carries_the_real_locustfile_and_plan() -> None:
    _account, config_map, job = loadjob.render(spec())
    data = config_map["data"]
    shipped = (ROOT / "chaoskit" / "load" / "locustfile.py").read_text()
    assert data["locustfile.py"] == shipped
    assert LoadPlan.from_json(data["plan.json"]) == PLAN
    items = job["spec"]["template"]["spec"]["volumes"][0]["configMap"]["items"]
    paths = {i["path"] for i in items}
    assert {f"chaoskit/load/{m}" for m in loadjob.AGENT_MODULES} <= paths
    assert all(i["key"] in data for i in items)
    compile(data["wrapper.py"], "wrapper.py", "exec")


def test_locustfile_imports_only_shipped_modules() -> None:
    # If the locustfile starts importing another chaoskit module, the Job would fail at import.
    sources = loadjob.module_sources()
    shipped = {m.removesuffix(".py") for m in loadjob.AGENT_MODULES}
    for name, text in sources.items():
        for line in text.splitlines():
            if line.startswith(("from chaoskit", "import chaoskit")):
                modules = [line.split()[1].rsplit(".", 1)[-1]]
                if line.startswith("from chaoskit.load import"):
                    modules = [m.strip(",") for m in line.split()[3:]]
                assert set(modules) <= shipped, f"{name}: {line}"


def test_manifest_template_matches_rendering() -> None:
    docs: list[Any] = list(YAML(typ="safe").load_all(
        (ROOT / "manifests" / "load-agent-job.yaml").read_text()))
    rendered = loadjob.render(spec())
    assert [d["kind"] for d in docs] == [r["kind"] for r in rendered]
    job_t, job_r = docs[2]["spec"], rendered[2]["spec"]
    assert job_t["suspend"] is True, "kubectl apply -f manifests/ must not start load"
    c_t = job_t["template"]["spec"]["containers"][0]
    c_r = job_r["template"]["spec"]["containers"][0]
    for key in ("image", "command", "volumeMounts", "securityContext", "resources"):
        assert c_t[key] == c_r[key], key
    assert job_t["template"]["spec"]["securityContext"] == job_r["template"]["spec"]["securityContext"]
    items_t = job_t["template"]["spec"]["volumes"][0]["configMap"]["items"]
    items_r = job_r["template"]["spec"]["volumes"][0]["configMap"]["items"]
    assert items_t == items_r
    assert docs[1]["data"]["wrapper.py"] == loadjob.WRAPPER


def test_split_log_reassembles_records_across_lines() -> None:
    raw = b"".join(RECORD.pack(i, i + 5, 1000 + i, 0, Outcome.OK, 200) for i in range(10))
    control = json.dumps({"event": "ready", "t0_ns": 5}).encode() + b"\n"
    lines = ["[2026-11-27 01:00:00] locust: starting",
             "CKR " + base64.b64encode(raw[:37]).decode(),
             "CKC " + base64.b64encode(control).decode(),
             "CKR " + base64.b64encode(raw[37:]).decode() + "\n"]
    log = loadjob.split_log(lines)
    assert log.records == raw and len(log.records) == 10 * RECORD.size
    assert log.control == [{"event": "ready", "t0_ns": 5}]
    assert log.other == ["[2026-11-27 01:00:00] locust: starting"]


def test_split_log_rejects_a_cut_line() -> None:
    with pytest.raises(ValueError):
        loadjob.split_log(["CKR QUJD$$"])


def test_log_decoder_reassembles_a_control_message_split_over_lines() -> None:
    """The wrapper relays pipe reads as they come: one JSON line may span two log lines."""
    message = json.dumps({"event": "done", "requests": 3}).encode() + b"\n"
    decoder = loadjob.LogDecoder()
    decoder.feed("CKC " + base64.b64encode(message[:9]).decode())
    assert decoder.control == []
    decoder.feed("CKC " + base64.b64encode(message[9:]).decode())
    assert decoder.control == [{"event": "done", "requests": 3}]


def test_the_agent_pod_meets_pod_security_restricted() -> None:
    """Namespaces enforcing the `restricted` Pod Security level admit the agent (the kube tier runs it in one)."""
    _account, _config_map, job = loadjob.render(spec())
    pod = job["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert isinstance(pod["securityContext"]["runAsUser"], int) and pod["securityContext"]["runAsUser"] > 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    assert all("hostPath" not in v for v in pod["volumes"])


def test_a_plan_too_large_for_a_config_map_is_refused_before_anything_is_applied() -> None:
    shapes = [RequestShape(method="POST", body=bytes([65 + i]) * 60_000) for i in range(13)]
    big = LoadPlan(targets=tuple(LoadTarget(f"s{i}", "ClusterIP", "10.96.0.10", 80, request=shape)
                                 for i, shape in enumerate(shapes)),
                   rate=1.0, duration_s=1.0, connection="keepalive", timeout_s=1.0)
    with pytest.raises(ClusterError, match="at most 1 MiB") as info:
        loadjob.render(loadjob.AgentJobSpec(namespace="ns", run_id="r1", plan_json=big.to_json(), deadline_s=60))
    assert "smaller" in info.value.hint


def _log_of(lines: list[str]) -> Any:
    import asyncio

    from chaoskit.cluster.kube.podlog import PodLog

    log = PodLog(None, "ns", "agent-pod", changed=asyncio.Event(), read_timeout_s=1)  # type: ignore[arg-type]
    for line in lines:
        log.decoder.feed(line)
    return log


def test_an_agent_pod_without_locust_is_bad_input_with_the_reason() -> None:
    from chaoskit.load.report import AgentImageError

    said = json.dumps({"event": "no-locust", "python": "3.12.1", "executable": "/usr/bin/python"}).encode() + b"\n"
    log = _log_of(["CKC " + base64.b64encode(said).decode()])
    with pytest.raises(AgentImageError, match=r"image busybox:1 has no Locust \(Python 3.12.1 at /usr/bin/python\)"
                       r": pod agent-pod cannot run the agent") as info:
        log.raise_if_no_locust("busybox:1")
    assert "--agent-image must be a Locust 2.x image" in info.value.hint
    # A Python that found Locust but not its gevent fails at import: the traceback says so.
    with pytest.raises(AgentImageError):
        _log_of(["Traceback (most recent call last):", "ModuleNotFoundError: No module named 'gevent'"]
                ).raise_if_no_locust("x")
    _log_of(["[2026-11-27] locust: starting"]).raise_if_no_locust("x")  # anything else: not this error


def test_workers_render_a_master_job_and_one_job_per_worker() -> None:
    base = spec()
    master = loadjob.render(dataclasses.replace(base, role="master"))[2]
    worker = loadjob.render_job(dataclasses.replace(base, role="worker", master_host="10.1.2.3", index=1))
    assert master["metadata"]["name"] == "chaoskit-load-agent-r1-master"
    assert worker["metadata"]["name"] == "chaoskit-load-agent-r1-w1"
    env = {e["name"]: e["value"] for e in worker["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["CHAOSKIT_LOAD_ROLE"] == "worker" and env["CHAOSKIT_LOAD_MASTER_HOST"] == "10.1.2.3"
    assert env["CHAOSKIT_LOAD_MASTER_PORT"] == "5557"
    (container,) = master["spec"]["template"]["spec"]["containers"]
    assert {e["name"]: e["value"] for e in container["env"]}["CHAOSKIT_LOAD_MASTER_BIND"] == "0.0.0.0:5557"
    assert container["resources"]["requests"]["cpu"] == "100m"
    for job in (master, worker):
        assert job["spec"]["backoffLimit"] == 0  # a failed agent is never replaced behind our back
        labels = job["spec"]["template"]["metadata"]["labels"]
        assert labels[loadjob.ROLE_LABEL] in ("master", "worker") and labels[RUN_ID_LABEL] == "r1"
