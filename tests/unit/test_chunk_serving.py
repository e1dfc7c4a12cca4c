"""Serving a chunk without copying it: the store lends a verified buffer, the
node's HTTP server gives it back only once the socket has taken every byte.

What could go wrong, and is checked here: a lent buffer reused while the
socket still sends from it (a client would get the *next* chunk's bytes),
corrupt bytes lent out, a buffer given back after a connection broke.
Real disk, real loopback sockets.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from cluster.node.buffer_pool import BufferPool
from cluster.node.chunk_store import ChunkCorrupt, ChunkStore
from cluster.node.http import HttpServer, Request, Response, Router


def chunk(seed: int, size: int) -> tuple[str, bytes]:
    data = hashlib.sha256(str(seed).encode()).digest() * (size // 32)
    return hashlib.sha256(data).hexdigest(), data


def test_a_lent_chunk_is_verified_and_its_buffer_is_reused(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path, fsync=False)
    sha, data = chunk(1, 100_000)

    async def scenario() -> None:
        await store.put(sha, data)
        first = await store.read_lent(sha)
        assert first is not None and bytes(first.view) == data
        first.give_back()
        assert store._read_buffers.free_count() == 1
        second = await store.read_lent(sha)
        assert second is not None and bytes(second.view) == data
        assert store._read_buffers.free_count() == 0  # the same buffer, lent again
        second.give_back()
        assert await store.read_lent("0" * 64) is None

    asyncio.run(scenario())
    assert store.stats.chunks_read == 2 and store.stats.bytes_read == 2 * len(data)
    store.close()


def test_a_corrupt_chunk_is_never_lent_and_its_buffer_goes_back(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path, fsync=False)
    sha, data = chunk(2, 100_000)
    asyncio.run(store.put(sha, data))
    with open(store.path_of(sha), "r+b") as f:  # one byte flipped, as with dd
        f.seek(500)
        f.write(bytes([data[500] ^ 1]))
    with pytest.raises(ChunkCorrupt, match="hash to"):
        asyncio.run(store.read_lent(sha))
    assert store.stats.corrupt_found == 1 and store._read_buffers.free_count() == 1
    store.close()


def test_the_pool_keeps_a_bounded_number_of_buffers_big_enough() -> None:
    pool = BufferPool(kept=2)
    taken = [pool.take(1000) for _ in range(3)]
    for buffer in taken:
        pool.give(buffer)
    assert pool.free_count() == 2  # the third was let go
    assert len(pool.take(2000)) == 2000  # both kept ones are too small: a new one
    assert pool.free_count() == 0


BODY_BYTES = 4 * 1024 * 1024  # far more than a small socket buffer holds


def serve_lent(client: Callable[[int], None], body: bytearray, sent: list[bytes]) -> None:
    """Run ``client(port)`` against one route answering with ``body`` lent; ``sent``
    records what the buffer held when given back, then it is overwritten as a reuse would."""

    async def handler(_request: Request) -> Response:
        def give_back() -> None:
            sent.append(hashlib.sha256(body).digest())
            body[:] = bytes(len(body))  # reused for another chunk at once

        return Response(200, memoryview(body), "application/octet-stream", sent=give_back)

    router = Router()
    router.add("GET", "/chunk", handler)

    async def main() -> None:
        server = HttpServer(router)
        await server.start("127.0.0.1", 0)
        try:
            await asyncio.wait_for(asyncio.to_thread(client, server.port()), timeout=20)
            # Give the server time to notice a reset (its next send fails) and
            # to wrongly give the buffer back, if it were going to.
            await asyncio.sleep(0.3)
        finally:
            await server.close()

    asyncio.run(main())


def slow_reader(port: int) -> bytes:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET /chunk HTTP/1.1\r\nHost: x\r\n\r\n")
        received = bytearray()
        while True:
            piece = s.recv(64 * 1024)
            if not piece:
                break
            received += piece
            body_start = received.find(b"\r\n\r\n") + 4
            if body_start >= 4 and len(received) - body_start >= BODY_BYTES:
                return bytes(received[body_start:])
    raise AssertionError("the connection closed before the whole body arrived")


def resetting_reader(port: int) -> None:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET /chunk HTTP/1.1\r\nHost: x\r\n\r\n")
        s.recv(1024)
        # Linger 0: close sends a reset, as a killed client's kernel would.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def test_a_lent_body_is_given_back_only_after_the_socket_took_all_of_it() -> None:
    body = bytearray(hashlib.sha256(b"x").digest() * (BODY_BYTES // 32))
    expected = bytes(body)
    sent: list[bytes] = []
    received: list[bytes] = []
    serve_lent(lambda port: received.append(slow_reader(port)), body, sent)
    # Overwritten the moment it was given back, yet the client got the original:
    # every byte had left the buffer by then.
    assert received == [expected]
    assert sent == [hashlib.sha256(expected).digest()]


def test_a_lent_body_is_not_given_back_when_the_connection_breaks() -> None:
    body = bytearray(BODY_BYTES)
    sent: list[bytes] = []
    serve_lent(resetting_reader, body, sent)
    assert sent == []
