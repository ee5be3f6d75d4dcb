"""A finding: why users noticed something in this run, the evidence from its tables, the Kubernetes mechanism,
and the change to make; with a confidence that says how it was derived."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Final

HIGH: Final = "high"
MEDIUM: Final = "medium"
LOW: Final = "low"
LEVELS: Final = (HIGH, MEDIUM, LOW)
MIN_SUPPORT: Final = 3
"""Fewer explained failed requests than this is thin evidence: the confidence is low at best."""


@dataclass(frozen=True)
class Evidence:
    """What this run measured that supports a finding."""

    failures: int = 0
    """Failed requests the finding explains."""
    of_failures: int = 0
    """Failed requests in the run (sent ones): the share explained is ``failures / of_failures``."""
    first_ns: int | None = None
    """Start of the first explained failure (or the first supporting event when none failed)."""
    last_ns: int | None = None
    outcomes: dict[str, int] = field(default_factory=dict)
    """The explained failures by outcome."""
    pods: tuple[str, ...] = ()
    addresses: tuple[str, ...] = ()
    faults: tuple[str, ...] = ()
    measured: dict[str, float] = field(default_factory=dict)
    """Named numbers the recommendation is derived from (seconds unless the name says otherwise)."""
    lines: tuple[str, ...] = ()
    """The evidence in sentences, with numbers and instants (``t+s`` from the first phase)."""


@dataclass(frozen=True)
class Finding:
    rule: str
    """The rule's id (``shutdown-race``, ...): docs/findings.md lists them."""
    headline: str
    """One line: what happened, with its main number."""
    workload: str
    """The object the change applies to (``Deployment web``, ``Service web-np``), as the manifests name it."""
    evidence: Evidence
    mechanism: str
    """The Kubernetes mechanism behind it, in two sentences."""
    recommendation: str
    snippet: str
    """The change as YAML for the user's manifest (a patch that merges into it by name); empty when the change
    is not in a manifest (a client setting)."""
    confidence: str
    """``high``, ``medium`` or ``low``."""
    confidence_basis: str
    """How the confidence was derived (share of the failures explained, what was observed, what inferred)."""
    references: tuple[str, ...] = ()


def share_confidence(explained: int, total: int, *, observed: bool, caveat: str = "") -> tuple[str, str]:
    """Confidence from how much of the failure set a finding explains: high from 80 % with the mechanism
    observed directly, medium from 50 % (or when it was inferred), low below that or with thin evidence
    (fewer than :data:`MIN_SUPPORT` failed requests). ``caveat`` says what was not observed."""
    share = explained / total if total else 0.0
    if explained < MIN_SUPPORT:
        level = LOW
    elif share >= 0.8 and observed:
        level = HIGH
    elif share >= 0.5:
        level = MEDIUM
    else:
        level = LOW
    basis = f"explains {explained} of {total} failed requests ({share * 100:.0f} %)"
    if explained < MIN_SUPPORT:
        basis += f"; fewer than {MIN_SUPPORT} failed requests support it"
    return level, basis + (f"; {caveat}" if caveat else "")


def lower(level: str) -> str:
    """One level less confident (low stays low)."""
    return LEVELS[min(LEVELS.index(level) + 1, len(LEVELS) - 1)]


def with_caveat(finding: Finding, caveat: str) -> Finding:
    """The finding one level less confident, with the reason in its basis."""
    return replace(finding, confidence=lower(finding.confidence),
                   confidence_basis=f"{finding.confidence_basis}; {caveat}")
