"""The JSON schema of experiment files (for editors and `chaoskit schema`)."""

from __future__ import annotations

from typing import Any

from chaoskit.experiment.model import Experiment

SCHEMA_ID = "https://chaoskit.dev/schema/experiment.json"


def json_schema(model: type[Experiment]) -> dict[str, Any]:
    """The JSON schema of ``model`` (``FaultRegistry.experiment_model()``) with YAML key names (``from``)."""
    schema = model.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}
