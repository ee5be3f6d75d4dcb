"""Contract tests run the same assertions against every backend: `local` always, `kube` with a real cluster."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from chaoskit.cluster.local.cluster import LocalCluster
from chaoskit.cluster.local.config import LocalClusterConfig
from chaoskit.cluster.manifests import SourcedManifest, load_manifest_files
from chaoskit.cluster.protocol import Cluster

NAMESPACE = "chaoskit-contract"
MANIFESTS = Path(__file__).parent / "manifests"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        context = metafunc.config.getoption("--kube-context")
        kube = pytest.param("kube", marks=[pytest.mark.kube] + (
            [] if context else [pytest.mark.skip(reason="no real cluster: pass --kube-context or set "
                                                         "CHAOSKIT_KUBE_CONTEXT (testbed/up provides one)")]))
        metafunc.parametrize("backend", [pytest.param("local", marks=pytest.mark.local), kube])


def manifests(name: str) -> list[SourcedManifest]:
    return load_manifest_files([MANIFESTS / name])


@pytest.fixture
def open_cluster(backend: str, request: pytest.FixtureRequest) -> Callable[..., Any]:
    """``async with open_cluster(**local_config) as cluster``: a started cluster, closed on exit."""

    @contextlib.asynccontextmanager
    async def opener(**local_config: Any) -> AsyncIterator[Cluster]:
        cluster: Cluster
        if backend == "local":
            cluster = LocalCluster(LocalClusterConfig(**local_config), seed=7)
        else:
            from tests.kube.support import kube_cluster

            cluster = kube_cluster(request.config.getoption("--kube-context"), NAMESPACE)
        await cluster.start()
        try:
            yield cluster
        finally:
            await cluster.close()

    return opener
