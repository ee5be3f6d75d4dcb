"""Drain a node through the Eviction API: PodDisruptionBudgets honoured (a refused eviction is retried
after the next pod change, at most every ``PDB_RETRY_S``), DaemonSet and mirror pods skipped, and the
evicted pods watched until they are gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from chaoskit.cluster.kube import apply, disruption
from chaoskit.cluster.kube.api import JsonObj, KubeApi
from chaoskit.cluster.kube.watchers import Watchers
from chaoskit.cluster.protocol import WaitTimeout

PDB_RETRY_S = 5.0
"""Longest wait for a pod change before a refused eviction is retried (kubectl retries every 5 s);
the disruption controller updates a budget after the pod change that frees it, with no event of ours."""

WaitFor = Callable[..., Awaitable[Any]]


def pods_on_node(api: KubeApi, node: str, scope: frozenset[str] | None) -> list[JsonObj]:
    selector = [("fieldSelector", f"spec.nodeName={node}")]
    if scope is None:
        return list(api.request("GET", "/api/v1/pods", query=selector).get("items", []))
    out: list[JsonObj] = []
    for ns in sorted(scope):
        out += api.request("GET", f"/api/v1/namespaces/{ns}/pods", query=selector).get("items", [])
    return out


OnRefused = Callable[[JsonObj, str], None]
"""(the pod, the API's refusal message): called for every 429, so the run records each one."""


async def drain_node(api: KubeApi, watchers: Watchers, node: str, *, scope: frozenset[str] | None,
                     grace_seconds: float | None, timeout_s: float, wait_for: WaitFor,
                     on_refused: OnRefused | None = None) -> list[str]:
    """Evict every evictable pod on ``node`` (already cordoned); returns the evicted pod names."""
    deadline = time.monotonic() + timeout_s
    pods = await asyncio.to_thread(pods_on_node, api, node, scope)
    pending = [dict(p) for p in disruption.evictable(pods, namespaces=scope)[0]]
    evicted: list[JsonObj] = []
    while pending:
        still: list[JsonObj] = []
        for pod in pending:
            meta = pod["metadata"]
            refusal = await asyncio.to_thread(disruption.evict, api, meta["namespace"], meta["name"],
                                              grace_seconds=grace_seconds)
            (still if refusal else evicted).append(pod)
            if refusal and on_refused is not None:
                on_refused(pod, refusal)
        pending = still
        if pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeout(f"drain {node}: PodDisruptionBudgets still refuse evicting "
                                  f"{disruption.summarize(pending)} after {timeout_s:g}s",
                                  hint="the budget needs more ready replicas elsewhere")
            await _next_change(watchers, wait_for, min(PDB_RETRY_S, remaining))
    if not api.dry_run:
        await _wait_all_gone(api, watchers, evicted, deadline=deadline, node=node,
                             wait_for=wait_for)
    return sorted(p["metadata"]["name"] for p in evicted)


async def _next_change(watchers: Watchers, wait_for: WaitFor, timeout_s: float) -> None:
    start = watchers.generation
    # On timeout retry the eviction anyway: the budget may have changed without a pod event.
    with contextlib.suppress(WaitTimeout):
        await wait_for(lambda: True if watchers.generation != start else None,
                       timeout_s=timeout_s, what=lambda: "no pod change")


async def _wait_all_gone(api: KubeApi, watchers: Watchers, pods: list[JsonObj], *, deadline: float,
                         node: str, wait_for: WaitFor) -> None:
    for pod in pods:
        meta = pod["metadata"]
        remaining = max(0.0, deadline - time.monotonic())
        if watchers.watching(meta["namespace"]):
            continue  # checked together below, from the cache
        ref = apply.ObjectRef("v1", "Pod", meta["namespace"], meta["name"])
        await asyncio.to_thread(apply.wait_gone, api, ref, timeout_s=remaining)

    def gone() -> bool | None:
        for pod in pods:
            meta = pod["metadata"]
            if watchers.watching(meta["namespace"]):
                now = watchers.pod(meta["namespace"], meta["name"])
                if now is not None and now["metadata"].get("uid") == meta.get("uid"):
                    return None
        return True

    def left() -> str:
        return f"drain {node}: evicted pods still terminating: {disruption.summarize(pods)}"

    await wait_for(gone, timeout_s=max(0.0, deadline - time.monotonic()), what=left)
