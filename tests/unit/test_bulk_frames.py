"""Bulk frames: a file chunk hashed once per hop, and still nothing forged gets through.

A bulk frame's tag covers only its head (with the payload's SHA-256 and the
frame's length); the payload is checked against that digest. These tests
take the frame apart the way a reader does (cluster/node/frame_reader.py
does the same on a socket, tests/unit/test_frame_reader.py) and check that
every alteration a network or an attacker could make is refused: payload,
digest, head, length, a tag made with the plain-frame key, and a chunk
smuggled into a plain frame or named by the wrong hash.
"""

from __future__ import annotations

import hashlib
import os
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cluster.schema.codec import (
    BULK_FLAG,
    BULK_PREFIX_BYTES,
    HEADER,
    HEADER_BYTES,
    MAX_BULK_HEAD_BYTES,
    BulkFrame,
    Frame,
    FrameError,
    check_bulk_tag,
    check_digest,
    encode_bulk_frame,
    encode_frame,
    make_tag,
    pack,
    parse_bulk_prefix,
    parse_header,
    split_word,
)
from cluster.schema.files import ChunkData, ChunkPut, ChunkPutAck
from cluster.schema.messages import (
    Envelope,
    Heartbeat,
    decode_bulk_envelope,
    decode_envelope,
    encode_envelope,
    frame_envelope,
)
from cluster.schema.registry import DecodeError

SECRET = bytes(range(32))
OTHER_SECRET = bytes(32)


def chunk(size: int = 100_000, seed: int = 1) -> tuple[str, bytes]:
    data = hashlib.sha256(str(seed).encode()).digest() * (size // 32) + b"x" * (size % 32)
    return hashlib.sha256(data).hexdigest(), data


def put_env(data: bytes, sha: str | None = None) -> Envelope:
    sha = sha if sha is not None else hashlib.sha256(data).hexdigest()
    return Envelope("n1", "n3", 9, ChunkPut(4, sha, data), ttl=7)


def take_apart(wire: bytes, secret: bytes = SECRET) -> Envelope:
    """Read one bulk frame as a reader does: header, prefix, authenticated head,
    then the payload against the digest, then the envelope around it."""
    word, tag = HEADER.unpack(wire[:HEADER_BYTES])
    length, bulk = split_word(word)
    assert bulk
    if len(wire) != HEADER_BYTES + length:
        raise FrameError("truncated")
    head_start = HEADER_BYTES + BULK_PREFIX_BYTES
    head_len, digest = parse_bulk_prefix(wire[HEADER_BYTES:head_start], length)
    head = wire[head_start : head_start + head_len]
    check_bulk_tag(secret, tag, word, head_len, digest, head)
    payload = bytearray(wire[head_start + head_len :])
    check_digest(digest, payload)
    return decode_bulk_envelope(head, payload, digest)


def wire_of(frame: Frame) -> bytes:
    """The bytes a link writes for ``frame`` (a bulk frame in two pieces)."""
    assert isinstance(frame, BulkFrame)
    return frame.prefix + bytes(frame.payload)


# -- what goes out ------------------------------------------------------------


def test_a_chunk_travels_as_a_bulk_frame_without_being_copied() -> None:
    _sha, data = chunk()
    frame = frame_envelope(SECRET, put_env(data))
    assert isinstance(frame, BulkFrame)
    assert frame.payload is data  # the sender's own buffer, not a copy
    assert len(frame) == len(frame.prefix) + len(data)
    assert len(frame.prefix) < 300  # header, digest and a small head


def test_round_trip_gives_the_same_envelope_with_the_bytes_received() -> None:
    _sha, data = chunk()
    env = put_env(data)
    back = take_apart(wire_of(frame_envelope(SECRET, env)))
    assert back == env
    assert isinstance(back.body.data, bytearray)  # the reader's buffer becomes the data


def test_chunk_data_answers_travel_the_same_way() -> None:
    sha, data = chunk(size=70_000)
    env = Envelope("n2", "n5", 3, ChunkData(11, sha, data, ""))
    assert take_apart(wire_of(frame_envelope(SECRET, env))) == env


def test_messages_without_bytes_stay_plain_frames() -> None:
    sha, _data = chunk()
    for body in (ChunkData(1, sha, b"", "missing"), ChunkPutAck(1, sha, True, ""), Heartbeat(1.0)):
        frame = frame_envelope(SECRET, Envelope("n1", "n2", 1, body))
        assert isinstance(frame, bytes)
        length, tag = parse_header(frame[:HEADER_BYTES])
        assert decode_envelope(frame[HEADER_BYTES:]).body == body
        assert length == len(frame) - HEADER_BYTES and len(tag) == 32


@given(st.binary(min_size=1, max_size=5000), st.integers(min_value=0, max_value=2**40))
def test_any_payload_and_seq_survive(data: bytes, seq: int) -> None:
    env = Envelope("n4", "n2", seq, ChunkPut(seq, hashlib.sha256(data).hexdigest(), data))
    assert take_apart(wire_of(frame_envelope(SECRET, env))) == env


# -- what is refused -------------------------------------------------------------


def test_a_flipped_payload_bit_is_refused_by_the_digest() -> None:
    _sha, data = chunk()
    wire = bytearray(wire_of(frame_envelope(SECRET, put_env(data))))
    wire[-1000] ^= 0x01
    with pytest.raises(FrameError) as info:
        take_apart(bytes(wire))
    assert info.value.reason == "bad_digest"


def test_a_replaced_digest_is_refused_by_the_tag() -> None:
    # Swapping payload and digest together would need the tag to cover neither.
    _sha, data = chunk()
    other = bytes(reversed(data))
    wire = bytearray(wire_of(frame_envelope(SECRET, put_env(data))))
    digest_at = HEADER_BYTES + 4
    wire[digest_at : digest_at + 32] = hashlib.sha256(other).digest()
    wire[-len(other) :] = other
    with pytest.raises(FrameError) as info:
        take_apart(bytes(wire))
    assert info.value.reason == "bad_tag"


def test_a_changed_head_is_refused_by_the_tag() -> None:
    _sha, data = chunk()
    wire = bytearray(wire_of(frame_envelope(SECRET, put_env(data))))
    head_at = HEADER_BYTES + BULK_PREFIX_BYTES
    wire[head_at + 2] ^= 0x01  # inside "n1"
    with pytest.raises(FrameError) as info:
        take_apart(bytes(wire))
    assert info.value.reason == "bad_tag"


def test_the_tag_covers_the_length_so_a_payload_cannot_be_cut_or_extended() -> None:
    _sha, data = chunk()
    wire = wire_of(frame_envelope(SECRET, put_env(data)))
    word, tag = HEADER.unpack(wire[:HEADER_BYTES])
    shorter = HEADER.pack(word - 10, tag) + wire[HEADER_BYTES:-10]
    with pytest.raises(FrameError) as info:
        take_apart(shorter)
    assert info.value.reason == "bad_tag"


def test_a_frame_from_another_run_is_refused() -> None:
    _sha, data = chunk()
    with pytest.raises(FrameError) as info:
        take_apart(wire_of(frame_envelope(OTHER_SECRET, put_env(data))))
    assert info.value.reason == "bad_tag"


def test_a_tag_made_with_the_plain_frame_key_is_not_a_bulk_tag() -> None:
    # The bulk key is derived from the secret: no plain tag is ever a bulk tag.
    _sha, data = chunk()
    wire = wire_of(frame_envelope(SECRET, put_env(data)))
    word, _tag = HEADER.unpack(wire[:HEADER_BYTES])
    head_len, digest = parse_bulk_prefix(wire[HEADER_BYTES : HEADER_BYTES + 36], word & ~BULK_FLAG)
    head = wire[HEADER_BYTES + 36 : HEADER_BYTES + 36 + head_len]
    auth = struct.pack(">I", word) + struct.pack(">I32s", head_len, digest) + head
    forged = HEADER.pack(word, make_tag(SECRET, auth)) + wire[HEADER_BYTES:]
    with pytest.raises(FrameError) as info:
        take_apart(forged)
    assert info.value.reason == "bad_tag"


def test_a_reader_of_plain_frames_sees_a_bulk_frame_as_oversize() -> None:
    # Telemetry and control connections never take bulk frames.
    _sha, data = chunk()
    wire = wire_of(frame_envelope(SECRET, put_env(data)))
    with pytest.raises(FrameError) as info:
        parse_header(wire[:HEADER_BYTES])
    assert info.value.reason == "oversize"


@pytest.mark.parametrize(
    ("word", "reason"),
    [
        (BULK_FLAG | (8 * 1024 * 1024 + 1), "oversize"),  # bulk, over the limit
        (2**31, "oversize"),  # bit 31: never ours
        (2**31 | BULK_FLAG | 10, "oversize"),
    ],
)
def test_hostile_length_words_are_oversize(word: int, reason: str) -> None:
    with pytest.raises(FrameError) as info:
        split_word(word)
    assert info.value.reason == reason


def test_a_head_too_long_for_its_limit_or_its_frame_is_refused() -> None:
    with pytest.raises(FrameError, match="oversize"):
        parse_bulk_prefix(struct.pack(">I32s", MAX_BULK_HEAD_BYTES + 1, bytes(32)), 10**6)
    with pytest.raises(FrameError, match="undecodable"):
        parse_bulk_prefix(struct.pack(">I32s", 100, bytes(32)), BULK_PREFIX_BYTES + 99)


def test_chunk_bytes_in_a_plain_frame_are_refused() -> None:
    # Otherwise a receiver could store bytes nobody checked against their name.
    _sha, data = chunk()
    with pytest.raises(DecodeError, match="bulk frame"):
        decode_envelope(encode_envelope(put_env(data)))


def test_a_digest_that_is_not_the_messages_hash_is_refused() -> None:
    # An authentic frame whose payload matches its digest, but the ChunkPut
    # names another chunk: storing it under that name would be wrong.
    _sha, data = chunk()
    wrong_name = "ab" * 32
    head = pack(["n1", "n3", 9, 7, ["ChunkPut", 4, wrong_name, None]])
    digest = hashlib.sha256(data).digest()
    wire = wire_of(encode_bulk_frame(SECRET, head, data, digest))
    with pytest.raises(DecodeError, match="not the payload's hash"):
        take_apart(wire)


@pytest.mark.parametrize(
    "inner",
    [
        ["Heartbeat", None],  # not a message with a bulk payload
        ["ChunkPut", 4, "ab" * 32, b"inline"],  # the payload's place is not empty
        ["ChunkPut", 4],  # too short to have a payload place
        ["Teleport", 1],
        [],
    ],
)
def test_malformed_bulk_heads_are_refused(inner: list[object]) -> None:
    data = os.urandom(100)
    head = pack(["n1", "n3", 9, 7, inner])
    with pytest.raises(DecodeError):
        decode_bulk_envelope(head, bytearray(data), hashlib.sha256(data).digest())


def test_a_plain_frame_is_unchanged() -> None:
    # Every other frame keeps its HMAC over the whole body.
    body = encode_envelope(Envelope("n1", "n2", 1, Heartbeat(1.0)))
    frame = encode_frame(SECRET, body)
    length, tag = parse_header(frame[:HEADER_BYTES])
    assert (length, tag) == (len(body), make_tag(SECRET, body))
