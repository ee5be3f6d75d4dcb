"""Turn pydantic errors into human messages with hints ("allowed keys: ...", "did you mean ...?").

Pure: no I/O. The loader adds file positions; ``Experiment.with_overrides`` uses the messages as they are.
"""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from chaoskit.experiment.models import DNS_LABEL

Loc = tuple[int | str, ...]
_BOUNDS = frozenset({"greater_than", "greater_than_equal", "less_than", "less_than_equal", "too_long"})


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """One pydantic error, explained. ``loc`` is the path into the input, discriminator tags included."""

    loc: Loc
    path: str
    """Dotted path without discriminator tags, e.g. ``faults[0].schedule.at``."""
    message: str
    hint: str
    points_at_key: bool
    """True when the error is about a key itself (unknown key), not about its value."""
    missing: bool


def diagnose(error: ErrorDetails, root: type[BaseModel]) -> Diagnosis:
    """Explain one error of ``root.model_validate``."""
    loc = tuple(error["loc"])
    shown, _ = _walk(root, loc)
    kind = error["type"]
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    message, hint = error["msg"], str(ctx.get("hint", ""))
    if kind == "extra_forbidden":
        _, parent = _walk(root, loc[:-1])
        message, hint = f"unknown key '{loc[-1]}'", _allowed_keys_hint(str(loc[-1]), parent)
        shown = shown[:-1]
    elif kind == "missing":
        message, hint = f"missing required key '{loc[-1]}'", _field_hint(root, loc)
        shown = shown[:-1]
    elif kind in ("union_tag_invalid", "union_tag_not_found"):
        _, union = _walk(root, loc)
        message, hint = _tag_problem(error, ctx, _tags(union))
    elif kind == "string_pattern_mismatch" and ctx.get("pattern") == DNS_LABEL:
        hint = "use lowercase letters, digits and '-' (at most 63 characters), e.g. 'pod-recreate'"
    elif kind in _BOUNDS and not hint:
        hint = _field_hint(root, loc)  # the description says the range and why
    elif kind in ("literal_error", "enum"):
        hint = _did_you_mean(str(error.get("input")), _expected_values(str(ctx.get("expected", ""))))
    path = dotted(shown)
    return Diagnosis(
        loc=loc,
        path=path,
        message=f"{path}: {message}" if path else message,
        hint=hint,
        points_at_key=kind == "extra_forbidden",
        missing=kind == "missing",
    )


def path_of(root: type[BaseModel], loc: Loc) -> str:
    """The dotted path of ``loc`` as a user sees it in YAML (discriminator tags dropped)."""
    return dotted(_walk(root, loc)[0])


def dotted(parts: typing.Sequence[int | str]) -> str:
    """``("faults", 0, "schedule")`` -> ``faults[0].schedule``."""
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")


def _tag_problem(error: ErrorDetails, ctx: dict[str, Any], tags: list[str]) -> tuple[str, str]:
    key = str(ctx.get("discriminator", "kind")).strip("'\"")
    allowed = f"{key} must be one of: {', '.join(tags)}"
    if error["type"] == "union_tag_not_found":
        return f"missing '{key}'", allowed
    tag = str(ctx.get("tag", ""))
    suggestion = _did_you_mean(tag, tags)
    return f"unknown {key} '{tag}'", "; ".join(p for p in (suggestion, allowed) if p)


def _tags(union: Any) -> list[str]:
    members = typing.get_args(union) if typing.get_origin(union) in (typing.Union, types.UnionType) else ()
    return [tag for m in members for tag in _kind_tags(m)]


def _kind_tags(member: Any) -> tuple[str, ...]:
    if isinstance(member, type) and issubclass(member, BaseModel) and "kind" in member.model_fields:
        return tuple(str(t) for t in typing.get_args(member.model_fields["kind"].annotation))
    return ()


def _expected_values(text: str) -> list[str]:
    # pydantic renders choices as "'a', 'b' or 'c'".
    cleaned = text.replace(" or ", ", ")
    return [v.strip().strip("'\"") for v in cleaned.split(",") if v.strip()]


def _did_you_mean(word: str, choices: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else ""


def _allowed_keys_hint(key: str, parent: Any) -> str:
    if not (isinstance(parent, type) and issubclass(parent, BaseModel)):
        return ""
    allowed = [f.alias or name for name, f in parent.model_fields.items()]
    parts = [_did_you_mean(key, allowed), f"allowed keys: {', '.join(allowed)}"]
    return "; ".join(p for p in parts if p)


def _field_hint(root: type[BaseModel], loc: Loc) -> str:
    _, parent = _walk(root, loc[:-1])
    if isinstance(parent, type) and issubclass(parent, BaseModel):
        for name, field in parent.model_fields.items():
            if loc[-1] in (name, field.alias) and field.description:
                return f"{loc[-1]}: {field.description}"
    return ""


def _walk(root: type[BaseModel], loc: Loc) -> tuple[list[int | str], Any]:
    """Follow ``loc`` through the model's types; returns the shown path parts and the type reached."""
    current: Any = root
    shown: list[int | str] = []
    for part in loc:
        current = _unwrap(current)
        member = _tagged_member(current, part)
        if member is not None:
            current = member  # a discriminator tag: part of the loc, not of the YAML path
            continue
        shown.append(part)
        current = _child(current, part)
    return shown, _unwrap(current)


def _child(current: Any, part: int | str) -> Any:
    if isinstance(current, type) and issubclass(current, BaseModel):
        for name, field in current.model_fields.items():
            if part in (name, field.alias):
                return field.annotation
        return None
    origin, args = typing.get_origin(current), typing.get_args(current)
    if origin is list and args:
        return args[0]
    if origin is dict and len(args) == 2:
        return args[1]
    return None


def _unwrap(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
            continue
        if origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(members) == 1:
                tp = members[0]
                continue
        return tp


def _tagged_member(tp: Any, part: int | str) -> type[BaseModel] | None:
    if typing.get_origin(tp) not in (typing.Union, types.UnionType) or not isinstance(part, str):
        return None
    for member in typing.get_args(tp):
        if part in _kind_tags(member):
            return typing.cast(type[BaseModel], member)
    return None
