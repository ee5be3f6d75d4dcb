"""Runs an experiment in-process against the local backend, for measurement-truth tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from chaoskit.analysis.summary import RunSummary
from chaoskit.cluster.local.cluster import LocalCluster
from chaoskit.cluster.local.config import LocalClusterConfig, config_for
from chaoskit.engine.observer import Observers
from chaoskit.engine.record import RunRecord
from chaoskit.engine.runner import Engine, RunOptions
from chaoskit.experiment import Experiment
from chaoskit.kinds import load_experiment

HERE = Path(__file__).parent
EXPERIMENTS = HERE / "experiments"
SHIPPED = HERE.parents[1] / "experiments"


def experiment(name: str, **overrides: Any) -> Experiment:
    path = EXPERIMENTS / f"{name}.yaml"
    spec = load_experiment(path if path.exists() else SHIPPED / f"{name}.yaml")
    phases = {k: overrides.pop(k) for k in ("baseline", "chaos", "recovery") if k in overrides}
    spec = spec.with_overrides(**phases) if phases else spec
    if overrides:
        data = spec.model_dump(by_alias=True)
        data.update(overrides)
        spec = type(spec).model_validate(data)
    return spec


def run(spec: Experiment, out: Path, *, seed: int = 1, observers: Observers | None = None,
        engine_hook: Any = None, config: LocalClusterConfig | None = None,
        after: Callable[[], Awaitable[None]] | None = None) -> tuple[RunSummary, RunRecord]:
    """Run ``spec`` on a fresh local cluster; ``after`` is awaited on the same loop once the run ended."""

    async def main() -> RunRecord:
        cluster = LocalCluster(config or config_for(spec.target.cluster), seed=seed)
        engine = Engine(spec, cluster, options=RunOptions(out_dir=out, seed=seed), observers=observers)
        if engine_hook is not None:
            engine_hook(engine)
        record = await engine.run()
        if after is not None:
            await after()
        return record

    record = asyncio.run(main())
    return record.summary, record
