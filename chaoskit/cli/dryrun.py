"""`chaoskit run --backend kube --dry-run`: every object and action the run would touch, touching nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import typer

from chaoskit.cli import exits
from chaoskit.cluster.manifests import describe, in_namespace, load_manifest_files
from chaoskit.cluster.protocol import Cluster, ClusterError, ManifestError, UnsafeTargetError
from chaoskit.experiment import Experiment


async def _plan(spec: Experiment, cluster: Cluster) -> list[str]:
    manifests, defaulted = in_namespace(load_manifest_files(spec.target.manifests), spec.target.namespace)
    lines = [f"objects ({len(manifests)}):"] + [f"  {describe(m)}" for m in manifests]
    if defaulted:
        lines.append(f"  (no metadata.namespace, so in {spec.target.namespace}: {', '.join(defaulted)})")
    await cluster.start()
    try:
        await cluster.apply(manifests)
        planned: list[Any] = getattr(cluster, "planned_actions", list)()
        lines.append("API requests that would change the cluster:")
        lines += [f"  {a.verb} {a.path} {_short(a.detail)}".rstrip() for a in planned]
    finally:
        await cluster.close()
    load = spec.load
    services = ", ".join(f"{s.name} ({'/'.join(t.value for t in s.types)})" for s in load.services)
    workers = "" if load.workers == 1 else f", {load.workers} workers (Locust's distributed mode)"
    lines.append(f"load: {load.rate:g} req/s per address, {load.connection}{workers}, {services}")
    if any(t.value == "ClusterIP" for s in load.services for t in s.types):
        lines.append(f"ClusterIP load: {_origin_text(load.from_, cluster)}")
    lines.append(f"phases: baseline {spec.phases.baseline:g}s, chaos {spec.phases.chaos:g}s, "
                 f"recovery {spec.phases.recovery:g}s")
    for offset, fault in spec.fault_instants():
        lines.append(f"fault at chaos+{offset:g}s: {fault.kind} ({fault.name}) on {fault.describe_target()}")
    lines.append("teardown: every object above deleted, every node cordoned by a fault uncordoned")
    return lines


def _origin_text(load_from: str, cluster: Cluster) -> str:
    options = getattr(cluster, "options", None)
    job = (f"an in-cluster Job chaoskit-load-agent-<run id> (image {getattr(options, 'agent_image', '?')}; with a "
           "ConfigMap and a ServiceAccount without API rights, all deleted when the load ends)")
    return {"local": "from this process", "in-cluster": f"from {job}"}.get(
        load_from, f"from this process if the ClusterIP answers here, else from {job}")


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def dry_run(spec: Experiment, cluster: Cluster) -> None:
    try:
        lines = asyncio.run(_plan(spec, cluster))
    except (ManifestError, UnsafeTargetError) as exc:
        exits.fail(str(exc), hint=exc.hint, code=exits.BAD_INPUT)
    except ClusterError as exc:
        exits.fail(str(exc), hint=exc.hint, code=exits.INFRASTRUCTURE)
    for line in lines:
        typer.echo(line)
    raise typer.Exit(exits.PASSED)
