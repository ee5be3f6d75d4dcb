"""The kube tier: tests against a real cluster, skipped with a clear reason when none is configured.
``--kube-context`` is registered by tests/conftest.py (it reads CHAOSKIT_KUBE_CONTEXT as its default)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from types import FrameType

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


@pytest.fixture(autouse=True)
def _sigterm_runs_finally_blocks() -> Iterator[None]:
    """`timeout` and CI runners stop pytest with SIGTERM, which skips every finally block and leaves the
    cluster cordoned; as KeyboardInterrupt it unwinds through them (and their cleanup) instead."""

    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt("SIGTERM")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
