"""The target before the load starts: a workload that already runs (an experiment without manifests), the
Services discovered when ``load.services`` is left out, and the NodePort addresses worth loading.

The engine (``runner.py`` ``_setup`` / ``_load_targets``) and ``--dry-run`` both use these, so a dry run names
the same objects and Services the run will use. Nothing here changes the cluster.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from chaoskit.cluster.existing import ExistingTargetError, ExistingWorkloads, ResolvedTarget, resolve
from chaoskit.cluster.protocol import Cluster, ManifestError, ServiceAddress
from chaoskit.discovery import DiscoveryError, FoundService, discover
from chaoskit.experiment import Experiment
from chaoskit.experiment.crosscheck import cross_check_objects
from chaoskit.experiment.diagnostics import path_of
from chaoskit.experiment.models import LoadedService
from chaoskit.vocab import pod_template_labels, selector_matches

NO_EXISTING_HINT = ("run it on a real cluster (--backend kube), or give the embedded cluster manifests to apply: "
                    "`chaoskit init --manifests FILE...` writes such an experiment")


def no_existing_workloads(backend: str) -> ManifestError:
    """An experiment without manifests on a backend that holds nothing it did not apply (bad input)."""
    return ManifestError(f"the experiment has no target.manifests, and the {backend} backend has no workloads "
                         "of its own to test: it runs only what an experiment applies", hint=NO_EXISTING_HINT)


async def resolve_existing(cluster: Cluster, experiment: Experiment) -> ResolvedTarget:
    """The running target the experiment names, checked against it (volumes, containers, Services, ports) before
    anything changes. Raises ExistingTargetError naming each object or field that does not fit."""
    target = experiment.target
    if not isinstance(cluster, ExistingWorkloads):
        raise no_existing_workloads(cluster.backend)
    live = await cluster.read_namespace(target.namespace)
    workload = (target.workload.kind, target.workload.name) if target.workload is not None else None
    resolved = resolve(live, selector=target.selector, workload=workload)
    problems = cross_check_objects(experiment, [*resolved.templates, *live.services], resolved.selector,
                                   where=f"in namespace {target.namespace}")
    if problems:
        model = type(experiment)
        raise ExistingTargetError("; ".join(f"{path_of(model, p.loc)}: {p.message}" for p in problems),
                                  hint="; ".join(p.hint for p in problems if p.hint))
    return resolved


def with_selector(experiment: Experiment, selector: Mapping[str, str]) -> Experiment:
    """The experiment with the resolved selector of its running target (a workload's matchLabels), so faults,
    data checks, discovery and the saved spec all name the same pods. The spec stays valid (``workload`` and
    ``selector`` may stand together)."""
    target = experiment.target.model_copy(update={"selector": dict(selector)})
    return experiment.model_copy(update={"target": target})


async def discovered_services(cluster: Cluster, experiment: Experiment, manifests: Sequence[Mapping[str, Any]], *,
                              live: bool) -> list[FoundService]:
    """The Services that select the target's pods: read from the cluster (``live``: it can list them and they
    are there: kube, after setup or for a running target), else from the manifests. Raises ExistingTargetError
    (bad input) when none does or a port cannot be chosen."""
    target = experiment.target
    if live and isinstance(cluster, ExistingWorkloads):
        running = await cluster.read_namespace(target.namespace)
        services: Sequence[Mapping[str, Any]] = running.services
        labels = [_labels(p) for p in running.pods if selector_matches(target.selector, _labels(p))]
    else:
        services = [m for m in manifests if m.get("kind") == "Service"]
        labels = [found for m in manifests if (found := pod_template_labels(m)) is not None
                  and selector_matches(target.selector, found)]
    try:
        return discover(services, labels, live=live and isinstance(cluster, ExistingWorkloads))
    except DiscoveryError as exc:
        raise ExistingTargetError(f"load.services is left out and {exc}", hint=exc.hint) from None


def as_loaded(found: Sequence[FoundService]) -> list[LoadedService]:
    """Discovered Services as the experiment would list them."""
    return [LoadedService(name=f.name, types=list(f.ways), port=f.port) for f in found]


def discovery_note(found: Sequence[FoundService]) -> str:
    return ("load.services discovered (Services whose selector matches the target's pods): "
            + "; ".join(f.describe() for f in found))


async def ready_nodes(cluster: Cluster, namespace: str, selector: Mapping[str, str]) -> set[str]:
    """Nodes that run a ready target pod now."""
    pods = await cluster.list_pods(namespace, selector)
    return {p.node for p in pods if p.ready and not p.terminating and p.node}


def dark_local_addresses(addresses: Sequence[ServiceAddress],
                         nodes: set[str]) -> tuple[list[ServiceAddress], list[ServiceAddress]]:
    """(loaded, left out): an ``externalTrafficPolicy: Local`` NodePort on a node with no ready target pod is
    dark by design (kube-proxy drops its traffic; a load balancer's health check skips that node), so it is not
    loaded; every other address is."""
    dark = [a for a in addresses if a.traffic_local and a.node and a.node not in nodes]
    return [a for a in addresses if a not in dark], dark


def dark_note(service: str, kind: str, dark: Sequence[ServiceAddress]) -> str:
    return (f"{service} {kind}: not loaded on {', '.join(a.node or '?' for a in dark)}: externalTrafficPolicy Local "
            "and no ready target pod there at the start (kube-proxy drops that traffic by design; a load balancer's "
            "health check skips such nodes)")


def _labels(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    labels = meta.get("labels") if isinstance(meta, Mapping) else None
    return labels if isinstance(labels, Mapping) else {}
