"""The informers one KubeCluster runs (Nodes cluster-wide; Pods and EndpointSlices per namespace) and the
translation of their changes into ClusterEvents on the host clock.

Endpoint events are the control plane's view (EndpointSlice ready conditions): kube-proxy's programming
of the data path is not observable through the API, so the kube backend emits no PROXY_SYNCED.

The first list of a namespace is reported too: every pod as added (with its scheduled/running/Ready
state) and every ready endpoint as ENDPOINT_ADDED, stamped when the list arrived. The event bus keeps
them as current state, so a run that subscribes later still knows what existed before it (cluster/events.py).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from chaoskit.cluster.kube.api import JsonObj, KubeApi
from chaoskit.cluster.kube.informer import Informer, Notifier, OnChange, OnSync, ThreadsafePublisher
from chaoskit.cluster.kube.translate import (
    Endpoint,
    endpoint_events,
    initial_endpoint_events,
    initial_pod_events,
    node_events,
    pod_events,
    ready_endpoints,
    ready_sets,
    service_of,
    slice_trigger_time,
)
from chaoskit.cluster.protocol import ClusterError

FATAL_WAITING_REASONS = frozenset({
    "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull",
    "CreateContainerConfigError",
})
"""Container waiting reasons that no amount of waiting fixes: waits fail at once with the reason."""
BROKEN_AFTER = 4
"""Consecutive failed watch requests (about 3 s of back-off) after which waits give up."""


def failing_reason(pod: JsonObj) -> str | None:
    """Why ``pod`` will never become ready, or None. A terminating pod's terminal phase is its end,
    not a failure (since 1.27 the kubelet marks deleted pods Failed/Succeeded)."""
    if pod.get("metadata", {}).get("deletionTimestamp"):
        return None
    status = pod.get("status", {})
    if status.get("phase") == "Failed":
        return f"phase Failed ({status.get('reason', '')}: {status.get('message', '')})"
    for st in status.get("containerStatuses") or []:
        waiting = (st.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in FATAL_WAITING_REASONS:
            return f"container {st.get('name')}: {waiting['reason']}: {waiting.get('message', '')}"
    return None


class Watchers:
    """Starts informers on demand and turns their changes into events and wake-ups."""

    def __init__(self, api: KubeApi, hub: ThreadsafePublisher, notifier: Notifier, *, window_s: int) -> None:
        self._api, self._hub, self._notifier, self._window_s = api, hub, notifier, window_s
        self._lock = threading.Lock()
        self._nodes: Informer | None = None
        self._pods: dict[str, Informer] = {}
        self._slices: dict[str, Informer] = {}
        self._ready: dict[tuple[str, str], dict[str, Endpoint]] = {}
        self.generation = 0
        """Counts observed changes; waits compare it to see that something happened."""

    def _informer(self, path: str, on_change: OnChange, on_sync: OnSync | None = None) -> Informer:
        informer = Informer(self._api, path, on_change=on_change, window_s=self._window_s,
                            on_sync=on_sync)
        informer.on_error = self._notifier.notify_threadsafe  # waits re-check health at once
        return informer

    def raise_if_broken(self) -> None:
        """A wait's failure condition: a watch that failed BROKEN_AFTER times in a row."""
        with self._lock:
            informers = [i for i in (self._nodes,) if i] + list(self._pods.values()) + list(
                self._slices.values())
        for informer in informers:
            if informer.failing >= BROKEN_AFTER:
                raise ClusterError(f"watch {informer.path} keeps failing: {informer.errors[-1]}",
                                   hint="is the API server still up?")

    def _await_sync(self, informer: Informer) -> None:
        if not informer.synced.wait(self._api.timeout_s):
            last = informer.errors[-1] if informer.errors else "no answer"
            raise ClusterError(f"cannot list {informer.path}: {last}",
                               hint="check RBAC list/watch rights (docs/rbac.md)")

    def start_nodes(self) -> None:
        with self._lock:
            if self._nodes is None:
                self._nodes = self._informer("/api/v1/nodes", self._on_node)
                self._nodes.start()
        self._await_sync(self._nodes)

    def ensure_namespace(self, namespace: str) -> None:
        """Watch pods and endpoint slices of ``namespace``; returns once both lists are in the caches."""
        with self._lock:
            if namespace not in self._pods:
                # Stored before started: callbacks look their informer up in these dicts.
                self._pods[namespace] = self._informer(
                    f"/api/v1/namespaces/{namespace}/pods", self._on_pod, self._seed_pods)
                self._slices[namespace] = self._informer(
                    f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices",
                    lambda old, new, ts: self._on_slice(namespace, old, new, ts),
                    lambda items, ts: self._seed_slices(namespace, items, ts))
                self._pods[namespace].start()
                self._slices[namespace].start()
        self._await_sync(self._pods[namespace])
        self._await_sync(self._slices[namespace])

    def pods(self, namespace: str) -> list[JsonObj]:
        informer = self._pods.get(namespace)
        return informer.snapshot() if informer else []

    def pod(self, namespace: str, name: str) -> JsonObj | None:
        informer = self._pods.get(namespace)
        if informer is None:
            return None
        with informer.lock:
            return informer.cache.get(f"{namespace}/{name}")

    def ready_ips(self, namespace: str, service: str) -> set[str]:
        """The Service's ready endpoint addresses as the watched EndpointSlices say now."""
        with self._lock:
            return set(self._ready.get((namespace, service), {}))

    def watching(self, namespace: str) -> bool:
        return namespace in self._pods

    @staticmethod
    def raise_if_failing(pods: Sequence[JsonObj]) -> None:
        for pod in pods:
            reason = failing_reason(pod)
            if reason is not None:
                raise ClusterError(f"pod {pod['metadata'].get('name')} cannot become ready: {reason}",
                                   hint="kubectl describe pod shows the details")

    def stop(self) -> None:
        with self._lock:
            informers = [i for i in (self._nodes,) if i] + list(self._pods.values()) + list(
                self._slices.values())
        for informer in informers:
            informer.stop()

    # -- callbacks (informer threads) ---------------------------------------------------------------
    def _on_pod(self, old: JsonObj | None, new: JsonObj | None, ts: int) -> None:
        self._hub.publish_threadsafe(pod_events(old, new, ts_ns=ts))
        self._changed()

    def _on_node(self, old: JsonObj | None, new: JsonObj | None, ts: int) -> None:
        self._hub.publish_threadsafe(node_events(old, new, ts_ns=ts))
        self._changed()

    def _seed_pods(self, items: list[JsonObj], ts: int) -> None:
        """The pods that existed before we watched, reported as added at the moment of the first list."""
        self._hub.publish_threadsafe(initial_pod_events(items, ts_ns=ts))

    def _seed_slices(self, namespace: str, items: list[JsonObj], ts: int) -> None:
        """The ready sets that existed before we watched: later events are differences to these, and
        they are reported as ENDPOINT_ADDED at the moment of the first list."""
        with self._lock:
            for service, ready in ready_sets(items).items():
                self._ready[(namespace, service)] = dict(ready)
        self._hub.publish_threadsafe(initial_endpoint_events(namespace, items, ts_ns=ts))

    def _on_slice(self, namespace: str, old: JsonObj | None, new: JsonObj | None, ts: int) -> None:
        # One slice changed; the Service's ready set is the union over all its slices, since an
        # endpoint may move between slices without ever leaving the Service.
        service = service_of(new or old or {})
        if not service:
            return
        current: dict[str, Endpoint] = {}
        for sl in self._slices[namespace].snapshot():
            if service_of(sl) == service:
                current.update(ready_endpoints(sl))
        key = (namespace, service)
        with self._lock:
            before = self._ready.get(key, {})
            self._ready[key] = current
        source = slice_trigger_time(new or old or {})
        self._hub.publish_threadsafe(endpoint_events(namespace, service, before, current,
                                                     ts_ns=ts, source_ts_ns=source))
        self._changed()

    def _changed(self) -> None:
        with self._lock:
            self.generation += 1
        self._notifier.notify_threadsafe()
