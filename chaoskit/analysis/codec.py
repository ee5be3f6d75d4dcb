"""Dataclass trees to JSON-ready dicts and back, driven by the type hints (used by summary.json)."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


class DecodeError(ValueError):
    """A summary dict does not match the dataclass it should decode into."""


def to_jsonable(value: object) -> Any:
    """Dataclasses become dicts keyed by field name, tuples become lists; scalars pass through."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    return value


def from_jsonable(cls: type[T], data: Any) -> T:
    """Inverse of :func:`to_jsonable` for a dataclass ``cls`` (unknown keys are an error)."""
    return typing.cast(T, _decode(cls, data, cls.__name__))


def _decode(hint: Any, data: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        return _decode_union(typing.get_args(hint), data, where)
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(data, list | tuple):
            raise DecodeError(f"{where}: expected a list, got {type(data).__name__}")
        return tuple(_decode(args[0], item, f"{where}[{i}]") for i, item in enumerate(data))
    if origin is dict or origin is Mapping:
        _, value_hint = typing.get_args(hint)
        if not isinstance(data, Mapping):
            raise DecodeError(f"{where}: expected an object, got {type(data).__name__}")
        return {str(k): _decode(value_hint, v, f"{where}.{k}") for k, v in data.items()}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _decode_dataclass(hint, data, where)
    return _decode_scalar(hint, data, where)


def _decode_union(args: tuple[Any, ...], data: Any, where: str) -> Any:
    if data is None and type(None) in args:
        return None
    others = [a for a in args if a is not type(None)]
    if len(others) != 1:
        raise DecodeError(f"{where}: unions of several types are not supported")
    return _decode(others[0], data, where)


def _decode_dataclass(cls: type[Any], data: Any, where: str) -> Any:
    if not isinstance(data, Mapping):
        raise DecodeError(f"{where}: expected an object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = set(data) - fields
    if unknown:
        raise DecodeError(f"{where}: unknown keys {sorted(unknown)}")
    missing = {
        f.name
        for f in dataclasses.fields(cls)
        if f.init
        and f.name not in data
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    }
    if missing:
        raise DecodeError(f"{where}: missing keys {sorted(missing)}")
    kwargs = {name: _decode(hints[name], value, f"{where}.{name}") for name, value in data.items()}
    return cls(**kwargs)


def _decode_scalar(hint: Any, data: Any, where: str) -> Any:
    if hint is Any:
        return data
    if hint is float and isinstance(data, int | float) and not isinstance(data, bool):
        return float(data)
    if hint is int and isinstance(data, int) and not isinstance(data, bool):
        return data
    if hint in (str, bool) and isinstance(data, hint):
        return data
    raise DecodeError(f"{where}: expected {getattr(hint, '__name__', hint)}, got {data!r}")
