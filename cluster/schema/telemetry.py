"""Telemetry events: what every node tells the dashboard about itself.

Nodes batch these and send them to the backend hub (see ``encode_batch``);
the hub keeps the cluster view and forwards them to browsers as JSON objects
with a ``type`` key (``TELEMETRY.to_dict``). docs/telemetry.md documents every
event; tests/unit/test_telemetry_docs.py checks the page names them all.

Times are wall-clock milliseconds (``t_ms``): every process of a run is on one
machine and so shares one clock, which lets the page measure how long an event
took to reach it and animate a message at the pace of its real flight.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cluster.schema.codec import pack, unpack
from cluster.schema.registry import DecodeError, Registry

TELEMETRY = Registry("telemetry")
event = TELEMETRY.register


@event
@dataclass(frozen=True, slots=True)
class NodeUp:
    """The node process started and is serving peers on ``addr``."""

    node: str
    t_ms: float
    pid: int
    addr: str
    client_addr: str


@event
@dataclass(frozen=True, slots=True)
class MsgSent:
    """A frame left ``node`` towards next hop ``to`` (``src#seq`` names the message)."""

    node: str
    t_ms: float
    src: str
    dst: str
    seq: int
    kind: str
    to: str
    size_bytes: int


@event
@dataclass(frozen=True, slots=True)
class MsgReceived:
    """A frame arrived at ``node`` from previous hop ``frm``."""

    node: str
    t_ms: float
    src: str
    dst: str
    seq: int
    kind: str
    frm: str
    size_bytes: int


@event
@dataclass(frozen=True, slots=True)
class MsgDropped:
    """A message was not delivered; ``reason`` is e.g. ``no_link``, ``ttl``, ``loss``."""

    node: str
    t_ms: float
    src: str
    dst: str
    seq: int
    kind: str
    reason: str


@event
@dataclass(frozen=True, slots=True)
class LinkUp:
    """A TCP connection to neighbour ``peer`` is established (``up``) or lost."""

    node: str
    t_ms: float
    peer: str
    up: bool


@event
@dataclass(frozen=True, slots=True)
class LinkRtt:
    """Heartbeat round-trip time to a neighbour, measured on real frames."""

    node: str
    t_ms: float
    peer: str
    rtt_ms: float


@event
@dataclass(frozen=True, slots=True)
class BadFrame:
    """A frame from ``peer`` was refused (``bad_tag``, ``oversize``, ``undecodable``...)."""

    node: str
    t_ms: float
    peer: str
    reason: str


@event
@dataclass(frozen=True, slots=True)
class Counters:
    """Monotonic counters of one node, sent about once a second."""

    node: str
    t_ms: float
    counters: dict[str, int]


def encode_batch(node: str, dropped_total: int, events: list[Any]) -> bytes:
    """One telemetry frame body: the sender, its lifetime drop count, the events."""
    return pack([node, dropped_total, [TELEMETRY.to_list(e) for e in events]])


def decode_batch(body: bytes) -> tuple[str, int, list[Any]]:
    raw = unpack(body)
    if not (isinstance(raw, list) and len(raw) == 3 and isinstance(raw[0], str)):
        raise DecodeError("telemetry: expected [node, dropped, events]")
    node, dropped, events = raw
    if not isinstance(dropped, int) or not isinstance(events, list):
        raise DecodeError("telemetry: bad batch header")
    return node, dropped, [TELEMETRY.from_list(e) for e in events]
