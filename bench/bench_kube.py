"""How fast the kube backend sees a pod delete, on one host clock: fault call -> POD_TERMINATING,
ENDPOINT_REMOVED, replacement POD_READY and ENDPOINT_ADDED; force vs graceful side by side in one run.

Needs a cluster: `eval "$(testbed/env)"; .venv/bin/python bench/bench_kube.py [rounds]`.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

from chaoskit.cluster.protocol import ClusterEvent, EventKind
from tests.kube.support import kube_cluster, unique_namespace
from tests.kube.test_kube_backend import WEB, web


async def one_delete(cluster, ns: str, grace: float | None) -> dict[str, float]:  # type: ignore[no-untyped-def]
    pods = await cluster.wait_pods_ready(ns, WEB, count=3, timeout_s=90)
    await cluster.wait_endpoints(ns, "contract-web", [p.ip for p in pods], timeout_s=30)
    victim = pods[0]
    events = cluster.subscribe()
    t0 = time.time_ns()
    await cluster.delete_pod(ns, victim.name, grace_seconds=grace)
    after = await cluster.wait_pods_ready(ns, WEB, count=3, timeout_s=90)
    fresh = next(p for p in after if p.name not in {q.name for q in pods})
    await cluster.wait_endpoints(ns, "contract-web", [p.ip for p in after], timeout_s=30)
    seen: list[ClusterEvent] = events.drain()
    events.close()

    def at(kind: EventKind, **match: str) -> float:
        ts = min(e.ts_ns for e in seen
                 if e.kind is kind and all(getattr(e, k) == v for k, v in match.items()))
        return (ts - t0) / 1e6

    return {
        "terminating": at(EventKind.POD_TERMINATING, name=victim.name),
        "endpoint_removed": at(EventKind.ENDPOINT_REMOVED, ip=victim.ip, service="contract-web"),
        "replacement_ready": at(EventKind.POD_READY, name=fresh.name),
        "endpoint_added": at(EventKind.ENDPOINT_ADDED, ip=fresh.ip, service="contract-web"),
    }


async def main(rounds: int) -> None:
    ns = unique_namespace("bench")
    cluster = kube_cluster(os.environ["CHAOSKIT_KUBE_CONTEXT"], ns)
    await cluster.start()
    results: dict[str, list[dict[str, float]]] = {"force (grace 0)": [], "graceful (pod's 5 s)": []}
    try:
        await cluster.apply(web(ns))
        for _ in range(rounds):  # interleaved, so drift of the noisy machine hits both alike
            results["force (grace 0)"].append(await one_delete(cluster, ns, 0))
            results["graceful (pod's 5 s)"].append(await one_delete(cluster, ns, None))
    finally:
        await cluster.close()
    print(f"{rounds} deletions each; ms from the delete call, median [min-max]")
    for mode, rows in results.items():
        print(f"\n{mode}")
        for key in rows[0]:
            values = [r[key] for r in rows]
            print(f"  {key:18} {statistics.median(values):8.1f}  [{min(values):.1f}-{max(values):.1f}]")
    force = statistics.median(r["endpoint_removed"] for r in results["force (grace 0)"])
    grace = statistics.median(r["endpoint_removed"] for r in results["graceful (pod's 5 s)"])
    print(f"\nendpoint_removed graceful/force ratio: {grace / force:.2f}")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5))
