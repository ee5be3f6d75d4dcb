"""Shared pytest options: the real cluster the kube tier runs against."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--kube-context", default=os.environ.get("CHAOSKIT_KUBE_CONTEXT"),
                     help="kubeconfig context of a real cluster for the kube tier (or CHAOSKIT_KUBE_CONTEXT)")


@pytest.fixture
def orphan_reaper() -> Iterator[None]:
    """Orphans of the test's children come to this process (a subreaper) so leftovers can be counted."""
    from tests.support import subreaper

    with subreaper():
        yield
