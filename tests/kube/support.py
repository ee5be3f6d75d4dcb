"""How the kube tier reaches its cluster: options from ``--kube-context``/``CHAOSKIT_KUBE_CONTEXT`` and
``KUBECONFIG``; the contract tests' ``open_cluster`` imports ``kube_cluster`` from here."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from chaoskit.cluster.kube import KubeCluster, KubeOptions

SESSION = secrets.token_hex(3)
"""Suffix of every namespace this test session creates: runs sharing one cluster never collide."""

NO_CLUSTER = ("no real cluster: pass --kube-context or set CHAOSKIT_KUBE_CONTEXT (and KUBECONFIG); "
              "testbed/up provides one")


def kube_options(context: str | None, namespace: str, **overrides: Any) -> KubeOptions:
    """Options for a test: the named context is allowed explicitly (tests never rely on ``--yes``), the
    test's namespace is the only one touched, and it is created and removed by the cluster object."""
    settings: dict[str, Any] = {  # the kubeconfig comes from $KUBECONFIG (or ~/.kube/config)
        "context": context, "in_cluster": False,
        "allow_contexts": (context,) if context else (), "namespaces": frozenset({namespace}),
        "create_namespaces": True, "config_file": Path("/nonexistent/chaoskit-test-config.yaml"),
    }
    settings.update(overrides)
    return KubeOptions(**settings)


def kube_cluster(context: str | None, namespace: str, **overrides: Any) -> KubeCluster:
    """A not yet started KubeCluster for ``namespace`` on the test cluster."""
    if not context:
        raise RuntimeError(NO_CLUSTER)
    return KubeCluster(kube_options(context, namespace, **overrides))


def unique_namespace(name: str) -> str:
    """A namespace name unique to this test session."""
    return f"chaoskit-kt-{name}-{SESSION}"
