"""PodDisruptionBudgets on the embedded cluster, decided as the Eviction API decides them.

An eviction of a Ready pod is allowed while ``disruptionsAllowed`` (healthy pods minus the pods the budget
wants healthy) is above zero; an unready pod may go while the budget is met. Healthy means Ready and not
terminating, as the disruption controller counts it. A refused eviction is Kubernetes' 429: the drain
waits for a pod change and asks again (``LocalCluster.drain``), so a drain is paced by the replacements'
readiness exactly as ``kubectl drain`` is.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from chaoskit.cluster.local.objects import FieldReader
from chaoskit.cluster.local.pod import LocalPod
from chaoskit.vocab import selector_matches


@dataclass(frozen=True, slots=True)
class Budget:
    namespace: str
    name: str
    selector: Mapping[str, str]
    min_available: int | str | None
    """An absolute count or a percentage string such as ``"50%"``."""
    max_unavailable: int | str | None


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    budget: str = ""
    """The budget that refused (or decided), empty when none covers the pod."""
    healthy: int = 0
    desired: int = 0

    @property
    def reason(self) -> str:
        return (f"PodDisruptionBudget {self.budget}: {self.healthy} healthy, {self.desired} must stay "
                f"(disruptions allowed: {max(0, self.healthy - self.desired)})")


def parse_budget(manifest: Mapping[str, Any]) -> Budget:
    read = FieldReader(manifest)
    meta = read.mapping(manifest.get("metadata"), "metadata")
    spec = read.mapping(manifest.get("spec"), "spec")
    selector = read.mapping(spec.get("selector"), "spec.selector")
    if "matchExpressions" in selector:
        raise read.fail("spec.selector.matchExpressions", "is not supported by the local backend",
                        hint="use matchLabels")
    has_min, has_max = spec.get("minAvailable") is not None, spec.get("maxUnavailable") is not None
    if has_min == has_max:
        raise read.fail("spec", "set exactly one of minAvailable and maxUnavailable")
    return Budget(
        namespace=str(meta.get("namespace", "default")), name=read.string(meta.get("name"), "metadata.name"),
        selector=read.labels(selector.get("matchLabels"), "spec.selector.matchLabels"),
        min_available=_amount(read, spec.get("minAvailable"), "spec.minAvailable"),
        max_unavailable=_amount(read, spec.get("maxUnavailable"), "spec.maxUnavailable"),
    )


def _amount(read: FieldReader, value: Any, path: str) -> int | str | None:
    if value is None:
        return None
    if isinstance(value, str) and value.endswith("%") and value[:-1].isdigit():
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise read.fail(path, f"expected a count or a percentage like '50%', got {value!r}")


def decide(pod: LocalPod, budgets: Iterable[Budget], pods: Iterable[LocalPod], expected: int) -> Decision:
    """May ``pod`` be evicted now? ``expected`` is the scale of the pod's controller (percent budgets)."""
    covering = [b for b in budgets
                if b.namespace == pod.namespace and selector_matches(b.selector, pod.template.labels)]
    if not covering:
        return Decision(True)
    if len(covering) > 1:  # the API server refuses these too (500: more than one budget)
        names = ", ".join(b.name for b in covering)
        return Decision(False, budget=names)
    budget = covering[0]
    matched = [p for p in pods if p.namespace == pod.namespace and not p.deleted
               and selector_matches(budget.selector, p.template.labels)]
    healthy = sum(1 for p in matched if p.ready and not p.terminating)
    desired = desired_healthy(budget, expected if budget.min_available is None or isinstance(
        budget.min_available, str) else len(matched))
    healthy_pod = pod.ready and not pod.terminating
    allowed = healthy - desired > 0 if healthy_pod else healthy >= desired
    return Decision(allowed, budget=budget.name, healthy=healthy, desired=desired)


def desired_healthy(budget: Budget, expected: int) -> int:
    """Pods the budget wants healthy: minAvailable, or expected minus maxUnavailable (percents round up)."""
    if budget.min_available is not None:
        return _scaled(budget.min_available, expected)
    assert budget.max_unavailable is not None
    return max(0, expected - _scaled(budget.max_unavailable, expected))


def _scaled(value: int | str, expected: int) -> int:
    if isinstance(value, int):
        return value
    return math.ceil(int(value[:-1]) * expected / 100)
