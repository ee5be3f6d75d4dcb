"""Builds the Cluster a command asked for: the embedded local cluster, or a real one through kubeconfig."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from chaoskit.cluster.local.cluster import LocalCluster
from chaoskit.cluster.local.config import config_for
from chaoskit.cluster.protocol import Cluster
from chaoskit.experiment import Experiment

if TYPE_CHECKING:
    from chaoskit.cluster.kube.config import KubeOptions


@dataclass(frozen=True, kw_only=True)
class KubeFlags:
    context: str | None = None
    kubeconfig: Path | None = None
    allow_contexts: tuple[str, ...] = ()
    yes: bool = False
    dry_run: bool = False
    create_namespace: bool = False
    agent_image: str | None = None
    agent_cpu: str | None = None
    node_agent_image: str | None = None


def make_cluster(backend: str, spec: Experiment, flags: KubeFlags, *, seed: int | None) -> Cluster:
    if backend == "local":
        return LocalCluster(config_for(spec.target.cluster), seed=seed)
    from chaoskit.cluster.kube.cluster import KubeCluster

    return KubeCluster(kube_options(spec, flags))


def kube_options(spec: Experiment, flags: KubeFlags) -> KubeOptions:
    from chaoskit.cluster.kube.config import AGENT_IMAGE, NODE_AGENT_IMAGE, KubeOptions

    return KubeOptions(
        context=flags.context, kubeconfig=flags.kubeconfig, allow_contexts=flags.allow_contexts, yes=flags.yes,
        dry_run=flags.dry_run, namespaces=frozenset({spec.target.namespace}), load_from=spec.load.from_,
        create_namespaces=flags.create_namespace, agent_image=flags.agent_image or AGENT_IMAGE,
        agent_cpu=flags.agent_cpu or "1",
        node_agent_image=flags.node_agent_image or NODE_AGENT_IMAGE,
    )


def preflight(backend: str, spec: Experiment, flags: KubeFlags) -> None:
    """The backend's own checks that need no network (kube: kubeconfig, context, allowlist); raises
    ConfigurationError or UnsafeTargetError (both bad input)."""
    if backend == "kube":
        from chaoskit.cluster.kube.config import preflight as kube_preflight

        kube_preflight(kube_options(spec, flags))
