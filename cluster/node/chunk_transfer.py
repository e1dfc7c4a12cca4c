"""Chunks between nodes: give one to a replica, fetch one from a holder, serve both.

An upload's entry node gives each chunk to its replicas with ``put_to``
(``ChunkPut`` → ``ChunkPutAck``); a node that must hold a chunk it lacks
(repair, rebalance) fetches it with ``fetch_from`` (``ChunkGet`` →
``ChunkData``). Both are ordinary routed messages (cluster/schema/files.py),
so chunk traffic crosses the topology hop by hop, obeys link delay, loss and
partitions, and is drawn on the dashboard.

Every chunk is verified where it lands, and hashed once there: the chunk's
bytes travel in a bulk frame whose authenticated digest is the chunk's name
(cluster/schema/codec.py), and the receiving node's frame reader refuses the
frame unless the bytes hash to it. So a replica stores a received chunk, and
a fetcher returns a fetched one, without hashing it again; a holder's store
hashes what it reads from disk. A corrupt copy found while serving is moved
to quarantine and reported (``ChunkRemoved`` "corrupt"); its holder's repair
loop fetches a good one.

A request that gets no answer in time is retried a few times (a frame lost on
a lossy link) — safe, since storing the same chunk twice changes nothing —
then fails with ``TransferFailed`` naming the node and the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Coroutine
from typing import Any

from cluster.core.files.meta import MAX_CHUNK_BYTES, is_sha256_hex
from cluster.node.chunk_store import ChunkCorrupt, ChunkMismatch, ChunkStore, NoSpace
from cluster.node.clock import wall_ms
from cluster.node.node import Node
from cluster.schema.files import ChunkData, ChunkGet, ChunkPut, ChunkPutAck
from cluster.schema.messages import Envelope
from cluster.schema.telemetry import ChunkRemoved, ChunkStored

log = logging.getLogger(__name__)

# One attempt of a transfer at time scale 1: a 1 MiB chunk over a slow lesson
# link (10 Mbps: under a second) plus an fsync. Slow motion stretches it.
ATTEMPT_TIMEOUT_S = 5.0
MAX_ATTEMPT_TIMEOUT_S = 120.0
ATTEMPTS = 3  # a frame lost twice in a row on a lossy link still gets through
# Requests this node waits for at once (uploads × window × rf, repairs).
MAX_PENDING = 512
# Chunk requests from other nodes served at once; beyond it they are answered
# "busy" at once, so the asker tries elsewhere instead of waiting.
MAX_SERVING = 64
UPLOAD = "upload"


class TransferFailed(Exception):
    """A chunk could not be given to, or fetched from, a node; the message says why."""


class ChunkTransfers:
    def __init__(self, node: Node, store: ChunkStore) -> None:
        self.node = node
        self.store = store
        self._ids = itertools.count(1)
        # request id → (the node asked, the answer: error text, '' for success)
        self._puts: dict[int, tuple[str, asyncio.Future[str]]] = {}
        self._gets: dict[int, tuple[str, asyncio.Future[ChunkData]]] = {}
        self._serving = 0
        self._tasks: set[asyncio.Task[None]] = set()
        node.on(ChunkPut, self._on_put)
        node.on(ChunkPutAck, self._on_put_ack)
        node.on(ChunkGet, self._on_get)
        node.on(ChunkData, self._on_data)

    def attempt_timeout_s(self) -> float:
        scale = max(1.0, self.node.clock.time_scale)
        return min(MAX_ATTEMPT_TIMEOUT_S, ATTEMPT_TIMEOUT_S * scale)

    # -- storing locally ------------------------------------------------------------

    async def store_chunk(
        self, sha256: str, data: bytes | bytearray | memoryview, reason: str, verified: bool = False
    ) -> bool:
        """Store a chunk here and report it (``ChunkStored``); True if it was new.

        ``reason``: "upload", "repair" or "rebalance". Raises ChunkMismatch /
        NoSpace like ``ChunkStore.put``.
        """
        stored = await self.store.put(sha256, data, verified)
        node = self.node
        node.counters[f"chunks_stored_{reason}"] += 1
        if stored:
            node.emit(ChunkStored(node.id, wall_ms(), sha256, len(data), reason))
        return stored

    async def drop_corrupt(self, sha256: str) -> None:
        """Quarantine this node's copy of a chunk that failed verification, and say so."""
        if await self.store.quarantine(sha256):
            self.node.counters["chunks_corrupt"] += 1
            self.node.emit(ChunkRemoved(self.node.id, wall_ms(), sha256, "corrupt"))

    # -- asking other nodes -----------------------------------------------------------

    async def put_to(
        self, dst: str, sha256: str, data: bytes | bytearray, verified: bool = True
    ) -> None:
        """Have ``dst`` store the chunk durably (this node too, when ``dst`` is us).

        ``verified``: ``data`` was hashed by this node (it is not hashed again
        when stored here). Raises TransferFailed.
        """
        if dst == self.node.id:
            try:
                await self.store_chunk(sha256, data, UPLOAD, verified)
            except (ChunkMismatch, NoSpace, OSError) as exc:
                raise TransferFailed(f"{dst}: {exc}") from exc
            return
        last = "no answer"
        for _attempt in range(ATTEMPTS):
            self._check_route(dst)
            request_id = self._new_id()
            future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            self._puts[request_id] = (dst, future)
            try:
                self.node.send(dst, ChunkPut(request_id, sha256, data))
                error = await asyncio.wait_for(future, self.attempt_timeout_s())
            except TimeoutError:
                last = f"no answer in {self.attempt_timeout_s():.0f} s"
                self.node.counters["chunk_put_timeouts"] += 1
                continue
            finally:
                self._puts.pop(request_id, None)
            if not error:
                return
            if error != "busy":
                raise TransferFailed(f"{dst}: {error}")
            last = "busy"
            await asyncio.sleep(0.05)
        raise TransferFailed(f"{dst}: {last}")

    async def fetch_from(self, src: str, sha256: str) -> bytes | bytearray:
        """The chunk's bytes from ``src``, verified against its hash. Raises TransferFailed."""
        if src == self.node.id:
            try:
                data = await self.store.read(sha256)
            except ChunkCorrupt as exc:
                await self.drop_corrupt(sha256)
                raise TransferFailed(f"{src}: corrupt") from exc
            if data is None:
                raise TransferFailed(f"{src}: missing")
            return data
        last = "no answer"
        for _attempt in range(ATTEMPTS):
            self._check_route(src)
            request_id = self._new_id()
            future: asyncio.Future[ChunkData] = asyncio.get_running_loop().create_future()
            self._gets[request_id] = (src, future)
            try:
                self.node.send(src, ChunkGet(request_id, sha256))
                reply = await asyncio.wait_for(future, self.attempt_timeout_s())
            except TimeoutError:
                last = f"no answer in {self.attempt_timeout_s():.0f} s"
                self.node.counters["chunk_get_timeouts"] += 1
                continue
            finally:
                self._gets.pop(request_id, None)
            if reply.error == "busy":
                last = "busy"
                await asyncio.sleep(0.05)
                continue
            if reply.error:
                raise TransferFailed(f"{src}: {reply.error}")
            if reply.sha256 != sha256 or not reply.data:
                raise TransferFailed(f"{src}: answered with the wrong chunk or none")
            # Not hashed again: the frame reader checked these bytes against
            # reply.sha256 (schema/files.py), which is the chunk asked for.
            return reply.data
        raise TransferFailed(f"{src}: {last}")

    def _check_route(self, dst: str) -> None:
        if self.node.next_hop(dst) is None:
            raise TransferFailed(f"{dst}: no route from {self.node.id}")

    def _new_id(self) -> int:
        if len(self._puts) + len(self._gets) >= MAX_PENDING:
            raise TransferFailed(f"{self.node.id}: too many chunk transfers waiting")
        return next(self._ids)

    # -- answers to our requests ---------------------------------------------------------

    def _on_put_ack(self, env: Envelope) -> None:
        ack = env.body
        assert isinstance(ack, ChunkPutAck)
        waiting = self._puts.get(ack.transfer_id)
        if waiting is None or waiting[0] != env.src or waiting[1].done():
            self.node.counters["chunk_acks_late"] += 1
            return
        waiting[1].set_result("" if ack.ok else (ack.error or "refused"))

    def _on_data(self, env: Envelope) -> None:
        reply = env.body
        assert isinstance(reply, ChunkData)
        waiting = self._gets.get(reply.request_id)
        if waiting is None or waiting[0] != env.src or waiting[1].done():
            self.node.counters["chunk_data_late"] += 1
            return
        waiting[1].set_result(reply)

    # -- serving other nodes' requests ------------------------------------------------

    def _on_put(self, env: Envelope) -> None:
        put = env.body
        assert isinstance(put, ChunkPut)
        if (
            not is_sha256_hex(put.sha256)
            or not put.data
            or len(put.data) > MAX_CHUNK_BYTES
        ):
            self.node.counters["chunk_put_malformed"] += 1
            self.node.send(env.src, ChunkPutAck(put.transfer_id, put.sha256[:64], False, "bad"))
            return
        if self._serving >= MAX_SERVING:
            self.node.send(env.src, ChunkPutAck(put.transfer_id, put.sha256, False, "busy"))
            return
        # Bytes from another node were checked against put.sha256 by the frame
        # reader (schema/files.py); only a message of our own would not be.
        verified = env.src != self.node.id
        self._serve(self._store_for(env.src, put, verified))

    async def _store_for(self, asker: str, put: ChunkPut, verified: bool) -> None:
        try:
            await self.store_chunk(put.sha256, put.data, UPLOAD, verified)
            ack = ChunkPutAck(put.transfer_id, put.sha256, True, "")
        except ChunkMismatch as exc:
            ack = ChunkPutAck(put.transfer_id, put.sha256, False, f"damaged on the way: {exc}")
        except NoSpace:
            ack = ChunkPutAck(put.transfer_id, put.sha256, False, "no space left on the disk")
        except OSError as exc:
            log.warning("%s: storing chunk %s failed: %s", self.node.id, put.sha256[:12], exc)
            ack = ChunkPutAck(put.transfer_id, put.sha256, False, f"disk error: {exc.strerror}")
        self.node.send(asker, ack)

    def _on_get(self, env: Envelope) -> None:
        get = env.body
        assert isinstance(get, ChunkGet)
        if not is_sha256_hex(get.sha256):
            self.node.counters["chunk_get_malformed"] += 1
            self.node.send(env.src, ChunkData(get.request_id, get.sha256[:64], b"", "bad"))
            return
        if self._serving >= MAX_SERVING:
            self.node.send(env.src, ChunkData(get.request_id, get.sha256, b"", "busy"))
            return
        self._serve(self._read_for(env.src, get))

    async def _read_for(self, asker: str, get: ChunkGet) -> None:
        error = ""
        data: bytes | None = b""
        try:
            data = await self.store.read(get.sha256)
            if data is None:
                error, data = "missing", b""
        except ChunkCorrupt:
            error, data = "corrupt", b""
            await self.drop_corrupt(get.sha256)
        except OSError as exc:
            error, data = f"disk error: {exc.strerror}", b""
        self.node.send(asker, ChunkData(get.request_id, get.sha256, data, error))

    def _serve(self, work: Coroutine[Any, Any, None]) -> None:
        """Run one request's work; its failure is logged, never fatal to the node."""
        self._serving += 1
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._served)

    def _served(self, task: asyncio.Task[None]) -> None:
        self._serving -= 1
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.node.counters["chunk_serve_errors"] += 1
            log.error("%s: serving a chunk request failed", self.node.id, exc_info=task.exception())

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*self._tasks, return_exceptions=True)
