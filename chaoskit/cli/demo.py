"""`chaoskit cluster demo`: the embedded cluster in one minute — pods, Services, a pod replaced with a new IP."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from chaoskit import catalog
from chaoskit.cli import exits
from chaoskit.cli.console import new_console
from chaoskit.cluster.local.cluster import LocalCluster
from chaoskit.cluster.manifests import SourcedManifest, in_namespace, load_manifest_files
from chaoskit.cluster.protocol import ClusterError, ManifestError, PodInfo, ServiceAddress, ServiceKind
from chaoskit.report.terminal import whole
from chaoskit.vocab import expected_replicas, selector_text

cluster_app = typer.Typer(no_args_is_help=True, help="The embedded local cluster.")


def default_manifests() -> Path:
    """The built-in target (package data): the demo works from any directory."""
    return catalog.builtin_manifests_dir() / "target.yaml"


@cluster_app.command("demo")
def demo(
    manifests: Annotated[Path | None, typer.Option(help="Manifest file or directory (default: built-in target.yaml).")]
    = None,
    namespace: Annotated[str, typer.Option(help="Namespace of the target.")] = "chaoskit-demo",
    selector: Annotated[str, typer.Option(help="Label selector of the target pods (k=v).")] = "app=chaoskit-target",
) -> None:
    """Start the local cluster from manifests, show pods and Services, replace a pod, tear down."""
    console = new_console()
    labels = dict(part.split("=", 1) for part in selector.split(",") if "=" in part)
    try:
        objects, _ = in_namespace(load_manifest_files([manifests or default_manifests()]), namespace)
        asyncio.run(_demo(console, objects, namespace, labels))
    except ManifestError as exc:
        exits.fail(str(exc), hint=exc.hint, code=exits.BAD_INPUT)
    except ClusterError as exc:
        exits.fail(str(exc), hint=exc.hint, code=exits.INFRASTRUCTURE)


async def _demo(console: Console, objects: list[SourcedManifest], namespace: str, labels: dict[str, str]) -> None:
    async with LocalCluster() as cluster:
        console.print(f"[bold]Local cluster[/] with {len(await cluster.list_nodes())} nodes "
                      f"(state in {cluster.state_dir})")
        count = expected_replicas(objects, labels)
        if count == 0:
            raise ManifestError(f"no Deployment, StatefulSet, ReplicaSet or Pod in the manifests has labels "
                                f"{selector_text(labels)}", hint="pass --selector with the target pods' labels")
        await cluster.apply(objects)
        pods = await cluster.wait_pods_ready(namespace, labels, count=count, timeout_s=60)
        console.print(_pods_table(pods, "kubectl get pods -o wide"))
        addresses = await _addresses(cluster, objects, namespace)
        console.print(_services_table(addresses))
        await _ask_all(console, addresses)
        victim = pods[0]
        console.print(f"\n[bold]kubectl delete pod {victim.name}[/] (graceful; IP {victim.ip} on {victim.node})")
        started = time.monotonic()
        await cluster.delete_pod(namespace, victim.name, grace_seconds=None)
        after = await cluster.wait_pods_ready(namespace, labels, count=len(pods), timeout_s=60)
        fresh = [p for p in after if p.name not in {q.name for q in pods}]
        for pod in fresh:
            console.print(f"replacement [green]{pod.name}[/] Ready after {time.monotonic() - started:.2f}s "
                          f"with a new IP {pod.ip} (was {victim.ip}) on {pod.node}")
        console.print(_pods_table(after, "kubectl get pods -o wide"))
        await _ask_all(console, addresses)
        console.print("\nTearing down: every pod process and proxy stops, state directory removed.")


async def _addresses(cluster: LocalCluster, objects: list[SourcedManifest],
                     namespace: str) -> list[tuple[str, ServiceAddress]]:
    found: list[tuple[str, ServiceAddress]] = []
    for obj in objects:
        if obj.get("kind") != "Service":
            continue
        name = obj["metadata"]["name"]
        for kind in (ServiceKind.CLUSTER_IP, ServiceKind.NODE_PORT):
            try:
                found.extend((name, a) for a in (await cluster.service_addresses(namespace, name, kind))[:1])
            except ClusterError:
                continue  # e.g. a ClusterIP Service has no NodePort address
    return found


async def _ask_all(console: Console, addresses: list[tuple[str, ServiceAddress]]) -> None:
    for name, address in addresses:
        answer = await _ask(address)
        console.print(f"curl {address.url}  ({name}, {address.kind}) -> {answer}")


async def _ask(address: ServiceAddress) -> str:
    """GET / until it answers (the proxies sync endpoint changes with a delay), at most ~3 s."""
    for _ in range(30):
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(address.host, address.port), 1)
            writer.write(b"GET / HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\r\n")
            body = (await asyncio.wait_for(reader.read(), 2)).split(b"\r\n\r\n", 1)[-1]
            writer.close()
            answer = json.loads(body)
            return f"pod {answer['pod']} ip {answer['ip']} node {answer['node']}"
        except (OSError, TimeoutError, ValueError, KeyError):
            await asyncio.sleep(0.1)
    return "no answer"


def _pods_table(pods: list[PodInfo], title: str) -> Table:
    table = Table(title=title, title_justify="left", box=None)
    table.add_column("NAME", no_wrap=True, min_width=whole("NAME", (p.name for p in pods)))
    for column in ("READY", "STATUS", "RESTARTS", "IP"):
        table.add_column(column)
    table.add_column("NODE", no_wrap=True, min_width=whole("NODE", (p.node or "<none>" for p in pods)))
    for pod in pods:
        ready = sum(c.ready for c in pod.containers)
        table.add_row(pod.name, f"{ready}/{len(pod.containers)}", str(pod.phase), str(pod.restart_count),
                      pod.ip or "<none>", pod.node or "<none>")
    return table


def _services_table(addresses: list[tuple[str, ServiceAddress]]) -> Table:
    table = Table(title="kubectl get services (local addresses)", title_justify="left", box=None)
    for column in ("NAME", "TYPE", "ADDRESS", "NODE"):
        table.add_column(column)
    for name, address in addresses:
        table.add_row(name, str(address.kind), f"{address.host}:{address.port}", address.node or "")
    return table
