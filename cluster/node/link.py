"""One outgoing TCP connection to a neighbour, kept alive across failures.

A node sends on its own connection to each neighbour and receives on the
connection the neighbour opens to it: two one-way streams per pair. That keeps
each side simple (a link only writes, a server only reads) and matches the
topology later on, where a node sends only to its neighbours and a directed
link is literally one stream.

Frames wait in a bounded queue; one writer task drains it, joining every frame
queued since its last wakeup into a single ``write``. Many small Raft and
heartbeat frames thus cost one system call, not one each. A bulk frame (a
file chunk, cluster/schema/codec.py) is written as its small prefix and then
the payload itself, from the buffer the chunk already lives in: never copied.

A link in the topology may be slow, lossy or narrow: each frame passes the
link's ``Shaper`` (shaping.py) when it is queued, which may lose it or give
it a later release time; the writer holds it until then. ``MsgSent`` carries
the time the frame entered the link, so the dashboard's flight time for a
hop includes the injected delay, as a real slow link would show.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from typing import Protocol

from cluster.config import PeerAddr
from cluster.node.backoff import Backoff
from cluster.node.clock import wall_ms
from cluster.node.shaping import LOST, QUEUE_FULL, Shaper, Shaping
from cluster.schema.codec import BulkFrame, Frame
from cluster.schema.messages import Envelope

log = logging.getLogger(__name__)

# A few seconds of the heaviest SetLoad traffic; a longer queue only means
# older messages arriving later, so beyond it new messages are dropped.
MAX_QUEUED_FRAMES = 10_000
# Bounds memory when a neighbour stalls (e.g. paused) while large frames such
# as 1 MiB file chunks are queued for it.
MAX_QUEUED_BYTES = 64 * 1024 * 1024
# One write joins frames up to this size: large enough to batch a burst, small
# enough that one write does not hold the event loop for long.
MAX_WRITE_BYTES = 256 * 1024
CONNECT_TIMEOUT_S = 2.0
# Reconnect delays. Retries never stop: the user may restart a killed node at
# any time, and it must be found again within about a second.
RECONNECT_INITIAL_MS = 50.0
RECONNECT_MAX_MS = 1000.0
# A connection that lived this long was healthy; the next failure starts the
# backoff afresh. A peer that accepts and at once closes (wrong run) does not
# reset it, so we do not hammer it.
HEALTHY_CONNECTION_S = 1.0
# Peers never send on our outgoing stream; we read only to notice its end.
EOF_READ_BYTES = 4096
# A frame due within this much is written now: waking up again for a few
# microseconds of a fast link's transmission time would cost more than it is.
RELEASE_SLACK_S = 0.0002

# (envelope, frame, wall-clock ms when queued, loop time in s when it may be written)
Queued = tuple[Envelope, Frame, float, float]
# (envelope, frame size in bytes, wall-clock ms when queued): what a write reports
Written = tuple[Envelope, int, float]


class LinkListener(Protocol):
    """What a link reports to its node."""

    def on_link_state(self, peer: str, up: bool) -> None: ...

    def on_frames_written(self, peer: str, sent: list[Written]) -> None: ...

    def on_dropped(self, env: Envelope, reason: str) -> None: ...


class OutgoingLink:
    def __init__(
        self,
        peer: PeerAddr,
        hello_frame: bytes,
        listener: LinkListener,
        rng: random.Random,
        shaper: Shaper,
    ) -> None:
        self.peer = peer.node
        self._addr = peer
        self._hello_frame = hello_frame
        self._listener = listener
        self._backoff = Backoff(rng, RECONNECT_INITIAL_MS, RECONNECT_MAX_MS)
        self.shaper = shaper
        self._queue: deque[Queued] = deque()
        self._queued_bytes = 0
        self._wakeup = asyncio.Event()
        self._ended = asyncio.Event()  # the current connection ended
        self._writer: asyncio.StreamWriter | None = None  # while connected
        self._lost = False
        self.connected = False

    @property
    def shaping(self) -> Shaping:
        return self.shaper.shaping

    def enqueue(self, env: Envelope, frame: Frame) -> str | None:
        """Queue a frame for sending; return the drop reason if it cannot be."""
        if not self.connected:
            return "no_link"
        if (
            len(self._queue) >= MAX_QUEUED_FRAMES
            or self._queued_bytes + len(frame) > MAX_QUEUED_BYTES
        ):
            return "queue_full"
        release_s = self.shaper.admit(len(frame), asyncio.get_running_loop().time())
        if release_s == LOST:
            return "loss"
        if release_s == QUEUE_FULL:
            return "queue_full"
        writer = self._writer
        if (
            writer is not None
            and not self._lost
            and not self._queue
            and release_s - asyncio.get_running_loop().time() <= RELEASE_SLACK_S
            and writer.transport.get_write_buffer_size() == 0
            and not writer.transport.is_closing()
        ):
            # An idle link and nothing to wait for: write now. Handing the
            # frame to the writer task would cost one more trip round the
            # event loop per hop, which is most of a hop's forwarding time.
            _write(writer, frame)
            self._listener.on_frames_written(self.peer, [(env, len(frame), wall_ms())])
            return None
        self._queue.append((env, frame, wall_ms(), release_s))
        self._queued_bytes += len(frame)
        self._wakeup.set()
        return None

    def queued_frames(self) -> int:
        return len(self._queue)

    async def run(self) -> None:
        """Connect, send, reconnect: until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(self._addr.host, self._addr.port),
                    timeout=CONNECT_TIMEOUT_S,
                )
            except (OSError, TimeoutError):
                await asyncio.sleep(self._backoff.next_delay_ms() / 1000.0)
                continue
            connected_at_s = loop.time()
            try:
                await self._serve(reader, writer)
            except (OSError, ConnectionError) as exc:
                log.info("link to %s lost: %s", self.peer, exc)
            finally:
                self._teardown(writer)
            if loop.time() - connected_at_s >= HEALTHY_CONNECTION_S:
                self._backoff.reset()
            await asyncio.sleep(self._backoff.next_delay_ms() / 1000.0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(self._hello_frame)
        await writer.drain()
        self._lost = False
        self._ended.clear()
        self.shaper.reset()
        self._writer = writer
        self.connected = True
        self._listener.on_link_state(self.peer, True)
        watcher = asyncio.create_task(self._watch_end(reader))
        try:
            await self._write_loop(writer)
        finally:
            watcher.cancel()

    async def _watch_end(self, reader: asyncio.StreamReader) -> None:
        try:
            while await reader.read(EOF_READ_BYTES):
                pass
        except OSError:
            pass
        self._lost = True
        self._ended.set()
        self._wakeup.set()

    async def _write_loop(self, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        queue = self._queue
        while not self._lost:
            if not queue:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            now_s = loop.time()
            wait_s = queue[0][3] - now_s
            if wait_s > RELEASE_SLACK_S:
                # Frames behind the head are due no earlier (FIFO), so only
                # the end of the connection needs to wake us before then.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._ended.wait(), timeout=wait_s)
                continue
            due_s = now_s + RELEASE_SLACK_S
            frames: list[bytes] = []
            sent: list[Written] = []
            size_bytes = 0
            payload: bytes | bytearray | memoryview = b""
            while queue and size_bytes < MAX_WRITE_BYTES and queue[0][3] <= due_s:
                env, frame, queued_ms, _release_s = queue.popleft()
                sent.append((env, len(frame), queued_ms))
                size_bytes += len(frame)
                if isinstance(frame, BulkFrame):
                    # Its prefix joins the small frames before it; the payload
                    # goes as it is, and ends this write.
                    frames.append(frame.prefix)
                    payload = frame.payload
                    break
                frames.append(frame)
            self._queued_bytes -= size_bytes
            writer.write(b"".join(frames))
            if payload:
                writer.write(memoryview(payload))
            self._listener.on_frames_written(self.peer, sent)
            await writer.drain()

    def _teardown(self, writer: asyncio.StreamWriter) -> None:
        was_up = self.connected
        self.connected = False
        self._writer = None
        writer.close()
        dropped = list(self._queue)
        self._queue.clear()
        self._queued_bytes = 0
        for env, _frame, _queued_ms, _release_s in dropped:
            self._listener.on_dropped(env, "link_lost")
        if was_up:
            self._listener.on_link_state(self.peer, False)


def _write(writer: asyncio.StreamWriter, frame: Frame) -> None:
    if isinstance(frame, BulkFrame):
        writer.write(frame.prefix)
        # A view: the part the socket does not take at once is copied only
        # into the transport's buffer, not first into a slice of the payload.
        writer.write(memoryview(frame.payload))
    else:
        writer.write(frame)
