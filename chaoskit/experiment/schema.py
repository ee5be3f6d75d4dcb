"""The JSON schema of experiment files (for editors and `chaoskit schema`)."""

from __future__ import annotations

from typing import Any

from chaoskit.experiment.model import Experiment

SCHEMA_ID = "https://chaoskit.dev/schema/experiment.json"


def json_schema() -> dict[str, Any]:
    """The experiment JSON schema with YAML key names (``from``, not ``from_``)."""
    schema = Experiment.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}
