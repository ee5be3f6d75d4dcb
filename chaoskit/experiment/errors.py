"""Typed errors of the spec layer: every problem in an experiment file, located by file:line:column."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SpecIssue:
    """One problem in a spec. ``line``/``column`` are 1-based; None when the problem has no position."""

    file: str
    line: int | None
    column: int | None
    message: str
    hint: str = ""

    @property
    def location(self) -> str:
        """``file:line:column`` (or just ``file`` when there is no position)."""
        if self.line is None:
            return self.file
        return f"{self.file}:{self.line}:{self.column or 1}"

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}"
        return f"{text} (hint: {self.hint})" if self.hint else text


class SpecError(Exception):
    """An experiment spec is invalid (bad input: exit code 2). Carries every issue found, not just the first."""

    def __init__(self, issues: Sequence[SpecIssue]) -> None:
        if not issues:
            raise ValueError("SpecError needs at least one issue")
        self.issues: tuple[SpecIssue, ...] = tuple(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))
