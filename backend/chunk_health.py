"""Which node holds which chunk, as far as the nodes' telemetry has told us.

The metadata in Raft says where each chunk's replicas *should* be; whether
a listed node really has the bytes is another matter (a repair that has not
fetched yet, a copy the scrubber found corrupt and quarantined). Every node
reports ``ChunkStored`` when it writes a chunk and ``ChunkRemoved`` when it
deletes one, so the backend, which hears every node, keeps the picture and
the placement table can colour each replica: ok, missing, or down.

What telemetry cannot know is the past before this backend started (a run
restarted over an old data directory): a chunk never seen being stored
anywhere is given the benefit of the doubt ("ok" unless seen removed).
"""

from __future__ import annotations

import threading
from typing import Any

from cluster.schema.telemetry import ChunkRemoved, ChunkStored

# Distinct chunks followed; a lab holds thousands. Past this, new chunks are
# not followed (reported "ok" unless their node is down) rather than letting
# memory grow without bound.
MAX_TRACKED_CHUNKS = 200_000

HEALTHS = ("ok", "missing", "down")


class ChunkHealth:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders: dict[str, set[str]] = {}  # sha256 → nodes that stored it, not removed since
        self._removed: dict[str, set[str]] = {}  # sha256 → nodes whose last word was "removed"

    def on_batch(self, node: str, events: list[Any]) -> None:
        """A hub listener: follow ChunkStored / ChunkRemoved (on the hub's thread)."""
        # Runs for every batch, and almost every event is traffic: one exact
        # type test per event (events are final dataclasses, never subclassed).
        for event in events:
            kind = type(event)
            if kind is ChunkStored:
                self.stored(event.node or node, event.sha256)
            elif kind is ChunkRemoved:
                self.removed(event.node or node, event.sha256)

    def stored(self, node: str, sha256: str) -> None:
        with self._lock:
            holders = self._holders.get(sha256)
            if holders is None:
                if len(self._holders) >= MAX_TRACKED_CHUNKS:
                    return
                holders = self._holders[sha256] = set()
            holders.add(node)
            removed = self._removed.get(sha256)
            if removed is not None:
                removed.discard(node)

    def removed(self, node: str, sha256: str) -> None:
        with self._lock:
            holders = self._holders.get(sha256)
            if holders is not None:
                holders.discard(node)
            if sha256 in self._removed or len(self._removed) < MAX_TRACKED_CHUNKS:
                self._removed.setdefault(sha256, set()).add(node)

    def health(self, node: str, sha256: str, node_state: str | None) -> str:
        """"down" if the node is not up; "missing" if it does not hold the chunk; else "ok"."""
        if node_state != "up":
            return "down"
        with self._lock:
            holders = self._holders.get(sha256)
            if holders is not None and node in holders:
                return "ok"
            if node in self._removed.get(sha256, ()):
                return "missing"
            # Seen stored elsewhere since we started, never here: not fetched (yet).
            return "missing" if holders is not None else "ok"
