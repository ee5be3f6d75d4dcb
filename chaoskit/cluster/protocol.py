"""The Cluster protocol: the one seam between chaoskit and a cluster backend.

Both backends (``local``: embedded processes on loopback; ``kube``: a real cluster through the official
client) implement it and pass the same contract tests in ``tests/contract``.
All timestamps are wall-clock nanoseconds (``time.time_ns()``) on the chaoskit host.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from chaoskit.vocab import ClusterEvent, EventKind, ServiceKind

__all__ = [
    "BackendNotes", "Cluster", "ClusterError", "ClusterEvent", "ConfigurationError", "ContainerInfo", "EventKind",
    "EventStream", "Manifest", "ManifestError", "MarkerUnsupportedError", "NodeFailureAgents", "NodeFailureMode",
    "NodeFailures", "NodeInfo", "NotFoundError", "PodInfo", "PodPhase", "ServiceAddress", "ServiceKind",
    "UnsafeTargetError", "WaitTimeout",
]

Manifest = Mapping[str, Any]
"""One Kubernetes object as parsed from YAML (``apiVersion``, ``kind``, ``metadata``, ...)."""


class PodPhase(enum.StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    UNKNOWN = "Unknown"


@dataclass(frozen=True, slots=True)
class ContainerInfo:
    name: str
    ready: bool
    running: bool
    restart_count: int
    mounts: Mapping[str, str] = field(default_factory=dict)
    """volume name -> mountPath inside the container."""


@dataclass(frozen=True, slots=True)
class PodInfo:
    namespace: str
    name: str
    uid: str
    ip: str | None
    node: str | None
    phase: PodPhase
    ready: bool
    terminating: bool
    labels: Mapping[str, str]
    containers: tuple[ContainerInfo, ...]
    owner: str | None
    """Name of the controlling workload (Deployment), if any."""
    created_ns: int
    volumes: Mapping[str, str] = field(default_factory=dict)
    """volume name -> volume type (``emptyDir``, ``hostPath``, ...), from the pod spec."""
    claims: Mapping[str, str] = field(default_factory=dict)
    """volume name -> PersistentVolumeClaim name, for ``persistentVolumeClaim`` volumes (a StatefulSet pod's
    ``<template>-<pod>``): a replacement that kept its identity has the same name and the same claims."""

    @property
    def restart_count(self) -> int:
        return sum(c.restart_count for c in self.containers)


@dataclass(frozen=True, slots=True)
class NodeInfo:
    name: str
    address: str
    """The address clients outside the cluster use for NodePort (InternalIP or an override)."""
    ready: bool
    schedulable: bool
    labels: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class ServiceAddress:
    """A host:port the load agent can open a TCP connection to."""

    kind: ServiceKind
    host: str
    port: int
    node: str | None = None
    """For NodePort: the node whose address this is."""
    traffic_local: bool = False
    """``externalTrafficPolicy: Local``: this node forwards only to ready pods on itself (none: dropped)."""

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


class ClusterError(Exception):
    """A backend operation failed; ``hint`` says what the user can do."""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


class ManifestError(ClusterError):
    """A manifest is malformed or uses something this backend cannot honour (bad input: exit 2)."""


class UnsafeTargetError(ClusterError):
    """The context or namespace is not one chaoskit may change (bad input: exit 2)."""


class ConfigurationError(ClusterError):
    """The backend cannot be set up as asked: a kubeconfig that is missing or broken, a context it does not
    hold (bad input: exit 2). An API server that does not answer is a ClusterError (exit 3)."""


class NotFoundError(ClusterError):
    """A named pod, node or service does not exist."""


class MarkerUnsupportedError(ClusterError):
    """A container cannot hold a data-check marker (no shell for the commands, a directory that is read-only or
    missing): that check cannot run there, which is neither a loss nor a survival. ``reason`` says why, short."""

    def __init__(self, message: str, *, reason: str, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.reason = reason


class WaitTimeout(ClusterError):
    """A watch-based wait ran out of time; the message says what was still missing."""


class EventStream(Protocol):
    """First the current state (live pods' events, ready endpoints, data-path syncs, node states, with their
    original stamps: cluster/events.py), then every event after ``Cluster.subscribe()`` returned."""

    def __aiter__(self) -> AsyncIterator[ClusterEvent]: ...

    def drain(self) -> list[ClusterEvent]:
        """Every event buffered so far, without waiting."""
        ...

    async def wait(self, timeout_s: float) -> bool:
        """Wait until at least one event is buffered (consuming none); False on timeout."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class Cluster(Protocol):
    """What an experiment needs from a cluster. Every wait watches, with a timeout; none sleeps blindly."""

    backend: str

    async def start(self) -> None: ...

    async def close(self) -> None:
        """Release everything this object started. Safe to call twice."""
        ...

    def subscribe(self) -> EventStream: ...

    def record(self, event: ClusterEvent) -> None:
        """Publish an event that chaoskit itself produced (fault begin/end, phase) on the same stream."""
        ...

    async def apply(self, manifests: Sequence[Manifest]) -> None: ...

    async def remove(self, manifests: Sequence[Manifest]) -> None: ...

    async def list_nodes(self) -> list[NodeInfo]: ...

    async def list_pods(self, namespace: str, selector: Mapping[str, str]) -> list[PodInfo]: ...

    async def wait_pods_ready(
        self, namespace: str, selector: Mapping[str, str], *, count: int, timeout_s: float
    ) -> list[PodInfo]:
        """Wait until exactly ``count`` non-terminating matching pods are Ready."""
        ...

    async def delete_pod(self, namespace: str, name: str, *, grace_seconds: float | None) -> None:
        """Graceful delete (``None`` = the pod's own grace period); ``0`` is a force delete."""
        ...

    async def kill_container(self, namespace: str, pod: str, container: str) -> None:
        """Kill the container's main process; the kubelet restarts it in place."""
        ...

    async def cordon(self, node: str) -> None: ...

    async def uncordon(self, node: str) -> None: ...

    async def drain(self, node: str, *, grace_seconds: float | None, timeout_s: float) -> list[str]:
        """Cordon, then evict every evictable pod on ``node``; returns the evicted pod names."""
        ...

    async def service_addresses(
        self, namespace: str, name: str, kind: ServiceKind, *, port: int | str | None = None
    ) -> list[ServiceAddress]:
        """How a client reaches one port of the Service (``port`` by name or number; default: the port named
        ``http``, else the first). NotFoundError when the Service or that port does not exist."""
        ...

    async def write_marker(
        self, namespace: str, pod: str, container: str, mount_path: str, marker: str
    ) -> None:
        """Write a file named ``marker`` into the directory ``mount_path`` (a volume's mount path, or a directory
        below it) in ``container``. MarkerUnsupportedError when the container cannot (no shell, read-only)."""
        ...

    async def read_marker(
        self, namespace: str, pod: str, container: str, mount_path: str, marker: str
    ) -> bool:
        """Whether the file named ``marker`` exists in the volume mounted at ``mount_path``."""
        ...

    async def remove_marker(
        self, namespace: str, pod: str, container: str, mount_path: str, marker: str
    ) -> None:
        """Delete the file named ``marker`` from the volume mounted at ``mount_path`` (already gone: fine).
        NotFoundError when the pod or the mount is gone."""
        ...

NodeFailureMode = Literal["stop", "partition"]
"""``stop``: the node is powered off (kubelet and pods stop); ``partition``: the node is cut from the API server
while its pods keep serving (split brain)."""


@runtime_checkable
class NodeFailures(Protocol):
    """A backend that can fail a node without a graceful drain (the ``node-failure`` fault needs it).

    Kept apart from ``Cluster`` so a backend without it still is a ``Cluster``; the fault's preflight refuses
    to run (exit 2) on a backend that is not a ``NodeFailures``.
    """

    async def protected_nodes(self) -> Mapping[str, str]:
        """Nodes a node failure must never hit, each with the reason (they run chaoskit, its load agent or
        the control plane). The embedded cluster has none: chaoskit and its load agent run on this host
        outside every logical node, like a client machine."""
        ...

    async def fail_node(self, node: str, *, mode: NodeFailureMode, duration_s: float) -> None:
        """Fail ``node`` now (no drain, no cordon). The backend brings it back by itself ``duration_s`` later,
        also if chaoskit is gone by then; ``restore_node`` brings it back earlier. The node controller's
        reaction (NotReady after its grace period, taint-based eviction after each pod's
        ``tolerationSeconds``) is the cluster's own and shows up as events."""
        ...

    async def restore_node(self, node: str) -> None:
        """Bring a failed node back (Ready again, cordon state as before). A no-op if it is not failed."""
        ...


@runtime_checkable
class NodeFailureAgents(NodeFailures, Protocol):
    """A ``NodeFailures`` backend that fails a node through an agent it starts on the node first (kube: a privileged
    pod). The ``node-failure`` fault checks it before anything is applied and arms it just before the fault
    instant, so the failure takes effect at the instant rather than after the agent's start."""

    async def check_node_failures(self) -> None:
        """Raise ``UnsafeTargetError`` when this backend may not start its agents here (rights, admission)."""
        ...

    async def arm_node(self, node: str, *, mode: NodeFailureMode, duration_s: float) -> None:
        """Get ready to fail ``node`` (its agent started); ``restore_node`` removes an agent never told to fail."""
        ...


@runtime_checkable
class BackendNotes(Protocol):
    """A backend with something to say in the run's notes (what it does not model for these objects, what it
    could not carry itself: e.g. the embedded cluster's proxy saturated)."""

    def run_notes(self) -> list[str]: ...
