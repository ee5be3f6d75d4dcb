"""Service ports on the embedded cluster: a port chosen by name or number, a named targetPort resolved per pod
(as kube-proxy does), Services discovered when an experiment lists none, and Local-policy NodePorts on nodes
without a target pod left out of the load."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from chaoskit.cluster.local.cluster import LocalCluster
from chaoskit.cluster.local.config import LocalClusterConfig
from chaoskit.cluster.manifests import in_namespace, load_manifest_files
from chaoskit.cluster.protocol import NotFoundError, ServiceKind
from tests.local.engine_support import EXPERIMENTS, experiment, run

NS = "chaoskit-test"
pytestmark = pytest.mark.local


async def _get(host: str, port: int) -> str:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        return (await asyncio.wait_for(reader.read(), 5)).decode()
    finally:
        writer.close()


def test_ports_by_name_or_number_and_named_target_ports_per_pod() -> None:
    async def main() -> None:
        cluster = LocalCluster(LocalClusterConfig(nodes=2), seed=3)
        manifests, _ = in_namespace(load_manifest_files([EXPERIMENTS / "ports.manifest.yaml"]), NS)
        await cluster.start()
        try:
            await cluster.apply(manifests)
            pods = await cluster.wait_pods_ready(NS, {"app": "ports"}, count=2, timeout_s=60)
            ip = {p.labels["variant"]: p.ip for p in pods}
            # Headless: each ready pod with its own number for the named targetPort.
            web = await cluster.service_addresses(NS, "ports-headless", ServiceKind.HEADLESS, port="http")
            assert sorted((a.host, a.port) for a in web) == sorted([(ip["a"], 8080), (ip["b"], 8081)])
            admin = await cluster.service_addresses(NS, "ports-headless", ServiceKind.HEADLESS, port=9000)
            assert sorted((a.host, a.port) for a in admin) == sorted([(ip["a"], 9090), (ip["b"], 9091)])
            # ClusterIP and NodePort: the chosen port only; by default the one named http (not the first).
            (default,) = await cluster.service_addresses(NS, "ports", ServiceKind.CLUSTER_IP)
            (metrics,) = await cluster.service_addresses(NS, "ports", ServiceKind.CLUSTER_IP, port="metrics")
            assert (default.port, metrics.port) == (8000, 9000)
            node_ports = await cluster.service_addresses(NS, "ports", ServiceKind.NODE_PORT, port="http")
            assert len(node_ports) == 2 and len({a.port for a in node_ports}) == 1
            with pytest.raises(NotFoundError, match="no port named grpc"):
                await cluster.service_addresses(NS, "ports", ServiceKind.CLUSTER_IP, port="grpc")
            await asyncio.sleep(1.5)  # the proxy programs its listeners after its sync delay
            # Through the proxy: both pods answer on the http port (each on its own number), never refused.
            answers = [await _get(default.host, default.port) for _ in range(40)]
            assert all(a.startswith("HTTP/1.1 200") for a in answers)
            assert {i for i in ip.values() if any(i in a for a in answers)} == set(ip.values())
        finally:
            await cluster.close()

    asyncio.run(main())


@pytest.mark.slow
def test_a_run_without_load_services_loads_the_services_it_finds(tmp_path: Path) -> None:
    summary, record = run(experiment("ports"), tmp_path)
    frame = record.requests.frame()
    assert set(frame["service"].astype(str)) == {"ports", "ports-headless"}
    assert set(frame["service_type"].astype(str)) == {"ClusterIP", "NodePort", "Headless"}
    assert (frame["outcome"].astype(str) == "ok").all(), frame["outcome"].value_counts()
    targets = set(frame["target"].astype(str))
    assert any(t.endswith(":8000") for t in targets)  # ClusterIP on the http port, not metrics (the first)
    assert not any(t.endswith(":9000") for t in targets)
    note = next(n for n in record.context.notes if n.startswith("load.services discovered"))
    assert "ports (NodePort, ports metrics 9000->admin" in note and "loaded as ClusterIP, NodePort on port http" in note
    assert "ports-headless (Headless" in note
    assert summary.verdict.reasons == ()


@pytest.mark.slow
def test_local_policy_node_ports_without_a_pod_are_not_loaded(tmp_path: Path) -> None:
    manifest = tmp_path / "local.manifest.yaml"
    manifest.write_text((EXPERIMENTS / "ports.manifest.yaml").read_text().replace(
        "  type: NodePort\n", "  type: NodePort\n  externalTrafficPolicy: Local\n"))
    spec = experiment("ports")
    data = spec.model_dump(by_alias=True)
    data["target"]["manifests"] = [str(manifest)]
    spec = type(spec).model_validate(data)
    _summary, record = run(spec, tmp_path / "runs", config=LocalClusterConfig(nodes=4))
    requests = record.requests.frame()
    loaded = {str(t) for t in requests.loc[requests["service_type"] == "NodePort", "target"].unique()}
    assert 1 <= len(loaded) <= 2  # the nodes of the two pods only, not all four
    (note,) = [n for n in record.context.notes if "externalTrafficPolicy Local and no ready target pod" in n]
    assert note.startswith("ports NodePort: not loaded on ")
    assert len(note.split(": not loaded on ")[1].split(":")[0].split(", ")) == 4 - len(loaded)
    assert (requests["outcome"].astype(str) == "ok").all()
