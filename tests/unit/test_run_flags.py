"""Every flag of `chaoskit run` is checked before anything starts: exit 2, one located line with a hint, and
nothing left behind (no run directory, no temp directory of the embedded cluster). Also `chaoskit cleanup`
of local leftovers."""

from __future__ import annotations

import socket
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chaoskit.cli.app import app
from chaoskit.cluster.local.leftovers import PREFIX
from chaoskit.engine.rundir import INCOMPLETE, RunDir
from chaoskit.owner import Owner

ROOT = Path(__file__).resolve().parents[2]
DEAD_PID = 2**22 + 7  # above the kernel's largest pid_max: never a running process
KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.63.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: only, context: {cluster: c, user: u}}]
current-context: only
"""


@pytest.fixture
def temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The system temp directory, for this test only (where the embedded cluster makes its state)."""
    directory = tmp_path / "tmp"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    monkeypatch.chdir(ROOT)
    return directory


def run(temp: Path, *flags: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["run", "pod-recreate", *flags])
    assert list(temp.iterdir()) == [], "a temp directory was left behind"
    return result.exit_code, result.stderr


@pytest.mark.unit
@pytest.mark.parametrize(("out", "message"), [
    ("/proc/x", "--out /proc/x: cannot create run directories there: No such file or directory"),
    ("/dev/null", "--out /dev/null: is not a directory but a character device"),
    ("/etc/passwd", "--out /etc/passwd: is not a directory but a regular file"),
    ("/etc/passwd/runs", "--out /etc/passwd/runs: /etc/passwd on its path is not a directory but a regular file"),
])
def test_an_unusable_out_is_exit_2_before_anything_starts(temp: Path, out: str, message: str) -> None:
    code, stderr = run(temp, "--out", out)
    assert code == 2
    assert stderr.splitlines()[0] == f"error: {message}"
    assert stderr.splitlines()[1].startswith("  hint: pass ")


@pytest.mark.unit
def test_an_out_that_is_an_existing_file_is_refused(temp: Path, tmp_path: Path) -> None:
    taken = tmp_path / "taken"
    taken.write_text("mine")
    code, stderr = run(temp, "--out", str(taken))
    assert code == 2
    assert f"--out {taken}: is not a directory but a regular file" in stderr
    assert taken.read_text() == "mine"


@pytest.mark.unit
def test_a_missing_out_is_not_created_by_a_refused_run(temp: Path, tmp_path: Path) -> None:
    out = tmp_path / "a" / "b"
    code, stderr = run(temp, "--out", str(out), "--rate", "1e308")
    assert code == 2, stderr
    assert not (tmp_path / "a").exists()


@pytest.mark.unit
@pytest.mark.parametrize(("flags", "message", "hint"), [
    (["--rate", "1e308"], "--rate 1e+308: must be 0.01 to 100,000 requests/s per address", "one load agent core"),
    (["--rate", "nan"], "--rate nan: must be 0.01 to 100,000 requests/s per address", "not a load test"),
    (["--rate", "0"], "--rate 0: must be 0.01 to 100,000 requests/s per address", "not a load test"),
    (["--baseline", "25h"], "--baseline '25h': duration 25h is longer than 24h", "check the unit"),
    (["--chaos", "soon"], "--chaos 'soon': invalid duration \"soon\"", "a string like"),
    (["--metrics-linger", "-1s"], "--metrics-linger '-1s': invalid duration", "a string like"),
    (["--pushgateway", "notaurl"], "--pushgateway 'notaurl': not a URL", "http://HOST:PORT"),
    (["--pushgateway", "ftp://gateway"], "--pushgateway 'ftp://gateway': not an http(s) URL", "http://HOST:PORT"),
    (["--pushgateway", "http://a b:9091"], "--pushgateway 'http://a b:9091': 'a b' is not a host", "HOST:PORT"),
    (["--metrics-host", "10.1.2.3"], "--metrics-host 10.1.2.3: there is no metrics server without --metrics-port",
     "add --metrics-port"),
    (["--metrics-port", "0", "--metrics-host", "no_such host"], "--metrics-host 'no_such host': not a host name",
     "127.0.0.1"),
])
def test_a_bad_flag_is_exit_2_before_anything_starts(temp: Path, tmp_path: Path, flags: list[str], message: str,
                                                     hint: str) -> None:
    code, stderr = run(temp, "--out", str(tmp_path / "runs"), *flags)
    assert code == 2
    assert stderr.splitlines()[0].startswith(f"error: {message}")
    assert hint in stderr.splitlines()[1]
    assert not (tmp_path / "runs").exists()


@pytest.mark.unit
@pytest.mark.parametrize("seed", ["-1", str(2**63)])
def test_a_seed_out_of_range_is_a_usage_error(temp: Path, seed: str) -> None:
    code, stderr = run(temp, "--seed", seed)
    assert code == 2
    assert "Invalid value for '--seed'" in stderr


@pytest.mark.unit
def test_a_pushgateway_whose_name_does_not_resolve_is_exit_2_before_the_run(
        temp: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def no_such_name(host: str, *_: object, **__: object) -> list[object]:
        asked.append(host)  # stands in for the resolver: no DNS query leaves this test
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)
    code, stderr = run(temp, "--out", str(tmp_path / "runs"), "--pushgateway", "http://gatewy:9091")
    assert code == 2
    assert asked == ["gatewy"]
    assert stderr.splitlines()[0] == ("error: --pushgateway http://gatewy:9091: host gatewy does not resolve "
                                      "([Errno -2] Name or service not known)")
    assert not (tmp_path / "runs").exists()


@pytest.mark.unit
@pytest.mark.parametrize(("flags", "message", "hint"), [
    (["--context", "missing"], "context 'missing' is not in kubeconfig", "contexts there: only;"),
    (["--kubeconfig", "/nonexistent/kubeconfig"], "cannot read kubeconfig /nonexistent/kubeconfig", "--kubeconfig"),
])
def test_a_kube_context_or_kubeconfig_that_is_not_there_is_exit_2(temp: Path, tmp_path: Path, flags: list[str],
                                                                   message: str, hint: str) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)
    code, stderr = run(temp, "--backend", "kube", "--kubeconfig", str(kubeconfig), "--yes",
                       "--out", str(tmp_path / "runs"), *flags)
    assert code == 2
    assert stderr.splitlines()[0].startswith(f"error: {message}")
    assert hint in stderr.splitlines()[1]
    assert not (tmp_path / "runs").exists()


@pytest.mark.unit
def test_cleanup_of_local_leftovers(temp: Path, tmp_path: Path) -> None:
    me = Owner.current()
    dead = temp / f"{PREFIX}{DEAD_PID}-12345-abcd"
    alive = temp / f"{PREFIX}{me.pid}-{me.start}-efgh"
    old = temp / f"{PREFIX}xyz12345"
    for directory in (dead, alive, old):
        (directory / "nodes").mkdir(parents=True)
    runs = tmp_path / "runs"
    crashed_empty, crashed_partial, running = (RunDir(runs, name).path for name in ("a", "b", "c"))
    for crashed in (crashed_empty, crashed_partial):
        (crashed / INCOMPLETE).write_text(Owner(DEAD_PID, 1, me.host).to_json())
    (crashed_partial / "requests.parquet").write_bytes(b"PAR1")

    dry = CliRunner().invoke(app, ["cleanup", "--out", str(runs), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert f"would remove: embedded cluster state {dead} (its run, pid {DEAD_PID}, is gone)" in dry.stdout
    assert dead.exists() and crashed_empty.exists()  # --dry-run lists only

    result = CliRunner().invoke(app, ["cleanup", "--out", str(runs)])
    assert result.exit_code == 0, result.output
    assert sorted(result.stdout.splitlines()) == sorted([
        f"removed: embedded cluster state {dead} (its run, pid {DEAD_PID}, is gone)",
        f"in use: embedded cluster state {alive} (pid {me.pid} runs)",
        f"not checked: {old} (made by an older chaoskit, no owner recorded; remove it by hand once no run uses it)",
        f"removed: run directory {crashed_empty} (crashed run, nothing saved)",
        f"kept: run directory {crashed_partial}: incomplete (crashed run), holds partial files; `chaoskit report` "
        "says what is missing",
    ])
    assert sorted(temp.iterdir()) == sorted([alive, old])
    assert sorted(runs.iterdir()) == sorted([crashed_partial, running])


@pytest.mark.unit
def test_cleanup_with_nothing_left_says_so(temp: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["cleanup", "--out", str(tmp_path / "runs")])
    assert (result.exit_code, result.stdout) == (0, "nothing left behind\n")


@pytest.mark.unit
def test_cleanup_refuses_kube_flags_for_the_local_backend(temp: Path) -> None:
    result = CliRunner().invoke(app, ["cleanup", "--backend", "local", "--context", "x"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --context: for --backend kube")


@pytest.mark.unit
def test_cleanup_with_a_kube_flag_goes_to_the_cluster(temp: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["cleanup", "--kubeconfig", str(tmp_path / "none"), "--yes"])
    assert result.exit_code == 2  # the kube path: its kubeconfig is missing (bad input, not exit 3)
    assert result.stderr.startswith(f"error: cannot read kubeconfig {tmp_path / 'none'}")


@pytest.mark.unit
def test_a_kubeconfig_without_current_context_needs_context(temp: Path, tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG.replace("current-context: only\n", ""))
    code, stderr = run(temp, "--backend", "kube", "--kubeconfig", str(kubeconfig), "--yes")
    assert code == 2
    assert stderr.splitlines()[0] == f"error: kubeconfig {kubeconfig} has no current-context"
    assert stderr.splitlines()[1] == "  hint: pass --context (one of: only)"
