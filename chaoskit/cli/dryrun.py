"""`chaoskit run --backend kube --dry-run`: every object and action the run would touch, touching nothing.

For an experiment without manifests it names the objects that are the user's (read, never changed), the
Services it would load and how, and what the faults would do to the user's pods.
"""

from __future__ import annotations

import asyncio
from typing import Any

import typer

from chaoskit.cli import exits
from chaoskit.cluster.existing import ResolvedTarget, describe_budget
from chaoskit.cluster.manifests import describe, in_namespace, load_manifest_files
from chaoskit.cluster.protocol import Cluster, ClusterError, ManifestError, UnsafeTargetError
from chaoskit.engine.targets import discovered_services, resolve_existing, with_selector
from chaoskit.experiment import Experiment


async def _plan(spec: Experiment, cluster: Cluster) -> list[str]:
    manifests, defaulted = in_namespace(load_manifest_files(spec.target.manifests), spec.target.namespace)
    lines = [] if spec.target.existing else [f"objects ({len(manifests)}):"] + [f"  {describe(m)}" for m in manifests]
    if defaulted:
        lines.append(f"  (no metadata.namespace, so in {spec.target.namespace}: {', '.join(defaulted)})")
    await cluster.start()
    try:
        if spec.target.existing:
            resolved = await resolve_existing(cluster, spec)
            spec = with_selector(spec, resolved.selector)
            lines += _existing(resolved)
        await cluster.apply(manifests)
        planned: list[Any] = getattr(cluster, "planned_actions", list)()
        lines.append("API requests that would change the cluster:")
        lines += [f"  {a.verb} {a.path} {_short(a.detail)}".rstrip() for a in planned] or ["  none before the run"]
        if not spec.load.services:
            found = await discovered_services(cluster, spec, manifests, live=spec.target.existing)
            lines.append("services discovered (their selector matches the target's pods)"
                         + (", read only:" if spec.target.existing else ":"))
            lines += [f"  {f.describe()}" for f in found]
    finally:
        await cluster.close()
    load = spec.load
    services = ", ".join(f"{s.name} ({'/'.join(t.value for t in s.types)}"
                         + (f", port {s.port}" if s.port is not None else "") + ")" for s in load.services)
    workers = "" if load.workers == 1 else f", {load.workers} workers (Locust's distributed mode)"
    lines.append(f"load: {load.rate:g} req/s per address, {load.connection}{workers}, "
                 f"{services or 'the services above'}")
    if any(t.value == "ClusterIP" for s in load.services for t in s.types) or not load.services:
        lines.append(f"ClusterIP load: {_origin_text(load.from_, cluster)}")
    lines.append(f"phases: baseline {spec.phases.baseline:g}s, chaos {spec.phases.chaos:g}s, "
                 f"recovery {spec.phases.recovery:g}s")
    for offset, fault in spec.fault_instants():
        lines.append(f"fault at chaos+{offset:g}s: {fault.kind} ({fault.name}) on {fault.describe_target()}")
    lines += _node_agents(spec, cluster)
    lines.append(_teardown(spec))
    return lines


def _existing(target: ResolvedTarget) -> list[str]:
    """The user's objects: what the run reads and which of them its faults act on."""
    lines = ["the target already runs; these objects are yours: chaoskit reads them and never creates, changes or "
             "deletes them:"]
    lines += [f"  {w.text} (uid {w.uid})" for w in target.workloads]
    pods = ", ".join(f"{p['metadata'].get('name')} ({p.get('spec', {}).get('nodeName') or 'unscheduled'})"
                     for p in target.pods)
    lines.append(f"  pods now ({len(target.pods)}): {pods}; {target.replicas} expected ready")
    lines += [f"  {describe_budget(b)}" for b in target.budgets]
    lines.append("  only their pods change: the faults delete or evict them, and data checks write and then remove "
                 "hidden marker files in their volumes")
    lines += [f"note: {note}" for note in target.notes()[1:]]
    return lines


def _teardown(spec: Experiment) -> str:
    if spec.target.existing:
        return ("teardown: chaoskit's own objects only (the load agent Job, ConfigMap and ServiceAccount, if any), the "
                "cordons it placed and the marker files it wrote; your objects stay as they are")
    return "teardown: every object above deleted, every node cordoned by a fault uncordoned"


def _origin_text(load_from: str, cluster: Cluster) -> str:
    options = getattr(cluster, "options", None)
    job = (f"an in-cluster Job chaoskit-load-agent-<run id> (image {getattr(options, 'agent_image', '?')}; with a "
           "ConfigMap and a ServiceAccount without API rights, all deleted when the load ends)")
    return {"local": "from this process", "in-cluster": f"from {job}"}.get(
        load_from, f"from this process if the ClusterIP answers here, else from {job}")


def _node_agents(spec: Experiment, cluster: Cluster) -> list[str]:
    """What a node-failure would start on the cluster: its privileged node agent (docs/kube.md)."""
    from chaoskit.cluster.kube.nodefail import AGENT_NAME, ARM_TIMEOUT_S, DEADLINE_SLACK_S

    options = getattr(cluster, "options", None)
    node_agent_namespace = getattr(options, "node_agent_namespace", None)
    if node_agent_namespace is None:
        return []
    lines = []
    for fault in (f for f in spec.faults if f.kind == "node-failure"):
        mode, duration = getattr(fault, "mode", "?"), fault.lasts_s()
        does = ("SIGSTOPs the kubelet and the node's containers" if mode == "stop" else
                "drops the node's traffic to and from the API server (iptables)")
        lines.append(
            f"node-failure ({fault.name}): per firing, pod {node_agent_namespace}/{AGENT_NAME}-<run id>-<n> on the "
            f"failed node (image {getattr(options, 'node_agent_image', '?')}; privileged, hostPID, hostNetwork, every "
            f"taint tolerated, activeDeadlineSeconds {ARM_TIMEOUT_S + duration + DEADLINE_SLACK_S:g}) that {does} "
            f"for {duration:g}s and then restores it on its own timer; namespace {node_agent_namespace} created "
            "(Pod Security: privileged) if missing and removed at the end")
    return lines


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
