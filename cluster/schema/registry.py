"""A registry of frozen dataclasses that travel as compact msgpack arrays.

Wire messages and telemetry events are values (STYLE.md): frozen dataclasses
with slots. To keep them cheap on the wire, a value is sent as a flat array
``[tag, field1, field2, ...]`` rather than a map, and decoded back by looking
the tag up here. Remote data is untrusted, so decoding checks the tag, the
field count and each field's outer type before building the value: a bad
value raises ``DecodeError``, which callers count and drop, never crash on.

A class may declare ``BULK = (payload field, digest field)``: its payload
(a file chunk) then travels outside msgpack, in a bulk frame that the codec
checks against the digest field (cluster/schema/codec.py, messages.py).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, TypeVar


class DecodeError(ValueError):
    """The remote side sent something that is not a valid value."""


@dataclass(frozen=True, slots=True)
class BulkField:
    """A class's ``BULK = (payload field, digest field)``: the bytes that travel
    outside msgpack in a bulk frame (codec.py), and the field holding their
    SHA-256 as lower-case hex, which the frame's digest must equal."""

    index: int  # position among the fields (0 = the first after the tag)
    payload: str
    digest: str


T = TypeVar("T")

# Outer runtime types a decoded msgpack field may have for each annotation.
# msgpack turns tuples into lists, and an int is acceptable where a float is.
_SIMPLE: dict[Any, tuple[type, ...]] = {
    int: (int,),
    float: (float, int),
    str: (str,),
    bytes: (bytes,),
    bytearray: (bytearray,),
    bool: (bool,),
}


def _fields_getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """All of a value's fields as one tuple, read in C (``attrgetter``), not a Python loop.

    Every message and telemetry event goes through this on its way to the
    wire or to a browser, thousands of times a second in each process.
    """
    if len(names) == 1:  # attrgetter of one name returns the value, not a tuple
        one = attrgetter(names[0])
        return lambda value: (one(value),)
    if not names:
        return lambda value: ()
    return attrgetter(*names)  # a tuple for 2+ names


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
        # Per class, precomputed so that the hot paths run in C: its fields as a
        # tuple, and one isinstance() type per field (``object`` where anything
        # goes) for all(map(isinstance, ...)).
        self._getters: dict[type[Any], Callable[[Any], tuple[Any, ...]]] = {}
        self._decoders: dict[str, tuple[type[Any], tuple[type | tuple[type, ...], ...]]] = {}
        self._bulk: dict[type[Any], BulkField] = {}

    def register(self, cls: type[T]) -> type[T]:
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"{cls.__name__} must be a dataclass")
        tag = cls.__name__
        if tag in self._by_tag:
            raise TypeError(f"{self.name}: tag {tag!r} registered twice")
        hints = typing.get_type_hints(cls)
        names = tuple(f.name for f in dataclasses.fields(cls))
        checks = tuple(_accepted(hints[n]) for n in names)
        self._by_tag[tag] = cls
        self._fields[cls] = names
        self._checks[cls] = checks
        self._getters[cls] = _fields_getter(names)
        self._decoders[tag] = (cls, tuple(object if c is None else c for c in checks))
        bulk = getattr(cls, "BULK", None)
        if bulk is not None:
            payload, digest = bulk
            if payload not in names or digest not in names:
                raise TypeError(f"{tag}.BULK names fields it does not have: {bulk}")
            self._bulk[cls] = BulkField(names.index(payload), payload, digest)
        return cls

    def bulk_field(self, cls: type[Any]) -> BulkField | None:
        """Where a value of ``cls`` keeps its bulk payload, if it has one (``BULK``)."""
        return self._bulk.get(cls)

    def tags(self) -> list[str]:
        return sorted(self._by_tag)

    def cls(self, tag: str) -> type[Any]:
        return self._by_tag[tag]

    def find(self, tag: str) -> type[Any] | None:
        """The class registered under ``tag``, or None (remote input: no KeyError)."""
        return self._by_tag.get(tag)

    def row_checks(self, cls: type[Any]) -> tuple[type | tuple[type, ...], ...]:
        """Per position of ``cls``'s row ``[tag, field...]``, the types ``from_list`` accepts.

        For readers that keep a valid row as it is instead of building the
        dataclass (the hub forwards traffic rows to browsers untouched).
        """
        return (str, *self._decoders[cls.__name__][1])

    def to_list(self, value: Any) -> list[Any]:
        cls = type(value)
        return [cls.__name__, *self._getters[cls](value)]

    def to_dict(self, value: Any) -> dict[str, Any]:
        """JSON-friendly form with a ``type`` key, as browsers receive it."""
        cls = type(value)
        # A plain loop: measured faster here than dict(zip(...)) on CPython 3.11.
        out: dict[str, Any] = {"type": cls.__name__}
        for n in self._fields[cls]:
            out[n] = getattr(value, n)
        return out

    def from_list(self, raw: Any) -> Any:
        if not isinstance(raw, list) or not raw or not isinstance(raw[0], str):
            raise DecodeError(f"{self.name}: expected [tag, fields...]")
        decoder = self._decoders.get(raw[0])
        if decoder is None:
            raise DecodeError(f"{self.name}: unknown tag {raw[0][:40]!r}")
        cls, accepted = decoder
        fields = raw[1:]
        # The common case (a valid value) is checked in one C loop; only a
        # bad value pays for finding out what exactly is wrong with it.
        if len(fields) != len(accepted) or not all(map(isinstance, fields, accepted)):
            self._refuse(raw[0], fields, accepted)
        return cls(*fields)

    def _refuse(
        self, tag: str, fields: list[Any], accepted: tuple[type | tuple[type, ...], ...]
    ) -> typing.NoReturn:
        if len(fields) != len(accepted):
            raise DecodeError(
                f"{self.name}: {tag} has {len(fields)} fields, expected {len(accepted)}"
            )
        bad = next(v for v, a in zip(fields, accepted, strict=True) if not isinstance(v, a))
        raise DecodeError(f"{self.name}: {tag} has a field of type {type(bad).__name__}")

    def decorator(self) -> Callable[[type[T]], type[T]]:
        return self.register
