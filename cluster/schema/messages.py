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

from cluster.schema.codec import Frame, encode_bulk_frame, encode_frame, pack, unpack
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


def frame_envelope(secret: bytes, env: Envelope) -> Frame:
    """The frame that carries ``env``: a bulk frame when its body has a non-empty
    bulk payload (a file chunk: never copied, never HMACed, codec.py), else a
    plain frame."""
    bulk = WIRE.bulk_field(type(env.body))
    if bulk is not None:
        payload = getattr(env.body, bulk.payload)
        if payload:
            fields = WIRE.to_list(env.body)
            fields[1 + bulk.index] = None  # the payload travels after the head
            head = pack([env.src, env.dst, env.seq, env.ttl, fields])
            digest = bytes.fromhex(getattr(env.body, bulk.digest))
            return encode_bulk_frame(secret, head, payload, digest)
    return encode_frame(secret, encode_envelope(env))


def decode_envelope(body: bytes | bytearray) -> Envelope:
    """Decode an authenticated plain frame body; raises FrameError or DecodeError.

    A bulk payload (``BULK``) may only be empty here: bytes of a chunk travel in
    bulk frames, whose digest the reader has checked. So every decoded body's
    payload hashes to its digest field, or is empty.
    """
    env = _envelope(unpack(body))
    bulk = WIRE.bulk_field(type(env.body))
    if bulk is not None and getattr(env.body, bulk.payload):
        raise DecodeError(f"envelope: {env.kind} with bytes must come in a bulk frame")
    return env


def decode_bulk_envelope(head: bytes, payload: bytearray, digest: bytes) -> Envelope:
    """Decode a bulk frame's head around its payload, whose SHA-256 the reader has
    checked against ``digest``; the body's digest field must name that same hash."""
    raw = unpack(head)
    inner = raw[4] if isinstance(raw, list) and len(raw) == 5 else None
    if not (isinstance(inner, list) and inner and isinstance(inner[0], str)):
        raise DecodeError("bulk envelope: expected [src, dst, seq, ttl, [tag, fields...]]")
    cls = WIRE.find(inner[0])
    bulk = WIRE.bulk_field(cls) if cls is not None else None
    if bulk is None or len(inner) <= 1 + bulk.index:
        raise DecodeError("bulk envelope: the body is not a message with a bulk payload")
    if inner[1 + bulk.index] is not None:
        raise DecodeError("bulk envelope: the payload's place in the head is not empty")
    inner[1 + bulk.index] = payload
    env = _envelope(raw)
    if getattr(env.body, bulk.digest) != digest.hex():
        raise DecodeError(f"bulk envelope: {env.kind}'s {bulk.digest} is not the payload's hash")
    return env


def _envelope(raw: Any) -> Envelope:
    if not isinstance(raw, list) or len(raw) != 5:
        raise DecodeError("envelope: expected [src, dst, seq, ttl, body]")
    src, dst, seq, ttl, inner = raw
    if not (isinstance(src, str) and isinstance(dst, str)):
        raise DecodeError("envelope: src and dst must be strings")
    if not (isinstance(seq, int) and isinstance(ttl, int)):
        raise DecodeError("envelope: seq and ttl must be integers")
    return Envelope(src, dst, seq, WIRE.from_list(inner), ttl)
