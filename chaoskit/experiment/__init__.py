"""Experiment specs: frozen pydantic models, a YAML loader with located errors, and the JSON schema."""

from chaoskit.experiment.errors import SpecError, SpecIssue
from chaoskit.experiment.faults import NODE_OF_VICTIM, FaultSpec, NodePick, PodFaultSpec, PodPick, Schedule
from chaoskit.experiment.loader import load_experiment, load_experiment_text
from chaoskit.experiment.model import Experiment
from chaoskit.experiment.models import DataCheck, DataExpectation, Load, LoadedService, Phases, Slo, Target
from chaoskit.experiment.schema import json_schema
from chaoskit.experiment.units import Duration, Percent, parse_duration, parse_percent

__all__ = [
    "NODE_OF_VICTIM",
    "DataCheck",
    "DataExpectation",
    "Duration",
    "Experiment",
    "FaultSpec",
    "Load",
    "LoadedService",
    "NodePick",
    "Percent",
    "Phases",
    "PodFaultSpec",
    "PodPick",
    "Schedule",
    "Slo",
    "SpecError",
    "SpecIssue",
    "Target",
    "json_schema",
    "load_experiment",
    "load_experiment_text",
    "parse_duration",
    "parse_percent",
]
