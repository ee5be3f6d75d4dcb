"""Certificates and keys for the test bed, made with the openssl CLI (ECDSA P-256, valid 30 days)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from . import config

DAYS = "30"


@dataclass(frozen=True, slots=True)
class Leaf:
    name: str
    subject: str
    usage: str
    """extendedKeyUsage: serverAuth and/or clientAuth."""
    sans: tuple[str, ...] = ()


LEAVES = (
    Leaf(
        "apiserver",
        "/CN=kube-apiserver",
        "serverAuth",
        (
            "IP:127.0.0.1",
            f"IP:{config.NODE_IP}",
            f"IP:{config.KUBERNETES_SVC_IP}",
            "DNS:localhost",
            "DNS:kubernetes",
            "DNS:kubernetes.default",
            "DNS:kubernetes.default.svc",
            "DNS:kubernetes.default.svc.cluster.local",
        ),
    ),
    Leaf("apiserver-kubelet-client", "/O=system:masters/CN=kube-apiserver-kubelet-client", "clientAuth"),
    Leaf("admin", "/O=system:masters/CN=chaoskit-testbed-admin", "clientAuth"),
    Leaf("controller-manager", "/CN=system:kube-controller-manager", "clientAuth"),
    Leaf("scheduler", "/CN=system:kube-scheduler", "clientAuth"),
    Leaf("kube-proxy", "/CN=system:kube-proxy", "clientAuth"),
)


def node_leaves(node: config.Node) -> tuple[Leaf, ...]:
    """A node's kubelet client identity (for the Node authorizer) and its serving certificate."""
    subject = f"/O=system:nodes/CN=system:node:{node.name}"
    return (Leaf(f"kubelet{node.suffix}", subject, "clientAuth"),
            Leaf(f"kubelet{node.suffix}-serving", subject, "serverAuth", (f"IP:{node.ip}", f"DNS:{node.name}")))


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _ec_key(name: str, cwd: Path) -> None:
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-out", f"{name}.key", cwd=cwd)


def make_pki(pki: Path, nodes: tuple[config.Node, ...]) -> None:
    """Create a CA, one leaf per component and node, and the service-account signing key pair."""
    pki.mkdir(parents=True, exist_ok=True)
    _ec_key("ca", pki)
    _openssl("req", "-x509", "-new", "-key", "ca.key", "-out", "ca.crt", "-days", DAYS,
             "-subj", "/CN=chaoskit-testbed-ca",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature", cwd=pki)
    for leaf in LEAVES + tuple(leaf for node in nodes for leaf in node_leaves(node)):
        _ec_key(leaf.name, pki)
        _openssl("req", "-new", "-key", f"{leaf.name}.key", "-out", f"{leaf.name}.csr",
                 "-subj", leaf.subject, cwd=pki)
        ext = [
            "basicConstraints=critical,CA:FALSE",
            "keyUsage=critical,digitalSignature,keyEncipherment",
            f"extendedKeyUsage={leaf.usage}",
        ]
        if leaf.sans:
            ext.append("subjectAltName=" + ",".join(leaf.sans))
        (pki / f"{leaf.name}.ext").write_text("\n".join(ext) + "\n")
        _openssl("x509", "-req", "-in", f"{leaf.name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", f"{leaf.name}.crt", "-days", DAYS,
                 "-extfile", f"{leaf.name}.ext", cwd=pki)
    _ec_key("sa", pki)
    _openssl("pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)
