"""Items for other nodes, collected and sent as one message per node per event-loop turn.

Sixty-four clients writing through a follower produce sixty-four forwarded
requests in a few milliseconds. Sent one by one, each costs a frame, an
authentication tag, a system call and two telemetry events at both ends;
sent together, they share them — the same reason Raft puts many entries in
one AppendEntries. The batch leaves at the end of the current event-loop
turn (``call_soon``), so batching adds no waiting: whatever arrived in the
same turn goes together, a lone request goes alone and at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

# One message stays far below the frame limit (codec.MAX_FRAME_BYTES, 8 MiB)
# and one receiver's work per message stays small.
MAX_BATCH_ITEMS = 256
MAX_BATCH_BYTES = 1024 * 1024


class Batcher:
    """``add(dst, item, size_bytes)``; ``send(dst, items)`` is called once per turn per ``dst``."""

    def __init__(self, send: Callable[[str, list[Any]], None]) -> None:
        self._send = send
        self._pending: dict[str, list[Any]] = {}
        self._pending_bytes: dict[str, int] = {}
        self._scheduled = False

    def add(self, dst: str, item: Any, size_bytes: int) -> None:
        items = self._pending.setdefault(dst, [])
        if items and (
            len(items) >= MAX_BATCH_ITEMS
            or self._pending_bytes.get(dst, 0) + size_bytes > MAX_BATCH_BYTES
        ):
            self._send(dst, items)  # this batch is full: it leaves now
            items = self._pending[dst] = []
            self._pending_bytes[dst] = 0
        items.append(item)
        self._pending_bytes[dst] = self._pending_bytes.get(dst, 0) + size_bytes
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        pending, self._pending = self._pending, {}
        self._pending_bytes = {}
        for dst, items in pending.items():
            if items:
                self._send(dst, items)
