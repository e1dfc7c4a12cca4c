"""A registry of frozen dataclasses that travel as compact msgpack arrays.

Wire messages and telemetry events are values (STYLE.md): frozen dataclasses
with slots. To keep them cheap on the wire, a value is sent as a flat array
``[tag, field1, field2, ...]`` rather than a map, and decoded back by looking
the tag up here. Remote data is untrusted, so decoding checks the tag, the
field count and each field's outer type before building the value: a bad
value raises ``DecodeError``, which callers count and drop, never crash on.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar


class DecodeError(ValueError):
    """The remote side sent something that is not a valid value."""


T = TypeVar("T")

# Outer runtime types a decoded msgpack field may have for each annotation.
# msgpack turns tuples into lists, and an int is acceptable where a float is.
_SIMPLE: dict[Any, tuple[type, ...]] = {
    int: (int,),
    float: (float, int),
    str: (str,),
    bytes: (bytes,),
    bool: (bool,),
}


def _accepted(annotation: Any) -> tuple[type, ...] | None:
    """Runtime types accepted for a field, or None to accept anything."""
    if annotation in _SIMPLE:
        return _SIMPLE[annotation]
    origin = typing.get_origin(annotation)
    if origin in (list, tuple):
        return (list, tuple)
    if origin is dict:
        return (dict,)
    if origin in (typing.Union, types.UnionType):
        accepted: list[type] = []
        for arg in typing.get_args(annotation):
            if arg is type(None):
                accepted.append(type(None))
                continue
            inner = _accepted(arg)
            if inner is None:
                return None
            accepted.extend(inner)
        return tuple(accepted)
    return None


class Registry:
    """Maps a short tag to a dataclass and back.

    ``register`` is used as a class decorator; the tag is the class name unless
    given. Each registered class gets ``to_fields`` order from its dataclass
    fields, so adding a field at the end is the only compatible change.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._by_tag: dict[str, type[Any]] = {}
        self._fields: dict[type[Any], tuple[str, ...]] = {}
        self._checks: dict[type[Any], tuple[tuple[type, ...] | None, ...]] = {}

    def register(self, cls: type[T]) -> type[T]:
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"{cls.__name__} must be a dataclass")
        tag = cls.__name__
        if tag in self._by_tag:
            raise TypeError(f"{self.name}: tag {tag!r} registered twice")
        hints = typing.get_type_hints(cls)
        names = tuple(f.name for f in dataclasses.fields(cls))
        self._by_tag[tag] = cls
        self._fields[cls] = names
        self._checks[cls] = tuple(_accepted(hints[n]) for n in names)
        return cls

    def tags(self) -> list[str]:
        return sorted(self._by_tag)

    def cls(self, tag: str) -> type[Any]:
        return self._by_tag[tag]

    def to_list(self, value: Any) -> list[Any]:
        cls = type(value)
        return [cls.__name__, *(getattr(value, n) for n in self._fields[cls])]

    def to_dict(self, value: Any) -> dict[str, Any]:
        """JSON-friendly form with a ``type`` key, as browsers receive it."""
        cls = type(value)
        out: dict[str, Any] = {"type": cls.__name__}
        for n in self._fields[cls]:
            out[n] = getattr(value, n)
        return out

    def from_list(self, raw: Any) -> Any:
        if not isinstance(raw, list) or not raw or not isinstance(raw[0], str):
            raise DecodeError(f"{self.name}: expected [tag, fields...]")
        cls = self._by_tag.get(raw[0])
        if cls is None:
            raise DecodeError(f"{self.name}: unknown tag {raw[0][:40]!r}")
        checks = self._checks[cls]
        if len(raw) - 1 != len(checks):
            raise DecodeError(
                f"{self.name}: {raw[0]} has {len(raw) - 1} fields, expected {len(checks)}"
            )
        for value, accepted in zip(raw[1:], checks, strict=True):
            if accepted is not None and not isinstance(value, accepted):
                raise DecodeError(
                    f"{self.name}: {raw[0]} has a field of type {type(value).__name__}"
                )
        return cls(*raw[1:])

    def decorator(self) -> Callable[[type[T]], type[T]]:
        return self.register
