"""The hold queue: messages a node keeps instead of sending, for hold-and-step.

DSLabs' visual debugger lets a student deliver one message at a time and
choose which; clusterlab does the same on a real cluster. While delivery is
held, every protocol message a node originates waits here until the
instructor delivers it (or all of them). This module is only the queue and
its limits; hold.py wires it to the node, its commands and its telemetry.

What is held: what the protocols being taught send end to end (Raft,
KV forwarding, files). What passes: messages about the network itself
(heartbeats and routing go one hop with ``send_link`` and never reach the
queue), the load generator's ``Chatter`` (hundreds a second would fill the
queue at once and teach nothing) and traceroute probes (a measuring tool).

A full queue refuses the new message: the caller reports it as a drop with
reason ``hold_full`` (the dashboard marks it, the counters count it) and
``overflow`` counts it, so a flood is visible, never silent. Keeping the
oldest is deliberate: they are the ones the instructor is looking at.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from cluster.schema.messages import Envelope

# A person steps through a few dozen messages; with Raft's clock stopped the
# queue grows only by the replies to what is delivered and by client
# requests. Beyond this it is a flood no one can step through.
MAX_HELD_MESSAGES = 100
# File chunks are up to 1 MiB; this keeps a held node's memory bounded even
# when the count limit is not reached.
MAX_HELD_BYTES = 16 * 1024 * 1024
# One line on the dashboard; an AppendEntries with many entries is cut here.
MAX_TEXT_CHARS = 160
PASS_THROUGH_KINDS = frozenset({"Chatter", "TraceProbe", "TraceReply"})

HELD = "held"
FULL = "full"


@dataclass(frozen=True, slots=True)
class Held:
    env: Envelope
    size_bytes: int
    since_ms: float


class HoldQueue:
    """Held messages by seq, oldest first, with a count and a byte limit."""

    def __init__(self, limit: int = MAX_HELD_MESSAGES, limit_bytes: int = MAX_HELD_BYTES) -> None:
        self.limit = limit
        self.limit_bytes = limit_bytes
        self.on = False
        self.overflow = 0  # messages refused because the queue was full, ever
        self._held: OrderedDict[int, Held] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._held)

    def wants(self, env: Envelope) -> bool:
        """Should ``env`` be offered to the queue rather than sent?"""
        return self.on and env.kind not in PASS_THROUGH_KINDS

    def offer(self, env: Envelope, size_bytes: int, now_ms: float) -> str:
        """Keep ``env``: HELD, or FULL when a limit refuses it (counted in ``overflow``)."""
        if len(self._held) >= self.limit or self._bytes + size_bytes > self.limit_bytes:
            self.overflow += 1
            return FULL
        self._held[env.seq] = Held(env, size_bytes, now_ms)
        self._bytes += size_bytes
        return HELD

    def take(self, seq: int) -> Envelope | None:
        """Remove and return held message ``seq``; None if it is not held."""
        held = self._held.pop(seq, None)
        if held is None:
            return None
        self._bytes -= held.size_bytes
        return held.env

    def take_all(self) -> list[Envelope]:
        """Remove and return every held message, oldest first."""
        envs = [h.env for h in self._held.values()]
        self._held.clear()
        self._bytes = 0
        return envs

    def entries(self) -> list[dict[str, Any]]:
        """What HeldMessages reports: ``{"id", "dst", "type", "text", "since_ms"}`` each."""
        return [
            {
                "id": seq,
                "dst": h.env.dst,
                "type": h.env.kind,
                "text": h.env.text()[:MAX_TEXT_CHARS],
                "since_ms": h.since_ms,
            }
            for seq, h in self._held.items()
        ]
