"""Limits on YAML input (size, nesting depth, alias uses, size after alias expansion), checked before any
document is built.

Building a document is recursive (a few hundred levels of nesting exhaust Python's stack) and what is built
from it is walked with aliases expanded (a 2 KB "billion laughs" file expands to 10^9 nodes). The event
parser is neither: it is a state machine that sees each anchor and alias once. So every file is first read
as events, counted, and refused with a located ``YamlLimitError`` when it breaks a limit; only then is it
built. Events come from libyaml (PyYAML's C parser: ~50x faster than a pure-Python one) and, when libyaml
cannot read the text, from the parser of the caller's own library (whose syntax error the caller reports).

A leaf: imports nothing from chaoskit. The experiment loader and both manifest readers turn
``YamlLimitError`` into their own located errors.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final

import yaml

KIB: Final = 1024
MIB: Final = 1024 * KIB


@dataclass(frozen=True, slots=True)
class YamlLimits:
    """What one YAML file may hold. Every limit is far above what a real file needs (see docs/architecture.md)."""

    max_bytes: int
    """Size of the file (UTF-8 bytes)."""
    max_depth: int
    """Nesting of mappings and sequences."""
    max_aliases: int
    """Alias uses (``*name``) in the file."""
    max_nodes: int
    """Nodes (scalars, mappings, sequences) in the file with every alias expanded."""


EXPERIMENT_LIMITS: Final = YamlLimits(max_bytes=1 * MIB, max_depth=32, max_aliases=100, max_nodes=10_000)
"""Experiment files: the shipped ones are ~3 KB, 5 levels deep, ~150 nodes."""
MANIFEST_LIMITS: Final = YamlLimits(max_bytes=8 * MIB, max_depth=100, max_aliases=1_000, max_nodes=500_000)
"""Kubernetes manifests: room for large CRD bundles (deep OpenAPI schemas), not for expansion bombs."""


class YamlLimitError(ValueError):
    """A YAML file breaks a limit. ``line``/``column`` are 1-based, None when the whole file is at fault."""

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.hint = hint

    def located(self, source: str) -> str:
        """``source:line:column: message`` (``source: message`` for the whole file)."""
        where = source if self.line is None else f"{source}:{self.line}:{self.column or 1}"
        return f"{where}: {self.message}"


def check_size(text: str, limits: YamlLimits) -> None:
    """Refuse text larger than ``limits.max_bytes`` (before it is parsed at all)."""
    # len(text) <= bytes <= 4 * len(text): encode only when the cheap bound cannot decide.
    if len(text) > limits.max_bytes // 4:
        check_byte_count(len(text.encode("utf-8", errors="surrogatepass")), limits)


def check_byte_count(size: int, limits: YamlLimits) -> None:
    """Refuse a file of ``size`` bytes when it is over the limit (callers check a file's size before reading it)."""
    if size > limits.max_bytes:
        raise YamlLimitError(
            f"file is {size:,} bytes, more than the limit of {limits.max_bytes:,}",
            hint="split it into several files (manifests may be a directory), or remove generated bulk",
        )


def check_text(text: str, limits: YamlLimits, *, fallback: Callable[[str], Iterable[Any]]) -> None:
    """Size, then depth, aliases and expanded size of ``text``; raises YamlLimitError at the first breach.

    ``fallback(text)`` yields the events when libyaml cannot read the text (the caller's own parser, so a
    syntax error is reported as the caller's library reports it).
    """
    check_size(text, limits)
    try:
        check_events(_libyaml_events(text), limits)
        return
    except (yaml.YAMLError, UnicodeError):
        pass  # libyaml cannot read it: let the caller's parser walk it (and report its syntax error)
    check_events(fallback(text), limits)


def safe_load_all(text: str, limits: YamlLimits) -> list[Any]:
    """Every document of ``text`` (YAML 1.1, PyYAML's safe loader), after ``check_text``.

    Raises YamlLimitError, yaml.YAMLError, or ValueError for a value no constructor can build (a date like
    2001-13-45, an int of 5,000 digits).
    """
    check_text(text, limits, fallback=lambda t: yaml.parse(t, Loader=yaml.SafeLoader))
    return list(yaml.load_all(text, Loader=_LOADER))


_LOADER: Final[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _libyaml_events(text: str) -> Iterator[Any]:
    return iter(yaml.parse(text, Loader=_LOADER))


@dataclass(slots=True)
class _Open:
    """A mapping or sequence being read: its anchor and the expanded node count when it began."""

    anchor: str | None
    start: int


def check_events(events: Iterable[Any], limits: YamlLimits) -> None:
    """Walk parser events (PyYAML's or ruamel's: same class names and fields) and enforce ``limits``."""
    open_: list[_Open] = []
    sizes: dict[str, int] = {}  # anchor -> expanded size of the node it names (anchors may be redefined)
    nodes = aliases = 0
    for event in events:
        kind = type(event).__name__
        if kind in ("MappingStartEvent", "SequenceStartEvent"):
            if len(open_) >= limits.max_depth:
                raise _at(event, f"nesting deeper than {limits.max_depth} levels",
                          "flatten the structure; no experiment or manifest field needs this depth")
            nodes += 1
            open_.append(_Open(event.anchor, nodes - 1))
        elif kind in ("MappingEndEvent", "SequenceEndEvent"):
            done = open_.pop()
            if done.anchor is not None:
                sizes[done.anchor] = nodes - done.start
        elif kind == "ScalarEvent":
            nodes += 1
            if event.anchor is not None:
                sizes[event.anchor] = 1
        elif kind == "AliasEvent":
            aliases += 1
            if aliases > limits.max_aliases:
                raise _at(event, f"more than {limits.max_aliases} alias uses (*name)",
                          "write the values out, or use fewer anchors and aliases")
            if any(o.anchor == event.anchor for o in open_):
                raise _at(event, f"alias *{event.anchor} refers to a node that contains it (a recursive structure)",
                          "an alias may only refer to a node that is complete before it")
            nodes += sizes.get(event.anchor, 1)
        else:
            continue
        if nodes > limits.max_nodes:
            raise _at(event, f"more than {limits.max_nodes:,} values once aliases are expanded",
                      "aliases that repeat other aliases multiply: write the values out, or split the file")


def _at(event: Any, message: str, hint: str) -> YamlLimitError:
    line = column = None
    mark: Any = getattr(event, "start_mark", None)
    with contextlib.suppress(AttributeError, TypeError):
        line, column = int(mark.line) + 1, int(mark.column) + 1
    return YamlLimitError(message, line=line, column=column, hint=hint)
