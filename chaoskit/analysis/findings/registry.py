"""The findings registry: an instance (no global state) holding the rules a run is judged by, like the fault
registry holds fault kinds. Adding a rule is one module that defines a :class:`Rule` and its tests."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from chaoskit.analysis.findings.context import FindingContext
from chaoskit.analysis.findings.model import LEVELS, Finding

Evaluate = Callable[[FindingContext], Sequence[Finding]]


@dataclass(frozen=True)
class Rule:
    id: str
    """Stable id (``shutdown-race``): summary.json, the metric's ``rule`` label and docs/findings.md use it."""
    title: str
    evaluate: Evaluate
    """Pure: the run's context in, zero or more findings out."""


class RuleError(ValueError):
    """A rule that cannot be registered (a duplicate id)."""

    def __init__(self, message: str, *, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


class FindingRegistry:
    def __init__(self, rules: Iterable[Rule] = ()) -> None:
        self._rules: dict[str, Rule] = {}
        for rule in rules:
            self.register(rule)

    def register(self, rule: Rule) -> None:
        if rule.id in self._rules:
            raise RuleError(f"finding rule {rule.id!r} is registered twice", hint="give each rule its own id")
        self._rules[rule.id] = rule

    @property
    def rules(self) -> tuple[Rule, ...]:
        return tuple(self._rules.values())

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(self._rules)

    def evaluate(self, ctx: FindingContext) -> tuple[Finding, ...]:
        """Every rule's findings; the most confident first, then those explaining more failed requests, then
        in registration order."""
        found = [(i, f) for i, rule in enumerate(self._rules.values()) for f in rule.evaluate(ctx)]
        found.sort(key=lambda item: (LEVELS.index(item[1].confidence), -item[1].evidence.failures, item[0]))
        return tuple(f for _, f in found)
