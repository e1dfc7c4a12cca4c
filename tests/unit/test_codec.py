"""The frame codec refuses every kind of bad input a remote side can send.

A node must never crash on bytes from the network (DESIGN.md, Messages
between nodes): these tests feed the codec good frames, tampered frames,
oversize lengths, truncated streams and garbage, and check that each failure
is a ``FrameError`` with the right counter name or a ``DecodeError``.
"""

from __future__ import annotations

import os
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cluster.schema.codec import (
    HEADER_BYTES,
    MAX_FRAME_BYTES,
    FrameDecoder,
    FrameError,
    check_tag,
    encode_frame,
    pack,
    parse_header,
    unpack,
)
from cluster.schema.messages import (
    Chatter,
    Envelope,
    Heartbeat,
    HeartbeatAck,
    Hello,
    decode_envelope,
    encode_envelope,
)
from cluster.schema.registry import DecodeError
from cluster.schema.telemetry import (
    Counters,
    LinkRtt,
    MsgSent,
    NodeUp,
    decode_batch,
    encode_batch,
)

SECRET = bytes(range(32))
OTHER_SECRET = bytes(32)


def frame_of(env: Envelope, secret: bytes = SECRET) -> bytes:
    return encode_frame(secret, encode_envelope(env))


def decode_one(frame: bytes, secret: bytes = SECRET) -> bytes:
    """Decode a single frame the way the asyncio shell does: header, then body."""
    length, tag = parse_header(frame[:HEADER_BYTES])
    body = frame[HEADER_BYTES : HEADER_BYTES + length]
    if len(body) != length:
        raise FrameError("truncated")
    check_tag(secret, tag, body)
    return body


# -- round trips -------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        Hello("n1", "run-7"),
        Heartbeat(1_700_000_000_123.5),
        HeartbeatAck(12.0),
        Chatter(os.urandom(64)),
        Chatter(b""),
    ],
)
def test_envelope_round_trip(body: object) -> None:
    env = Envelope("n1", "n3", 42, body, ttl=5)
    assert decode_envelope(decode_one(frame_of(env))) == env


def test_envelope_text_is_one_line() -> None:
    env = Envelope("n1", "n2", 1, Heartbeat(0.0))
    assert env.text() == "n1→n2 Heartbeat"
    assert env.msg_id == "n1#1"
    assert env.hop().ttl == env.ttl - 1


def test_telemetry_batch_round_trip() -> None:
    events = [
        NodeUp("n1", 1.0, 1234, "127.0.0.1:1", "127.0.0.1:2"),
        MsgSent("n1", 2.0, "n1", "n2", 7, "Heartbeat", "n2", 80),
        LinkRtt("n1", 3.0, "n2", 0.25),
        Counters("n1", 4.0, {"frames_sent": 9, "bad_frame_bad_tag": 1}),
    ]
    body = decode_one(encode_frame(SECRET, encode_batch("n1", 17, events)))
    assert decode_batch(body) == ("n1", 17, events)


def test_int_is_accepted_where_a_float_is_declared() -> None:
    # msgpack keeps 2.0 as a float, but a peer may send 2; both mean the same time.
    env = decode_envelope(pack(["n1", "n2", 1, 16, ["Heartbeat", 2]]))
    assert env.body == Heartbeat(2)


@given(st.binary(max_size=2000), st.integers(min_value=0, max_value=2**40))
def test_any_chatter_payload_and_seq_survive(payload: bytes, seq: int) -> None:
    env = Envelope("n2", "n1", seq, Chatter(payload))
    assert decode_envelope(decode_one(frame_of(env))) == env


# -- refused frames ----------------------------------------------------------


def test_bad_tag_is_refused() -> None:
    frame = frame_of(Envelope("n1", "n2", 1, Heartbeat(1.0)), secret=OTHER_SECRET)
    with pytest.raises(FrameError) as info:
        decode_one(frame)
    assert info.value.reason == "bad_tag"


def test_a_flipped_body_bit_breaks_the_tag() -> None:
    frame = bytearray(frame_of(Envelope("n1", "n2", 1, Heartbeat(1.0))))
    frame[-1] ^= 0x01
    with pytest.raises(FrameError) as info:
        decode_one(bytes(frame))
    assert info.value.reason == "bad_tag"


def test_oversize_is_refused_from_the_header_alone() -> None:
    # Only the 36-byte header exists: the refusal cannot have needed the body.
    header = struct.pack(">I32s", MAX_FRAME_BYTES + 1, bytes(32))
    assert len(header) == HEADER_BYTES
    with pytest.raises(FrameError) as info:
        parse_header(header)
    assert info.value.reason == "oversize"


def test_oversize_limit_is_per_reader() -> None:
    frame = encode_frame(SECRET, b"x" * 100)
    assert parse_header(frame[:HEADER_BYTES], max_frame_bytes=100)[0] == 100
    with pytest.raises(FrameError, match="oversize"):
        parse_header(frame[:HEADER_BYTES], max_frame_bytes=99)


def test_frame_decoder_refuses_oversize_before_the_body_arrives() -> None:
    decoder = FrameDecoder(SECRET, max_frame_bytes=1024)
    with pytest.raises(FrameError, match="oversize"):
        decoder.feed(struct.pack(">I32s", 1025, bytes(32)))


def test_truncated_header_is_refused() -> None:
    frame = frame_of(Envelope("n1", "n2", 1, Heartbeat(1.0)))
    with pytest.raises(FrameError) as info:
        parse_header(frame[: HEADER_BYTES - 1])
    assert info.value.reason == "truncated"


def test_truncated_body_leaves_pending_bytes_in_the_decoder() -> None:
    frame = frame_of(Envelope("n1", "n2", 1, Heartbeat(1.0)))
    decoder = FrameDecoder(SECRET)
    assert decoder.feed(frame[:-3]) == []
    # At the end of the stream, pending bytes mean the last frame was cut.
    assert decoder.pending_bytes() == len(frame) - 3
    with pytest.raises(FrameError, match="truncated"):
        decode_one(frame[:-3])


def test_garbage_bytes_are_refused() -> None:
    garbage = os.urandom(HEADER_BYTES + 50)
    # A random length is almost surely oversize; force a small one to reach the tag check.
    garbage = struct.pack(">I", 50) + garbage[4:]
    with pytest.raises(FrameError) as info:
        FrameDecoder(SECRET).feed(garbage)
    assert info.value.reason == "bad_tag"


@pytest.mark.parametrize("body", [b"\xc1", b"\x92\x01", b"\x91\x01\x02"])
def test_undecodable_msgpack_is_a_frame_error(body: bytes) -> None:
    # 0xc1 is never valid msgpack; 0x92 announces two items but has one;
    # the third is one complete value followed by extra data.
    with pytest.raises(FrameError) as info:
        unpack(body)
    assert info.value.reason == "undecodable"


def test_authentic_but_undecodable_body_is_refused_by_decode_envelope() -> None:
    # The tag is right (the sender knows the secret) but the body is nonsense.
    body = decode_one(encode_frame(SECRET, b"\xc1\xc1"))
    with pytest.raises(FrameError, match="undecodable"):
        decode_envelope(body)


# -- undecodable values (DecodeError) ----------------------------------------


def test_unknown_message_tag() -> None:
    with pytest.raises(DecodeError, match="unknown tag"):
        decode_envelope(pack(["n1", "n2", 1, 16, ["Teleport", 1]]))


@pytest.mark.parametrize(
    "raw",
    [
        ["n1", "n2", 1, 16, ["Heartbeat"]],  # too few fields
        ["n1", "n2", 1, 16, ["Heartbeat", 1.0, 2.0]],  # too many fields
        ["n1", "n2", 1, 16, ["Hello", "n1", 7]],  # run_id must be a string
        ["n1", "n2", 1, 16, ["Chatter", "not bytes"]],
        ["n1", "n2", 1, 16, []],  # no tag
        ["n1", "n2", 1, 16, "Heartbeat"],  # body is not an array
    ],
)
def test_wrong_field_count_or_type(raw: list[object]) -> None:
    with pytest.raises(DecodeError):
        decode_envelope(pack(raw))


@pytest.mark.parametrize(
    "raw",
    [
        ["n1", "n2", 1, ["Heartbeat", 1.0]],  # four items, not five
        [1, "n2", 1, 16, ["Heartbeat", 1.0]],  # src is not a string
        ["n1", "n2", "1", 16, ["Heartbeat", 1.0]],  # seq is not an integer
        ["n1", "n2", 1, 1.5, ["Heartbeat", 1.0]],  # ttl is not an integer
        {"src": "n1"},
        "n1",
    ],
)
def test_malformed_envelope(raw: object) -> None:
    with pytest.raises(DecodeError):
        decode_envelope(pack(raw))


@pytest.mark.parametrize(
    "raw",
    [
        ["n1", 0],
        ["n1", "0", []],
        ["n1", 0, "events"],
        [1, 0, []],
        ["n1", 0, [["NodeUp", "n1"]]],
        ["n1", 0, [["NoSuchEvent", "n1", 1.0]]],
    ],
)
def test_malformed_telemetry_batch(raw: object) -> None:
    with pytest.raises(DecodeError):
        decode_batch(pack(raw))


# -- the incremental decoder -------------------------------------------------


def test_frame_decoder_fed_one_byte_at_a_time() -> None:
    envs = [Envelope("n1", "n2", seq, Chatter(bytes([seq]) * seq)) for seq in range(1, 6)]
    stream = b"".join(frame_of(env) for env in envs)
    decoder = FrameDecoder(SECRET)
    bodies: list[bytes] = []
    for i in range(len(stream)):
        bodies.extend(decoder.feed(stream[i : i + 1]))
    assert [decode_envelope(b) for b in bodies] == envs
    assert decoder.pending_bytes() == 0


def test_frame_decoder_returns_every_frame_of_one_big_piece() -> None:
    envs = [Envelope("n3", "n1", seq, Heartbeat(float(seq))) for seq in range(100)]
    decoder = FrameDecoder(SECRET)
    bodies = decoder.feed(b"".join(frame_of(env) for env in envs))
    assert [decode_envelope(b) for b in bodies] == envs


def test_frame_decoder_refuses_a_bad_frame_after_good_ones() -> None:
    good = frame_of(Envelope("n1", "n2", 1, Heartbeat(1.0)))
    bad = frame_of(Envelope("n1", "n2", 2, Heartbeat(2.0)), secret=OTHER_SECRET)
    decoder = FrameDecoder(SECRET)
    assert len(decoder.feed(good)) == 1
    with pytest.raises(FrameError, match="bad_tag"):
        decoder.feed(bad)
