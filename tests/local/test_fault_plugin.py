"""A fault plugin defined here, outside chaoskit, owns its spec model: experiment files name it, `validate`
checks its fields, and the engine fires it against the embedded cluster like a built-in fault."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Literal

import pytest
from pydantic import Field

from chaoskit.cluster.local.cluster import LocalCluster
from chaoskit.cluster.protocol import PodInfo
from chaoskit.engine.runner import Engine, RunOptions
from chaoskit.experiment import PodFaultSpec, SpecError
from chaoskit.experiment.units import PositiveDuration
from chaoskit.faults.base import FaultContext, FaultPlugin, pick_pods
from chaoskit.faults.registry import FaultRegistry, PluginError, default_registry
from chaoskit.kinds import load_text

SHIPPED_MANIFESTS = Path(__file__).resolve().parents[2] / "manifests"


class DelayedKill(PodFaultSpec):
    """Waits ``delay`` after choosing its victims, then force-deletes them."""

    kind: Literal["test-delayed-kill"]
    delay: PositiveDuration = Field(default=0.2, description="Pause between choosing and killing.")


class DelayedKillFault(FaultPlugin):
    kind = "test-delayed-kill"
    spec_model = DelayedKill
    spec: DelayedKill

    async def choose(self, ctx: FaultContext) -> tuple[list[PodInfo], str]:
        return await pick_pods(ctx, self.spec.target), ""

    async def act(self, ctx: FaultContext, victims: list[PodInfo], node: str) -> None:
        await asyncio.sleep(self.spec.delay)
        for pod in victims:
            await ctx.cluster.delete_pod(pod.namespace, pod.name, grace_seconds=0)


def _registry() -> FaultRegistry:
    registry = default_registry(load_entry_points=False)
    registry.register(DelayedKillFault)
    return registry


EXPERIMENT = f"""\
name: plugin-run
description: A fault kind from a plugin defined in the tests.
target:
  namespace: chaoskit-demo
  manifests: [{SHIPPED_MANIFESTS / "target.yaml"}]
  selector: {{app: chaoskit-target}}
load:
  rate: 20
  services: [{{name: chaoskit-target, types: [ClusterIP]}}]
phases: {{baseline: 1s, chaos: 3s, recovery: 2s}}
faults:
  - kind: test-delayed-kill
    delay: DELAY
    schedule: {{at: 1s}}
"""


@pytest.mark.unit
def test_the_plugin_spec_validates_from_an_experiment_file(tmp_path: Path) -> None:
    spec = load_text(EXPERIMENT.replace("DELAY", "300ms"), str(tmp_path / "exp.yaml"), faults=_registry())
    (fault,) = spec.faults
    assert isinstance(fault, DelayedKill) and fault.delay == pytest.approx(0.3)


@pytest.mark.unit
def test_the_plugin_spec_reports_its_own_field_errors(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as caught:
        load_text(EXPERIMENT.replace("DELAY", "soon"), str(tmp_path / "exp.yaml"), faults=_registry())
    (issue,) = caught.value.issues
    assert issue.message.startswith("faults[0].delay: invalid duration") and issue.line == 13


@pytest.mark.unit
def test_without_the_plugin_the_kind_is_unknown_and_the_known_ones_are_listed(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as caught:
        load_text(EXPERIMENT.replace("DELAY", "1s"), str(tmp_path / "exp.yaml"),
                  faults=default_registry(load_entry_points=False))
    (issue,) = caught.value.issues
    assert "unknown kind 'test-delayed-kill'" in issue.message and "pod-delete" in issue.hint


@pytest.mark.unit
def test_a_plugin_whose_kind_disagrees_with_its_model_is_refused() -> None:
    class Mislabelled(DelayedKillFault):
        kind = "other"

    with pytest.raises(PluginError, match="Literal"):
        default_registry(load_entry_points=False).register(Mislabelled)


@pytest.mark.local
def test_the_engine_fires_the_plugin_fault(tmp_path: Path) -> None:
    registry = _registry()
    spec = load_text(EXPERIMENT.replace("DELAY", "200ms"), str(tmp_path / "exp.yaml"), faults=registry)
    engine = Engine(spec, LocalCluster(seed=3), options=RunOptions(out_dir=tmp_path, seed=3), registry=registry)
    record = asyncio.run(engine.run())
    (fault,) = record.summary.recovery
    assert fault.kind == "test-delayed-kill"
    assert len(fault.victims) == 1
    assert fault.replacement_ready_s is not None and fault.replacement_ready_s >= 0.2
    assert (record.run_dir / "summary.json").is_file()
