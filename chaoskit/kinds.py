"""Experiment files read with every known fault kind: the built-in plugins and those of the ``chaoskit.faults``
entry-point group (``default_registry``). Pass a registry of your own to add or restrict kinds."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from chaoskit.experiment import Experiment, json_schema, load_experiment_text
from chaoskit.experiment import load_experiment as load_with_model
from chaoskit.faults.registry import FaultRegistry, default_registry


@functools.cache
def registry() -> FaultRegistry:
    """The default registry, built once per process (entry points are read once)."""
    return default_registry()


def experiment_model(faults: FaultRegistry | None = None) -> type[Experiment]:
    return (faults or registry()).experiment_model()


def load_experiment(path: Path, *, faults: FaultRegistry | None = None) -> Experiment:
    """Read, validate and cross-check one experiment file (SpecError lists every problem)."""
    return load_with_model(path, model=experiment_model(faults))


def load_text(text: str, source: str, *, base_dir: Path | None = None,
              faults: FaultRegistry | None = None) -> Experiment:
    return load_experiment_text(text, source, model=experiment_model(faults), base_dir=base_dir)


def schema(faults: FaultRegistry | None = None) -> dict[str, Any]:
    """The JSON schema of experiment files with these fault kinds."""
    return json_schema(experiment_model(faults))
