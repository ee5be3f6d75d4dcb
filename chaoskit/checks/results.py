"""Data-survival check results: did a marker file written before a fault still exist afterwards?"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

TRIGGERS: Final = ("pod-replaced", "container-restart")
PLACEMENTS: Final = ("same-node", "other-node", "same-pod")
EXPECTATIONS: Final = ("survives", "lost", "any")


@dataclass(frozen=True)
class DataCheckResult:
    """One marker check on one volume after one fault."""

    volume: str
    """Volume name in the pod template."""
    volume_type: str
    """``emptyDir``, ``hostPath``, ``persistentVolumeClaim``, ..."""
    fault: str
    """Fault kind, e.g. ``pod-delete``."""
    trigger: str
    """What happened to the pod: ``pod-replaced`` or ``container-restart``."""
    placement: str
    """Where it was read relative to where written: ``same-node``, ``other-node``, ``same-pod``."""
    survived: bool
    """Whether the marker was found after the fault."""
    expected: str
    """The spec's expectation: ``survives``, ``lost`` or ``any``."""
    victim: str
    replacement: str
    victim_node: str
    replacement_node: str
    victim_claim: str = ""
    """The PersistentVolumeClaim behind the volume in the victim (persistentVolumeClaim volumes only)."""
    replacement_claim: str = ""
    """The claim in the replacement: a StatefulSet's replacement keeps the victim's name and claim."""
    not_checkable: str = ""
    """Why the marker could not be written or read (``no shell in container web``); empty when it was. Such a
    row is neither a loss nor a survival: ``survived`` is False and means nothing, the verdict skips it."""

    @property
    def checked(self) -> bool:
        """True when the marker was written and looked for (the row says something about the data)."""
        return not self.not_checkable

    @property
    def observed(self) -> str:
        """``survived``, ``lost`` or ``not checkable: <why>``: the row's observation in words."""
        if self.not_checkable:
            return f"not checkable: {self.not_checkable}"
        return "survived" if self.survived else "lost"

    @property
    def as_expected(self) -> bool:
        """True when the observation matches the expectation (``any`` accepts both; a row that could not be
        checked contradicts nothing)."""
        if self.expected == "any" or not self.checked:
            return True
        return self.survived == (self.expected == "survives")
