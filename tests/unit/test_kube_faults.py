"""Pure parts of the kube faults: drain selection, container-death detection, exec status parsing."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from chaoskit.cluster.kube.disruption import check_killable, died_since, evictable
from chaoskit.cluster.kube.execs import ExecResult, NoShellError, check_ran, parse_exec_status
from chaoskit.cluster.protocol import ClusterError, NotFoundError

pytestmark = pytest.mark.unit
PODS: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "kube" / "recorded" / "pod_lifecycle.json").read_text())


def pod(name: str, namespace: str = "chaoskit-demo", **meta: Any) -> dict[str, Any]:
    p = copy.deepcopy(PODS["ready"])
    p["metadata"].update(name=name, namespace=namespace, **meta)
    return p


def test_evictable_skips_daemonset_mirror_finished_terminating_and_foreign() -> None:
    ds = pod("ds", ownerReferences=[{"kind": "DaemonSet", "name": "x", "controller": True}])
    mirror = pod("mirror", annotations={"kubernetes.io/config.mirror": "abc"})
    done = pod("done")
    done["status"]["phase"] = "Succeeded"
    going = pod("going", deletionTimestamp="2026-11-27T01:00:00Z")
    foreign = pod("foreign", namespace="other")
    plain = pod("plain")
    agent = pod("agent", labels={"app.kubernetes.io/name": "chaoskit-load-agent"})  # the measurement itself
    evict, skip = evictable([ds, mirror, done, going, foreign, agent, plain],
                            namespaces=frozenset({"chaoskit-demo"}))
    assert [p["metadata"]["name"] for p in evict] == ["plain"]
    assert len(skip) == 6
    evict_all, _ = evictable([foreign, plain], namespaces=None)
    assert len(evict_all) == 2


def test_died_since_sees_restart_state_change_and_replacement() -> None:
    before = PODS["ready"]
    assert not died_since(before, before, "httpd")
    assert died_since(before, PODS["died"], "httpd")          # terminated
    assert died_since(before, PODS["ready2"], "httpd")        # restarted in between
    assert died_since(before, None, "httpd")                  # pod gone
    other = copy.deepcopy(before)
    other["metadata"]["uid"] = "another"
    assert died_since(before, other, "httpd")                 # same name, new pod


def test_check_killable_refuses_shared_process_namespace_and_unknown_container() -> None:
    assert check_killable(PODS["ready"], "httpd")["name"] == "httpd"
    shared = copy.deepcopy(PODS["ready"])
    shared["spec"]["shareProcessNamespace"] = True
    with pytest.raises(ClusterError, match="pause process"):
        check_killable(shared, "httpd")
    with pytest.raises(NotFoundError, match="no container 'nginx'"):
        check_killable(PODS["ready"], "nginx")


def test_parse_exec_status() -> None:
    assert parse_exec_status('{"metadata":{},"status":"Success"}') == (0, "")
    nonzero = {"status": "Failure", "reason": "NonZeroExitCode", "message": "command terminated with "
               "non-zero exit code: error executing command [sh -c ...], exit code 1",
               "details": {"causes": [{"reason": "ExitCode", "message": "1"}]}}
    assert parse_exec_status(json.dumps(nonzero))[0] == 1
    noshell = {"status": "Failure", "reason": "InternalError", "message": 'Internal error occurred: '
               'error executing command in container: failed to exec in container: failed to start exec '
               '"abc": OCI runtime exec failed: exec failed: unable to start container process: exec: '
               '"sh": executable file not found in $PATH: unknown'}
    code, message = parse_exec_status(json.dumps(noshell))
    assert code is None and "executable file not found" in message
    assert parse_exec_status("")[0] is None


def test_no_shell_gets_its_own_error_with_a_hint() -> None:
    with pytest.raises(NoShellError) as err:
        check_ran(ExecResult(None, "", "", 'exec: "sh": executable file not found in $PATH'),
                  what="write marker")
    assert "/bin/sh" in str(err.value) and "sidecar" in err.value.hint
    with pytest.raises(ClusterError, match="exec failed"):
        check_ran(ExecResult(None, "", "", "container not found"), what="x")
    assert check_ran(ExecResult(1, "", "", ""), what="x").exit_code == 1
