"""Findings: why users noticed, and what to change. Each rule is a pure function of the run (requests, events,
the manifests' facts) that returns findings with this run's evidence, the Kubernetes mechanism, a YAML change
and a confidence. docs/findings.md is the catalogue.
"""

from __future__ import annotations

from chaoskit.analysis.findings import (
    colocated,
    drain_budget,
    ephemeral_data,
    grace_period,
    local_policy,
    shutdown_race,
    single_replica,
    slow_replacement,
    stale_conntrack,
)
from chaoskit.analysis.findings.context import FindingContext
from chaoskit.analysis.findings.model import Evidence, Finding
from chaoskit.analysis.findings.registry import FindingRegistry, Rule, RuleError

BUILTIN_RULES = (
    shutdown_race.RULE,
    slow_replacement.RULE,
    drain_budget.RULE,
    colocated.RULE,
    local_policy.RULE,
    single_replica.RULE,
    ephemeral_data.RULE,
    stale_conntrack.RULE,
    grace_period.RULE,
)
"""Every built-in rule, in the order the catalogue (docs/findings.md) lists them."""


def default_registry() -> FindingRegistry:
    """A fresh registry with every built-in rule."""
    return FindingRegistry(BUILTIN_RULES)


__all__ = ["BUILTIN_RULES", "Evidence", "Finding", "FindingContext", "FindingRegistry", "Rule", "RuleError",
           "default_registry"]
