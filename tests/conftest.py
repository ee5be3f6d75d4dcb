"""Shared pytest options: the real cluster the kube tier runs against."""

from __future__ import annotations

import os

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--kube-context", default=os.environ.get("CHAOSKIT_KUBE_CONTEXT"),
                     help="kubeconfig context of a real cluster for the kube tier (or CHAOSKIT_KUBE_CONTEXT)")
