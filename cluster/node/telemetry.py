"""The node's telemetry stream to the backend hub, and the commands it carries back.

The cluster's own work always comes first (DESIGN.md, Telemetry): ``emit``
only appends to a bounded buffer and never waits. A flusher sends the buffer
every ``telemetry_flush_ms`` as one frame. When the buffer is full, events are
dropped; while the hub is absent they wait in the buffer; when the hub's
socket has too many unsent bytes, the traffic events are dropped and the state
events (roles, snapshots, routes) wait for the next flush. Every drop grows a
lifetime count; every batch carries that count, so the dashboard
can say how much it did not see.

Buffers are sized in time, not only in events: a traffic event (a message
hop) older than ``MAX_SHEDDABLE_AGE_MS`` at flush time is dropped and
counted. Under overload the page then sees fewer, fresh events (counted
drops) instead of every event seconds late (lag that never shows anywhere).

Events are buffered as their wire rows (``[tag, node, t_ms, ...]``), not as
dataclasses: the per-message traffic events are built as rows directly
(``emit_row``), and a flush is one msgpack call over the rows.

The same connection is two-way: the hub sends control commands
(cluster/schema/control.py) back on it.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Callable
from typing import Any

from cluster.node.backoff import Backoff
from cluster.node.clock import sleep_to_grid, wall_ms
from cluster.node.framing import read_frame
from cluster.schema.codec import FrameError, encode_frame
from cluster.schema.control import decode_command
from cluster.schema.registry import DecodeError
from cluster.schema.telemetry import (
    SHEDDABLE_EVENT_NAMES,
    T_MS_INDEX,
    TELEMETRY,
    Row,
    encode_rows,
)

log = logging.getLogger(__name__)

# A memory cap only: under heavy load (5,000 events/s per node) this is a
# second of events, and MAX_SHEDDABLE_AGE_MS sheds most of them long before.
MAX_BUFFERED_EVENTS = 20_000
# The dashboard's budget is 250 ms from event to page; a traffic event older
# than this when the node flushes cannot make it after the hub and the browser
# have had their share, so it is dropped (and counted) here, where it is cheapest.
MAX_SHEDDABLE_AGE_MS = 150.0
# Unsent bytes on the hub's socket above which traffic events are dropped
# instead of written (state events wait): about 250 ms of a busy node's
# telemetry (~50 bytes an event at 5,000 events/s). More would only be
# seconds of lag queued in the kernel.
MAX_HUB_WRITE_BUFFER_BYTES = 64 * 1024
# Events per frame: keeps a frame far below the frame limit and one encode short.
MAX_EVENTS_PER_BATCH = 5_000
# Commands are a few dozen bytes; a bigger frame from the hub is refused unread.
MAX_COMMAND_FRAME_BYTES = 64 * 1024
CONNECT_TIMEOUT_S = 2.0
# The hub may start after the nodes, or restart; retries never stop.
RECONNECT_INITIAL_MS = 100.0
RECONNECT_MAX_MS = 2000.0


class Telemetry:
    def __init__(
        self,
        node_id: str,
        hub_host: str,
        hub_port: int,
        secret: bytes,
        flush_ms: int,
        node_up: Callable[[], Any],
        on_command: Callable[[Any], None],
        on_bad_frame: Callable[[str, str], None],
        rng: random.Random,
    ) -> None:
        self._node_id = node_id
        self._hub_host = hub_host
        self._hub_port = hub_port
        self._secret = secret
        self._flush_s = flush_ms / 1000.0
        self._node_up = node_up
        self._on_command = on_command
        self._on_bad_frame = on_bad_frame
        self._backoff = Backoff(rng, RECONNECT_INITIAL_MS, RECONNECT_MAX_MS)
        self._buffer: deque[Row] = deque()
        self.dropped_total = 0
        self.connected = False

    def emit(self, event: Any) -> None:
        """Queue an event for the hub; never blocks, drops when the buffer is full."""
        # A full buffer is mostly traffic waiting for an absent hub; a state
        # event makes room by shedding the stale part of it first.
        if len(self._buffer) >= MAX_BUFFERED_EVENTS and not self.shed_stale(wall_ms()):
            self.dropped_total += 1
            return
        self._buffer.append(TELEMETRY.to_list(event))

    def emit_row(self, row: Row) -> None:
        """``emit`` for an event already in its wire form (the per-message traffic rows)."""
        if len(self._buffer) >= MAX_BUFFERED_EVENTS:
            self.dropped_total += 1
            return
        self._buffer.append(row)

    def buffered(self) -> int:
        return len(self._buffer)

    async def run(self) -> None:
        """Connect to the hub, stream, reconnect: until cancelled."""
        while True:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(self._hub_host, self._hub_port),
                    timeout=CONNECT_TIMEOUT_S,
                )
            except (OSError, TimeoutError):
                await asyncio.sleep(self._backoff.next_delay_ms() / 1000.0)
                continue
            self._backoff.reset()
            self.connected = True
            try:
                await self._serve(reader, writer)
            except (OSError, ConnectionError) as exc:
                log.info("telemetry connection lost: %s", exc)
            finally:
                self.connected = False
                writer.close()
            await asyncio.sleep(self._backoff.next_delay_ms() / 1000.0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # The hub learns who we are from the first batch of every connection.
        node_up = TELEMETRY.to_list(self._node_up())
        self._write_batch(writer, [node_up, *self._take(MAX_EVENTS_PER_BATCH - 1)])
        commands = asyncio.create_task(self._read_commands(reader))
        try:
            while not commands.done():
                # On the node's timer grid (clock.py): flushes share a wakeup
                # with the ticks, and no waiter is built around the task each time.
                await sleep_to_grid(self._flush_s)
                self.flush(writer)
        finally:
            commands.cancel()

    def flush(self, writer: asyncio.StreamWriter) -> None:
        self.shed_stale(wall_ms())
        while self._buffer:
            if writer.transport.get_write_buffer_size() > MAX_HUB_WRITE_BUFFER_BYTES:
                self.hold_back()
                return
            self._write_batch(writer, self._take(MAX_EVENTS_PER_BATCH))

    def hold_back(self) -> int:
        """The hub is behind: drop (and count) the traffic events, keep the rest
        for the next flush; return how many were dropped.

        A role change or a snapshot is seen once and the view needs every one,
        while a message hop is one of thousands; only MAX_BUFFERED_EVENTS bounds
        what waits.
        """
        buffer = self._buffer
        shed_names = SHEDDABLE_EVENT_NAMES
        kept = [r for r in buffer if r[0] not in shed_names]
        dropped = len(buffer) - len(kept)
        self._buffer = deque(kept)
        self.dropped_total += dropped
        return dropped

    def shed_stale(self, now_ms: float) -> int:
        """Drop (and count) traffic events older than MAX_SHEDDABLE_AGE_MS; return how many."""
        buffer = self._buffer
        cutoff_ms = now_ms - MAX_SHEDDABLE_AGE_MS
        # Events are buffered in the order they happened: a fresh oldest one
        # means nothing is stale, and the common case costs one comparison.
        if not buffer or buffer[0][T_MS_INDEX] >= cutoff_ms:
            return 0
        shed_names = SHEDDABLE_EVENT_NAMES
        kept = [r for r in buffer if r[T_MS_INDEX] >= cutoff_ms or r[0] not in shed_names]
        shed = len(buffer) - len(kept)
        self._buffer = deque(kept)
        self.dropped_total += shed
        return shed

    def _take(self, count: int) -> list[Row]:
        buffer = self._buffer
        if len(buffer) <= count:  # the usual flush: everything, without a loop
            self._buffer = deque()
            return list(buffer)
        return [buffer.popleft() for _ in range(count)]

    def _write_batch(self, writer: asyncio.StreamWriter, rows: list[Row]) -> None:
        body = encode_rows(self._node_id, self.dropped_total, rows)
        writer.write(encode_frame(self._secret, body))

    async def _read_commands(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                body = await read_frame(reader, self._secret, MAX_COMMAND_FRAME_BYTES)
                if body is None:
                    return
                self._on_command(decode_command(body))
        except FrameError as exc:
            self._on_bad_frame("hub", exc.reason)
        except DecodeError:
            self._on_bad_frame("hub", "invalid_value")
        except (OSError, ConnectionError):
            pass
