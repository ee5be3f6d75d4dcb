"""The engine: setup -> baseline -> chaos -> recovery -> verify -> teardown, with undo on every exit path."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from dataclasses import dataclass
from pathlib import Path

from chaoskit import __version__
from chaoskit.analysis.evidence import AddressFacts, RunFacts, SteadyState
from chaoskit.analysis.stored import StoredTable
from chaoskit.analysis.summary import summarize
from chaoskit.analysis.templates import manifest_facts
from chaoskit.checks.markers import DataChecker
from chaoskit.cluster.existing import ExistingWorkloads, ResolvedTarget, desired_replicas
from chaoskit.cluster.manifests import SourcedManifest, in_namespace, load_manifest_files
from chaoskit.cluster.protocol import (
    BackendNotes,
    Cluster,
    ClusterError,
    ClusterEvent,
    EventKind,
    EventStream,
    ManifestError,
)
from chaoskit.engine.collect import Collector
from chaoskit.engine.firing import FaultScheduler, Firing
from chaoskit.engine.observer import Observers
from chaoskit.engine.reachability import CONSECUTIVE_OK, wait_reachable
from chaoskit.engine.record import RunContext, RunRecord
from chaoskit.engine.rundir import RunDir
from chaoskit.engine.save import save_run, slo_targets
from chaoskit.engine.targets import (
    as_loaded,
    dark_local_addresses,
    dark_note,
    discovered_services,
    discovery_note,
    ready_nodes,
    resolve_existing,
    with_selector,
)
from chaoskit.experiment import Experiment
from chaoskit.faults.base import FaultContext, UndoStack
from chaoskit.faults.registry import FaultRegistry, default_registry
from chaoskit.load.agent import AgentReport
from chaoskit.load.plan import LoadPlan, LoadTarget
from chaoskit.load.sizing import choose_workers
from chaoskit.load.source import InClusterLoad, LoadGroup
from chaoskit.load.workers import local_agent
from chaoskit.vocab import LoadOrigin, expected_replicas, selector_text

PHASES = ("baseline", "chaos", "recovery")
LOAD_START_DELAY_S = 1.0
"""The agent on this host gets this long to start before its first scheduled request (an in-cluster agent
sets the instant itself, see ``chaoskit.cluster.kube.incluster.START_LEAD_S``)."""


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    out_dir: Path = Path("runs")
    """Parent of the run directories."""
    seed: int | None = None
    """Seeds victim choice (and the local cluster's names and placement)."""
    ready_timeout_s: float = 120.0
    """How long setup and verify wait for the target's pods to be Ready."""
    data_check_timeout_s: float = 60.0
    """How long a data check waits for a victim's successor to be Ready."""


class Engine:
    """Runs one experiment against one cluster; ``run`` saves the run directory and returns the ``RunRecord``."""

    def __init__(self, experiment: Experiment, cluster: Cluster, *, options: RunOptions | None = None,
                 observers: Observers | None = None, registry: FaultRegistry | None = None) -> None:
        self.experiment = experiment
        self.cluster = cluster
        self.options = options or RunOptions()
        self.observers = observers or Observers()
        self.registry = registry or default_registry()
        self.rng = random.Random(self.options.seed)
        self.undo = UndoStack()
        self.run_dir = RunDir(self.options.out_dir, experiment.name)
        self.collector = Collector(self.observers, self.run_dir.path)
        self.notes: list[str] = []
        self._load = LoadGroup()
        self._agent_report: AgentReport | None = None
        self._scheduler: FaultScheduler | None = None
        self._targets: list[tuple[str, LoadTarget]] = []
        self._planned_requests: int | None = None
        self._steady: SteadyState | None = None
        self._addresses: list[AddressFacts] = []
        self._existing: ResolvedTarget | None = None
        """The running target, when the experiment has no manifests (resolved in setup)."""

    def load_description(self) -> str:
        """One line for the report: rate, connection mode, timeout and the addresses loaded."""
        load = self.experiment.load
        if not self._targets:
            return f"{load.rate:g} req/s per address, {load.connection}, timeout {load.timeout:g} s (never started)"
        targets = ", ".join(f"{t.service_type} {t.host}:{t.port}" + (" from an in-cluster Job" if origin != "local"
                                                                      else "") for origin, t in self._targets)
        return (f"{load.rate:g} req/s per address at constant arrival, {load.connection}, "
                f"timeout {load.timeout:g} s, no retries; {targets}")

    async def run(self) -> RunRecord:
        """Run every phase, undo every fault, save the run directory (also when aborted or failing)."""
        aborted = False
        stream: EventStream | None = None
        try:
            await self.cluster.start()
            stream = self.cluster.subscribe()  # the watcher starts before anything is applied or injected
            self.collector.watch(stream)
            await self._preflight()
            await self._run_phases()
        except asyncio.CancelledError:
            aborted = True
            self.notes.append("aborted by the user: partial results")
        finally:
            await asyncio.shield(self._teardown())
            if stream is not None:
                self.collector.drain_events()
                stream.close()
            # The analysis and report.html read requests.parquet in passes; the record keeps only the file.
            requests = self.collector.requests().table()
            try:
                record = self._record(requests, aborted=aborted)
                save_run(record, self.run_dir, requests=requests)
            finally:
                requests.close()
        return record

    def _record(self, requests: StoredTable, *, aborted: bool) -> RunRecord:
        spec = self.experiment
        events = self.collector.events()
        agent = dataclasses.asdict(self._agent_report) if self._agent_report else None
        checks = list(self._scheduler.checker.results) if self._scheduler else []
        summary = summarize(requests, events, checks, slo_targets(spec), experiment=spec.name,
                            backend=self.cluster.backend, run_id=self.run_dir.run_id, aborted=aborted, agent=agent,
                            facts=self._facts())
        backend_notes = self.cluster.run_notes() if isinstance(self.cluster, BackendNotes) else []
        context = RunContext(notes=(*self.notes, *backend_notes, *self.observers.notes()),
                             load=self.load_description(), seed=self.options.seed, version=__version__,
                             workers=self._agent_report.workers if self._agent_report else ())
        return RunRecord(run_dir=self.run_dir.path, experiment=spec, requests=self.collector.requests(), events=events,
                         summary=summary, context=context, agent=self._agent_report)

    # --- phases ------------------------------------------------------------------------------
    async def _preflight(self) -> None:
        """Each fault checks the cluster before anything is applied (a refusal is bad input: nothing changed)."""
        for fault in self.experiment.faults:
            await self.registry.create(fault).preflight(self.cluster)

    async def _run_phases(self) -> None:
        spec = self.experiment
        manifests = self._manifests()
        await self._setup(manifests)
        t0_ns = await self._start_load(await self._load_targets())
        bounds = self._phase_bounds(t0_ns)
        scheduler = self._scheduler = self._fault_scheduler()
        for phase, (begin_ns, end_ns) in zip(PHASES, bounds, strict=True):
            self._phase_event(phase, "begin", begin_ns)
            self.observers.on_phase(phase, end_ns)
            if phase == "chaos":
                scheduler.start(begin_ns)
            await _sleep_until(end_ns)
            self._phase_event(phase, "end", end_ns)
        self._agent_report = await self._load.wait(timeout_s=spec.load.timeout + 30)
        self.notes.extend(self._load.notes)
        # Load not delivered (a worker died, an agent stopped early) is not a lighter run: the verdict says
        # INCONCLUSIVE with the problems (RunFacts.load_problems), and the run still verifies and saves.
        self.observers.on_phase("verify", time.time_ns())
        await scheduler.finish(timeout_s=self.options.data_check_timeout_s)
        self.notes.extend(scheduler.notes)
        await self._verify()

    def _facts(self) -> RunFacts:
        """What the verdict weighs beyond the tables: each firing as it happened, the planned load, the
        steady-state wait."""
        scheduler = self._scheduler
        planned = len(self.experiment.fault_instants())
        return RunFacts(firings=tuple(scheduler.outcomes.values()) if scheduler else (), planned_firings=planned,
                        planned_requests=self._planned_requests, steady_state=self._steady,
                        addresses=tuple(self._addresses),
                        load_problems=self._agent_report.problems if self._agent_report else (),
                        manifests=manifest_facts(self._manifests(), self.experiment.target.selector))

    def _fault_scheduler(self) -> FaultScheduler:
        spec = self.experiment
        target = spec.target
        ctx = FaultContext(cluster=self.cluster, namespace=target.namespace, selector=target.selector,
                           rng=self.rng, undo=self.undo)
        checker = DataChecker(self.cluster, spec.data, run_id=self.run_dir.run_id, namespace=target.namespace,
                              selector=target.selector, timeout_s=self.options.data_check_timeout_s,
                              undo=self.undo)  # every marker written is removed again on every exit path
        firings = [Firing(offset, fault) for offset, fault in spec.fault_instants()]
        return FaultScheduler(firings, registry=self.registry, ctx=ctx, checker=checker)

    def _manifests(self) -> list[SourcedManifest]:
        """The target's manifests, namespaced as ``kubectl apply -n target.namespace`` would."""
        namespace = self.experiment.target.namespace
        manifests, defaulted = in_namespace(load_manifest_files(self.experiment.target.manifests), namespace)
        if defaulted and not any(n.startswith("namespace defaulted") for n in self.notes):
            self.notes.append(f"namespace defaulted: {', '.join(defaulted)} had no metadata.namespace and went "
                              f"into {namespace} (as `kubectl apply -n {namespace}`)")
        return manifests

    async def _start_load(self, targets: list[LoadTarget]) -> int:
        """Start the agents (in the cluster first: it picks the first request's instant, t0) and return t0."""
        spec = self.experiment
        here, inside = await self._split_by_origin(targets)
        self._targets = [("local", t) for t in here] + [("in-cluster", t) for t in inside]
        await self._reach_steady_state(here)

        workers = {id(group): choose_workers(spec.load.workers, group, rate=spec.load.rate,
                                             connection=spec.load.connection, in_cluster=group is inside)
                   for group in (here, inside) if group}
        self.notes.extend(note for choice in workers.values() for note in choice.notes)

        def plan(chosen: list[LoadTarget], start_at_ns: int | None = None) -> LoadPlan:
            return LoadPlan(targets=tuple(chosen), rate=spec.load.rate, duration_s=spec.total_duration_s,
                            connection=spec.load.connection, timeout_s=spec.load.timeout, start_at_ns=start_at_ns,
                            workers=workers[id(chosen)].count)

        t0_ns: int | None = None
        self._planned_requests = sum(plan(group).requests_per_target * len(group) for group in (here, inside) if group)
        if inside:
            assert isinstance(self.cluster, InClusterLoad)
            remote = self.cluster.in_cluster_agent(spec.target.namespace, plan(inside),
                                                   start_timeout_s=self.options.ready_timeout_s)
            self._load.add(LoadOrigin.IN_CLUSTER, remote)
            await remote.start()
            t0_ns = remote.t0_ns
        if here:
            # Without an in-cluster instant the agents pick t0 once every process is up (start_lead_s after).
            local = local_agent(plan(here, t0_ns))
            self._load.add(LoadOrigin.LOCAL, local)
            await local.start()
            t0_ns = local.t0_ns
        self.collector.start(self._load)
        assert t0_ns is not None
        return t0_ns

    async def _reach_steady_state(self, targets: list[LoadTarget]) -> None:
        """Before the baseline: every address loaded from here answers CONSECUTIVE_OK times in a row (bounded)."""
        began = time.monotonic()
        await wait_reachable(targets, timeout_s=self.options.ready_timeout_s)
        self._steady = SteadyState(reached=True, waited_s=round(time.monotonic() - began, 3),
                                   consecutive=CONSECUTIVE_OK,
                                   addresses=tuple(f"{t.service_type} {t.host}:{t.port}" for t in targets))

    async def _split_by_origin(self, targets: list[LoadTarget]) -> tuple[list[LoadTarget], list[LoadTarget]]:
        """(load from this process, load from inside the cluster): only ClusterIP can need the latter."""
        cluster, namespace = self.cluster, self.experiment.target.namespace
        if not isinstance(cluster, InClusterLoad):
            if self.experiment.load.from_ == LoadOrigin.IN_CLUSTER:
                self.notes.append(f"load.from in-cluster: the {cluster.backend} backend's ClusterIPs answer on this "
                                  "host, so all load ran from this process")
            return targets, []
        here: list[LoadTarget] = []
        inside: list[LoadTarget] = []
        for target in targets:
            remote = target.service_type == "ClusterIP" and (
                await cluster.load_origin(namespace, target.service) == LoadOrigin.IN_CLUSTER)
            (inside if remote else here).append(target)
        return here, inside

    def _phase_bounds(self, t0: int) -> list[tuple[int, int]]:
        phases = self.experiment.phases
        lengths = (phases.baseline, phases.chaos, phases.recovery)
        bounds, begin = [], t0
        for length in lengths:
            end = begin + int(length * 1e9)
            bounds.append((begin, end))
            begin = end
        return bounds

    def _phase_event(self, phase: str, edge: str, ts_ns: int) -> None:
        self.cluster.record(ClusterEvent(ts_ns, EventKind.PHASE, self.experiment.target.namespace, phase,
                                         detail=edge))

    async def _setup(self, manifests: list[SourcedManifest]) -> None:
        target = self.experiment.target
        cluster = self.cluster
        if target.existing:  # what already runs: read and checked, never applied, changed or removed
            await self._setup_existing()
            return

        async def remove() -> None:
            await cluster.remove(manifests)

        count = self._replicas(manifests)
        if count == 0:
            raise ManifestError(f"the manifests ask for 0 pods matching {selector_text(target.selector)} in "
                                f"{target.namespace}: there is nothing to test",
                                hint="give the workload at least one replica (spec.replicas), or set target.replicas")
        self.undo.push("remove the experiment's objects", remove)
        await cluster.apply(manifests)
        await cluster.wait_pods_ready(target.namespace, target.selector, count=count,
                                      timeout_s=self.options.ready_timeout_s)

    async def _setup_existing(self) -> None:
        """Resolve the running target (its selector then stands in the spec the run saves), say what it is."""
        resolved = self._existing = await resolve_existing(self.cluster, self.experiment)
        self.experiment = with_selector(self.experiment, resolved.selector)
        target = self.experiment.target
        self.notes.extend(resolved.notes())
        await self.cluster.wait_pods_ready(target.namespace, target.selector, count=self._replicas([]),
                                           timeout_s=self.options.ready_timeout_s)

    def _replicas(self, manifests: list[SourcedManifest]) -> int:
        """The expected pod count: the spec's, else what the manifests (or the running workloads) ask for; bare
        Pods a fault deleted are not coming back."""
        target = self.experiment.target
        if target.replicas is not None:
            count = target.replicas
        elif self._existing is not None:
            count = self._existing.replicas
        else:
            count = expected_replicas(manifests, target.selector)
        gone = len(self._scheduler.bare_victims) if self._scheduler else 0
        return max(0, count - gone)

    async def _load_targets(self) -> list[LoadTarget]:
        spec = self.experiment
        namespace = spec.target.namespace
        services = spec.load.services
        if not services:
            found = await discovered_services(self.cluster, spec, self._manifests(),
                                              live=isinstance(self.cluster, ExistingWorkloads))
            self.notes.append(discovery_note(found))
            services = as_loaded(found)
        nodes = await ready_nodes(self.cluster, namespace, spec.target.selector)
        targets: list[LoadTarget] = []
        for service in services:
            shape = service.request.shape(spec.load.path)
            for kind in service.types:
                addresses, dark = dark_local_addresses(
                    await self.cluster.service_addresses(namespace, service.name, kind, port=service.port), nodes)
                if dark:
                    self.notes.append(dark_note(service.name, kind.value, dark))
                if not addresses:
                    raise ClusterError(f"service {service.name} has no {kind} address",
                                       hint=f"check that the Service is of type {kind} in the manifests")
                chosen = addresses[:1] if kind.value == "ClusterIP" else addresses
                self._addresses.extend(AddressFacts(service.name, kind.value, f"{a.host}:{a.port}" + (
                    f" ({a.node})" if a.node else ""), node=a.node or "", traffic_local=a.traffic_local)
                    for a in chosen)
                targets.extend(LoadTarget(service.name, kind.value, a.host, a.port, shape.path_cycle(spec.load.path)[0],
                                          node=a.node or "", request=shape) for a in chosen)
        return targets

    async def _verify(self) -> None:
        target = self.experiment.target
        try:
            manifests = self._manifests()
            count = self._replicas(manifests)
            if self._existing is not None and target.replicas is None and isinstance(self.cluster, ExistingWorkloads):
                now = desired_replicas(await self.cluster.read_namespace(target.namespace), self._existing)
                if now != self._existing.replicas:  # e.g. an autoscaler changed it while the run went on
                    self.notes.append(f"verify: the workloads now want {now} pods (at the start: "
                                      f"{self._existing.replicas}); verified against {now}")
                    count = max(0, count + now - self._existing.replicas)
            await self.cluster.wait_pods_ready(target.namespace, target.selector, count=count,
                                               timeout_s=self.options.ready_timeout_s)
        except ClusterError as exc:
            self.notes.append(f"verify: the target did not return to its ready pod count: {exc}")

    async def _teardown(self) -> None:
        if self._scheduler is not None:
            self._scheduler.cancel()
        await self._load.stop()
        self.collector.stop()  # also when the run failed before the agent started: the pump must end
        for failure in await self.undo.run_all():
            self.notes.append(f"undo failed: {failure}")
        await self.cluster.close()


async def _sleep_until(ts_ns: int) -> None:
    delay = (ts_ns - time.time_ns()) / 1e9
    if delay > 0:
        await asyncio.sleep(delay)
