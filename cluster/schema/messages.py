"""Node-to-node wire messages and the envelope that carries them.

Every message travels in an ``Envelope`` that names its source, final
destination, a per-source sequence number (``src#seq`` identifies it across
the whole run, so telemetry can join a send to its receive) and a hop budget
(``ttl``) for multi-hop forwarding. The body is one registered message type.
Each layer that needs messages (Raft, routing, files) defines them in its own
schema module with ``@wire``; they all share this one registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cluster.schema.codec import pack, unpack
from cluster.schema.registry import DecodeError, Registry

WIRE = Registry("wire")
wire = WIRE.register

DEFAULT_TTL = 16  # longer than any shortest path in a 50-node topology we draw


@wire
@dataclass(frozen=True, slots=True)
class Hello:
    """First frame on a new connection: who is calling, and in which run."""

    node: str
    run_id: str

    def text(self) -> str:
        return f"Hello from {self.node}"


@wire
@dataclass(frozen=True, slots=True)
class Heartbeat:
    """Link liveness probe; the echo of ``sent_ms`` gives the round-trip time."""

    sent_ms: float

    def text(self) -> str:
        return "Heartbeat"


@wire
@dataclass(frozen=True, slots=True)
class HeartbeatAck:
    echo_sent_ms: float

    def text(self) -> str:
        return "HeartbeatAck"


@wire
@dataclass(frozen=True, slots=True)
class Chatter:
    """Background traffic from ``SetLoad``: carries nothing but its own size."""

    payload: bytes

    def text(self) -> str:
        return f"Chatter {len(self.payload)} B"


@dataclass(frozen=True, slots=True)
class Envelope:
    src: str
    dst: str
    seq: int
    body: Any
    ttl: int = DEFAULT_TTL

    @property
    def kind(self) -> str:
        return type(self.body).__name__

    @property
    def msg_id(self) -> str:
        return f"{self.src}#{self.seq}"

    def text(self) -> str:
        """Canonical one-line form, used in logs, golden files and tooltips."""
        body_text = getattr(self.body, "text", None)
        detail = body_text() if callable(body_text) else self.kind
        return f"{self.src}→{self.dst} {detail}"

    def hop(self) -> Envelope:
        """The envelope one hop further on (ttl spent)."""
        return Envelope(self.src, self.dst, self.seq, self.body, self.ttl - 1)


def encode_envelope(env: Envelope) -> bytes:
    return pack([env.src, env.dst, env.seq, env.ttl, WIRE.to_list(env.body)])


def decode_envelope(body: bytes) -> Envelope:
    """Decode an authenticated frame body; raises FrameError or DecodeError."""
    raw = unpack(body)
    if not isinstance(raw, list) or len(raw) != 5:
        raise DecodeError("envelope: expected [src, dst, seq, ttl, body]")
    src, dst, seq, ttl, inner = raw
    if not (isinstance(src, str) and isinstance(dst, str)):
        raise DecodeError("envelope: src and dst must be strings")
    if not (isinstance(seq, int) and isinstance(ttl, int)):
        raise DecodeError("envelope: seq and ttl must be integers")
    return Envelope(src, dst, seq, WIRE.from_list(inner), ttl)
