"""The kube tier: tests against a real cluster, skipped with a clear reason when none is configured.
``--kube-context`` is registered by tests/conftest.py (it reads CHAOSKIT_KUBE_CONTEXT as its default)."""

from __future__ import annotations

import pytest

from tests.kube.support import NO_CLUSTER


@pytest.fixture(scope="session")
def kube_context(request: pytest.FixtureRequest) -> str:
    context = request.config.getoption("--kube-context", default=None)
    if not context:
        pytest.skip(NO_CLUSTER)
    return str(context)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Everything under tests/kube that needs the cluster carries the kube marker; say why it is skipped.
    if config.getoption("--kube-context", default=None):
        return
    skip = pytest.mark.skip(reason=NO_CLUSTER)
    for item in items:
        if "kube" in item.keywords and "tests/kube/" in item.nodeid:
            item.add_marker(skip)
