"""The peer connection's frame reader: bytes in any pieces → authentic frames, or a refusal.

The reader is an asyncio ``BufferedProtocol``; these tests play the
transport's part (lend a buffer with ``get_buffer``, report ``buffer_updated``)
with bytes cut in every way a TCP stream may cut them, and check that frames
come out whole and in order, that a chunk's payload is received straight
into the buffer that becomes its ``data``, and that every bad stream is
refused with the counter name the node reports (``oversize`` before the
body, ``bad_tag`` before a bulk payload, ``bad_digest``, ``truncated``).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import struct
from typing import Any

import pytest

from cluster.node.frame_reader import (
    MAX_QUEUED_FRAMES,
    RECEIVE_BUFFER_BYTES,
    FrameReader,
    Received,
)
from cluster.schema.codec import BulkFrame, Frame, FrameError, encode_frame
from cluster.schema.files import ChunkPut
from cluster.schema.messages import (
    Envelope,
    Heartbeat,
    decode_bulk_envelope,
    decode_envelope,
    frame_envelope,
)

SECRET = bytes(range(32))


class FakeTransport(asyncio.Transport):
    """Records what the reader asks of its transport."""

    def __init__(self) -> None:
        super().__init__()
        self.paused = False
        self.pauses = 0
        self.closed = False

    def pause_reading(self) -> None:
        self.paused = True
        self.pauses += 1

    def resume_reading(self) -> None:
        self.paused = False

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 4242) if name == "peername" else default


def connected() -> tuple[FrameReader, FakeTransport]:
    reader = FrameReader(SECRET)
    transport = FakeTransport()
    reader.connection_made(transport)
    return reader, transport


def wire(frame: Frame) -> bytes:
    if isinstance(frame, BulkFrame):
        return frame.prefix + bytes(frame.payload)
    return frame


def heartbeat(seq: int) -> bytes:
    return wire(frame_envelope(SECRET, Envelope("n2", "n1", seq, Heartbeat(float(seq)))))


def chunk_put(seq: int, size: int) -> tuple[Envelope, bytes]:
    data = os.urandom(size)
    env = Envelope("n2", "n1", seq, ChunkPut(seq, hashlib.sha256(data).hexdigest(), data))
    return env, wire(frame_envelope(SECRET, env))


def feed(reader: FrameReader, data: bytes, pieces: list[int] | None = None) -> None:
    """Deliver ``data`` as the transport would, in pieces of the given sizes
    (each also limited by the buffer the reader lends)."""
    at = 0
    sizes = iter(pieces or [])
    while at < len(data):
        buffer = reader.get_buffer(-1)
        assert len(buffer) > 0
        count = min(len(buffer), next(sizes, len(data)), len(data) - at)
        buffer[:count] = data[at : at + count]
        reader.buffer_updated(count)
        at += count


def decode(frame: Received) -> Envelope:
    if frame.payload is None:
        return decode_envelope(frame.body)
    return decode_bulk_envelope(bytes(frame.body), frame.payload, frame.digest)


async def read_all(reader: FrameReader) -> list[Envelope]:
    envs = []
    while (frame := await reader.read()) is not None:
        envs.append(decode(frame))
    return envs


def refusal(reader: FrameReader) -> str:
    async def go() -> str:
        with pytest.raises(FrameError) as info:
            while await reader.read() is not None:
                pass
        return info.value.reason

    return asyncio.run(go())


# -- good streams ------------------------------------------------------------------


@pytest.mark.parametrize("piece", [1, 7, 4096, 10**9])
def test_frames_come_out_whole_and_in_order_however_the_stream_is_cut(piece: int) -> None:
    big, big_wire = chunk_put(2, 300_000)
    small, small_wire = chunk_put(4, 1_000)
    stream = heartbeat(1) + big_wire + heartbeat(3) + small_wire + heartbeat(5)
    reader, _transport = connected()
    feed(reader, stream, [piece] * len(stream))
    reader.eof_received()
    envs = asyncio.run(read_all(reader))
    assert [e.seq for e in envs] == [1, 2, 3, 4, 5]
    assert envs[1] == big and envs[3] == small


def test_random_cuts_of_a_long_stream() -> None:
    rng = random.Random(7)
    expected, stream = [], b""
    for seq in range(1, 60):
        if rng.random() < 0.3:
            env, frame = chunk_put(seq, rng.choice([1, 100, 70_000, 200_000]))
            expected.append(env)
        else:
            frame = heartbeat(seq)
            expected.append(decode_envelope(frame[36:]))
        stream += frame
    reader, _transport = connected()
    feed(reader, stream, [rng.randint(1, 300_000) for _ in range(len(stream))])
    reader.eof_received()
    assert asyncio.run(read_all(reader)) == expected


def test_the_receive_buffer_is_reused_when_frames_straddle_its_end() -> None:
    # Each piece fills the whole lent buffer and ends inside a frame: that tail
    # must move to the front before the buffer is lent again, without a byte lost.
    frames = [heartbeat(seq) for seq in range(1, 12_000)]
    assert len(b"".join(frames)) > 3 * RECEIVE_BUFFER_BYTES
    reader, _transport = connected()
    feed(reader, b"".join(frames))
    reader.eof_received()
    assert [e.seq for e in asyncio.run(read_all(reader))] == list(range(1, 12_000))


def test_a_chunk_is_received_straight_into_its_own_buffer() -> None:
    env, frame = chunk_put(1, 500_000)
    reader, _transport = connected()
    head_end = len(frame) - 500_000
    feed(reader, frame[:head_end])  # header and head: the payload is next
    lent = reader.get_buffer(-1)
    assert len(lent) == 500_000  # the whole payload, in one buffer of its own
    lent[:] = frame[head_end:]
    reader.buffer_updated(500_000)
    received = asyncio.run(reader.read())
    assert received is not None and received.payload is lent.obj  # no copy was made
    assert decode(received) == env


def test_a_clean_end_reads_as_none_every_time() -> None:
    reader, _transport = connected()
    feed(reader, heartbeat(1))
    reader.eof_received()
    assert len(asyncio.run(read_all(reader))) == 1
    assert asyncio.run(reader.read()) is None


def test_a_reader_waiting_for_a_frame_is_woken_by_it() -> None:
    async def go() -> Envelope:
        reader, _transport = connected()
        waiting = asyncio.ensure_future(reader.read())
        await asyncio.sleep(0)
        assert not waiting.done()
        feed(reader, heartbeat(9))
        frame = await asyncio.wait_for(waiting, timeout=5)
        assert frame is not None
        return decode(frame)

    assert asyncio.run(go()).seq == 9


# -- refused streams -------------------------------------------------------------


def test_an_oversize_length_is_refused_from_the_header_alone() -> None:
    reader, transport = connected()
    feed(reader, struct.pack(">I32s", 2**31, bytes(32)))  # no body follows
    assert refusal(reader) == "oversize"
    assert transport.paused  # nothing more is read from this stream


def test_a_bulk_head_with_a_bad_tag_is_refused_before_its_payload() -> None:
    _env, frame = chunk_put(1, 500_000)
    forged = bytearray(frame)
    forged[40] ^= 0x01  # in the digest
    reader, _transport = connected()
    feed(reader, bytes(forged[: len(frame) - 500_000]))  # not a byte of payload yet
    assert refusal(reader) == "bad_tag"


def test_an_altered_payload_is_refused_by_its_digest() -> None:
    _env, frame = chunk_put(1, 200_000)
    altered = bytearray(frame)
    altered[-5] ^= 0x80
    reader, _transport = connected()
    feed(reader, heartbeat(0) + bytes(altered), [3000] * 1000)
    good = asyncio.run(reader.read())
    assert good is not None and decode(good).seq == 0  # what came before still counts
    assert refusal(reader) == "bad_digest"


def test_a_plain_frame_with_a_bad_tag_is_refused() -> None:
    body = heartbeat(1)[36:]
    reader, _transport = connected()
    feed(reader, encode_frame(bytes(32), body))
    assert refusal(reader) == "bad_tag"


@pytest.mark.parametrize("cut", [10, 36, 80, 300, -1])
def test_a_stream_that_ends_inside_a_frame_is_truncated(cut: int) -> None:
    _env, frame = chunk_put(1, 100_000)
    reader, _transport = connected()
    feed(reader, frame[:cut])
    reader.eof_received()
    assert refusal(reader) == "truncated"


def test_a_connection_lost_inside_a_frame_is_truncated_too() -> None:
    reader, _transport = connected()
    feed(reader, heartbeat(1)[:-3])
    reader.connection_lost(ConnectionResetError())
    assert refusal(reader) == "truncated"


# -- flow control ------------------------------------------------------------------


def test_a_reader_that_falls_behind_pauses_the_socket_and_resumes_it() -> None:
    reader, transport = connected()
    feed(reader, b"".join(heartbeat(seq) for seq in range(MAX_QUEUED_FRAMES + 10)))
    assert transport.paused

    async def drain() -> int:
        count = 0
        while transport.paused:
            assert await reader.read() is not None
            count += 1
        return count

    read_before_resume = asyncio.run(drain())
    assert MAX_QUEUED_FRAMES // 2 <= read_before_resume <= MAX_QUEUED_FRAMES + 10
