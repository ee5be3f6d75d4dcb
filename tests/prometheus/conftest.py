"""One Prometheus + Pushgateway for the module's tests, stopped on every exit path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.prometheus.servers import Prometheus, stack


@pytest.fixture(scope="package")
def prom_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Prometheus, str]]:
    with stack(Path(tmp_path_factory.mktemp("prometheus"))) as servers:
        yield servers
