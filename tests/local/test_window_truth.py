"""Windows and recovery clocks against an independent prober on the embedded cluster.

While an experiment runs, the test's own client (plain asyncio sockets in a thread of its own, one attempt
per request, a new connection each, constant arrival, loopback only, bounded in count and time) hits the
same NodePort node addresses as the load agent. Its hits are turned into windows by the definition,
written out again here (first failed request's start to the next successful request's start, per
address), and compared with chaoskit's, per address.

Tolerance: each client sees a transition at its first request after it, so within the largest gap
between two of its consecutive request starts on that address (1/rate = 50 ms when on schedule; the
realised gaps are measured, and must stay under 10 spacings). Window edges of the two clients may differ by
the sum of their largest gaps, failure counts of one window by at most 3 (2 edge requests, one of them
per client, and one for rounding of the stretch).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from chaoskit.analysis.frames import phases_from_events, prepare, run_end_ns
from chaoskit.analysis.windows import failure_runs
from chaoskit.cluster.local.config import LocalClusterConfig
from chaoskit.cluster.protocol import ClusterEvent, ServiceKind
from chaoskit.engine.observer import Observers
from tests.local.engine_support import experiment, run
from tests.support import Hit, http_get, steady_load

pytestmark = [pytest.mark.local, pytest.mark.slow]
RATE = 20.0
SPACING_NS = int(1e9 / RATE)
MAX_GAP_NS = 10 * SPACING_NS
"""A client that left more than this between two requests did not keep its schedule (an overloaded host)."""
COUNT_SLACK = 3
STOP_EARLY_NS = 300_000_000
"""The prober stops this long before the recovery phase ends: its last requests finish inside the run."""
NAMESPACE = "chaoskit-test"


@dataclass(frozen=True)
class Window:
    begin_ns: int
    end_ns: int | None
    """None: open (no success after it)."""
    failed: int


def prober_windows(hits: list[Hit]) -> list[Window]:
    """The definition, independently: from a failure's start to the next success's start."""
    found: list[Window] = []
    begin, failed = None, 0
    for hit in sorted(hits, key=lambda h: h.start_ns):
        if not hit.ok:
            begin = hit.start_ns if begin is None else begin
            failed += 1
        elif begin is not None:
            found.append(Window(begin, hit.start_ns, failed))
            begin, failed = None, 0
    if begin is not None:
        found.append(Window(begin, None, failed))
    return found


def largest_gap(starts: list[int]) -> int:
    """The longest time between two consecutive request starts: how late a client can see a change."""
    gap = max((b - a for a, b in itertools.pairwise(sorted(starts))), default=0)
    assert gap < MAX_GAP_NS, f"a client fell behind its schedule (a {gap / 1e6:.0f} ms gap): nothing to compare"
    return gap


def chaoskit_starts(run_dir: Path) -> dict[str, list[int]]:
    requests = pd.read_parquet(run_dir / "requests.parquet")
    return {str(node): group["start_ns"].tolist()
            for node, group in requests.groupby(requests["target"].astype(str).str.extract(r"\((.*)\)")[0])}


def chaoskit_windows(run_dir: Path) -> dict[str, list[Window]]:
    """chaoskit's windows per address, from the run's own tables."""
    requests = pd.read_parquet(run_dir / "requests.parquet")
    phases = phases_from_events(pd.read_parquet(run_dir / "events.parquet"))
    cols = prepare(requests, phases)
    runs = failure_runs(cols, run_end_ns(cols, phases))
    found: dict[str, list[Window]] = {address: [] for address in cols.addresses}
    for w, failed in enumerate(runs.failed().tolist()):
        end = None if runs.open[w] else int(runs.end_ns[w])
        found[cols.addresses[runs.address[w]]].append(Window(int(runs.begin_ns[w]), end, failed))
    return found


class Prober:
    """Starts with the baseline: the test's own client on every node address of the Service, in a thread
    with its own event loop (so a busy engine loop cannot delay its requests)."""

    def __init__(self, service: str, after_baseline_s: float, hang_node: str | None = None) -> None:
        self.service, self.after_baseline_s, self.hang_node = service, after_baseline_s, hang_node
        self.stop_ns = 0
        self.engine: Any = None
        self.hits: dict[str, list[Hit]] = {}
        self.hang: list[list[int]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._thread: threading.Thread | None = None

    def hook(self, engine: Any) -> None:
        self.engine = engine

    def on_phase(self, phase: str, ends_at_ns: int) -> None:
        loop = asyncio.get_running_loop()
        if phase == "baseline":
            self.stop_ns = ends_at_ns + int(self.after_baseline_s * 1e9) - STOP_EARLY_NS
            self._tasks.append(loop.create_task(self._probe()))
        if phase == "chaos" and self.hang_node:
            self._tasks.append(loop.create_task(self._hang()))

    def on_records(self, records: Any) -> None:
        pass

    def on_event(self, event: ClusterEvent) -> None:
        pass

    async def _probe(self) -> None:
        addresses = await self.engine.cluster.service_addresses(NAMESPACE, self.service, ServiceKind.NODE_PORT)
        self._thread = threading.Thread(target=self._probe_all, args=(addresses,), name="prober")
        self._thread.start()

    def _probe_all(self, addresses: list[Any]) -> None:
        async def together() -> list[list[Hit]]:
            # Stop a little before the load does: every probe then lies inside the phases.
            duration = (self.stop_ns - time.time_ns()) / 1e9
            return await asyncio.gather(*(steady_load(a.host, a.port, rate=RATE, duration_s=duration)
                                          for a in addresses))  # fmt: skip

        for address, hits in zip(addresses, asyncio.run(together()), strict=True):
            self.hits[address.node or ""] = hits

    async def _hang(self) -> None:
        await asyncio.sleep(1.0)
        (pod,) = [p for p in await self.engine.cluster.list_pods(NAMESPACE, {"app": "twonode"})
                  if p.node == self.hang_node]  # fmt: skip
        await http_get(pod.ip, 8080, path="/chaos/hang?ms=2500", method="POST")
        await asyncio.sleep(2.7)
        self.hang = json.loads((await http_get(pod.ip, 8080, path="/chaos/hang")).body)

    async def finish(self) -> None:
        await asyncio.gather(*self._tasks)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 30)


def by_node(windows: dict[str, list[Window]]) -> dict[str, list[Window]]:
    """Address labels (``host:port (node)``) keyed by their node."""
    return {label.rsplit("(", 1)[-1].rstrip(")"): found for label, found in windows.items()}


def assert_same(ours: list[Window], theirs: list[Window], edge_ns: int, what: str) -> None:
    assert len(ours) == len(theirs), (what, ours, theirs)
    for mine, probe in zip(ours, theirs, strict=True):
        assert abs(mine.begin_ns - probe.begin_ns) <= edge_ns, (what, mine, probe)
        assert (mine.end_ns is None) == (probe.end_ns is None), (what, mine, probe)
        if mine.end_ns is not None and probe.end_ns is not None:
            assert abs(mine.end_ns - probe.end_ns) <= edge_ns, (what, mine, probe)
            assert abs(mine.failed - probe.failed) <= COUNT_SLACK, (what, mine, probe)


def compare(run_dir: Path, prober: Prober) -> tuple[dict[str, list[Window]], dict[str, int]]:
    """chaoskit's windows per node, after checking they match the prober's; and chaoskit's largest gaps."""
    ours = by_node(chaoskit_windows(run_dir))
    theirs = {node: prober_windows(hits) for node, hits in prober.hits.items()}
    assert set(ours) == set(theirs) == {"node-1", "node-2"}
    gaps = {node: largest_gap(starts) for node, starts in chaoskit_starts(run_dir).items()}
    for node in ours:
        edge = gaps[node] + largest_gap([h.start_ns for h in prober.hits[node]])
        assert_same(ours[node], theirs[node], edge, node)
    return ours, gaps


def test_two_node_addresses_with_2s_timeouts_match_the_prober(tmp_path: Path) -> None:
    spec = experiment("two-nodes-hang")
    prober = Prober("twonode", spec.phases.chaos + spec.phases.recovery, hang_node="node-1")
    summary, outcome = run(spec, tmp_path, observers=Observers(prober), engine_hook=prober.hook,
                           config=LocalClusterConfig(nodes=2), after=prober.finish)  # fmt: skip
    assert len(prober.hang) == 1, "the pod did not log its hang"
    hang_begin, hang_end = prober.hang[0]
    ours, gaps = compare(outcome.run_dir, prober)
    assert ours["node-2"] == [], ours  # the other node's pod kept answering
    (window,) = ours["node-1"]
    assert window.end_ns is not None
    # The truth: the pod logged when it stopped and started answering again (20 ms: connection set-up).
    assert abs(window.begin_ns - hang_begin) <= gaps["node-1"] + 20_000_000
    assert abs(window.end_ns - hang_end) <= gaps["node-1"] + 20_000_000  # not hang_end + a 2 s timeout
    stats = next(w for w in summary.windows if w.service_type == "NodePort")
    assert stats.longest is not None and stats.longest.outcomes.keys() == {"timeout"}
    assert stats.unavailable_s == stats.longest.duration_s  # only one address was ever down
    assert summary.recovery_observation.recovery_observed is True


def test_a_drained_node_whose_address_never_works_again_matches_the_prober(tmp_path: Path) -> None:
    spec = experiment("two-nodes-drain")
    prober = Prober("twonode", spec.phases.chaos + spec.phases.recovery)
    summary, outcome = run(spec, tmp_path, observers=Observers(prober), engine_hook=prober.hook,
                           config=LocalClusterConfig(nodes=2), after=prober.finish)  # fmt: skip
    ours, _ = compare(outcome.run_dir, prober)
    (fault,) = summary.recovery
    drained = next(node for node, found in ours.items() if found)
    other = "node-2" if drained == "node-1" else "node-1"
    assert ours[other] == []  # its pod kept serving, and the replacement landed there too
    (window,) = ours[drained]
    assert window.end_ns is None  # open: no local pod any more, failing until the end of the run
    assert all(not h.ok for h in prober.hits[drained] if h.start_ns > window.begin_ns)
    assert window.begin_ns >= fault.begin_ns
    # The fault's traffic never came back on the drained node's address: never, and the SLO fails.
    assert "traffic_recovered" in fault.never_recovered
    assert [a.endswith(f"({drained})") for a in fault.unrecovered_addresses] == [True]
    assert fault.recovery_s is None and not summary.verdict.passed
    assert fault.last_failure_s is not None and fault.last_failure_s > 5.0  # still failing near the end
    assert fault.replacement_scheduled_s is not None and fault.replacement_ready_s is not None
    assert fault.replacement_scheduled_s <= fault.replacement_ready_s
    assert fault.endpoints_converged_s is not None  # the victim was known to be routed to before the fault
    assert summary.recovery_observation.recovery_observed is False
    report = (outcome.run_dir / "report.md").read_text()
    assert "failures continued into the last 1 s of recovery: recovery not observed" in report
    # ...and the report says why: the drained node has no ready pod, and its NodePort is Local.
    (why,) = [f for f in summary.findings if f.rule == "traffic-policy-local"]
    (line,) = [line for line in why.evidence.lines if f"({drained})" in line]
    assert line.endswith(f"while {drained} had no ready pod.") and line in report
    assert why.evidence.failures == window.failed  # every failure of the drained node's address, nothing else
