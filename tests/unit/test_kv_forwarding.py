"""The messages and texts of the KV service: forwarded requests survive the wire,
and a log entry reads well on the dashboard."""

from __future__ import annotations

from cluster.core.kv import Command
from cluster.node.raft_driver import ENTRY_TEXT_CHARS, entry_text
from cluster.schema.kv import KvForward, KvForwardReply, parse_reply, parse_request
from cluster.schema.messages import Envelope, decode_envelope, encode_envelope
from cluster.schema.raft import ENTRY_CONFIG, ENTRY_NOOP, ENTRY_NORMAL, Entry, encode_voters


def roundtrip(body: object) -> object:
    return decode_envelope(encode_envelope(Envelope("n2", "n1", 7, body))).body


def test_forwarded_writes_and_their_replies_cross_the_wire_as_batches() -> None:
    request = KvForward(
        [[3, "put", "colour", b"blue", "alice", 2, "n2:17"], [4, "delete", "shape", b"", "", 0, ""]]
    )
    received = roundtrip(request)
    assert received == request
    assert isinstance(received, KvForward)
    assert [parse_request(r) for r in received.requests] == [
        (3, "put", "colour", b"blue", "alice", 2, "n2:17"),
        (4, "delete", "shape", b"", "", 0, ""),
    ]
    assert request.text() == "KvForward put colour #n2:17 (+1 more)"
    reply = KvForwardReply([[3, 200, 12, 4, None, ""]])
    assert roundtrip(reply) == reply
    assert parse_reply(reply.replies[0]) == (3, 200, 12, 4, None, "")
    assert reply.text() == "KvForwardReply #3 200 i12/t4"


def test_malformed_forwarded_items_are_refused_one_by_one() -> None:
    # Remote data: each item is checked before use, never trusted.
    assert parse_request([3, "drop-table", "k", b"", "", 0, ""]) is None
    assert parse_request([3, "put", "k", "not bytes", "", 0, ""]) is None
    assert parse_request(["3", "put", "k", b"", "", 0, ""]) is None
    assert parse_request([3, "put"]) is None
    assert parse_reply([3, 200, 1, 1, "text", ""]) is None
    assert parse_reply("nonsense") is None


def test_entry_texts_name_what_the_entry_does() -> None:
    put = Command("put", "colour", b"blue", None, "alice", 1).encode()
    assert entry_text(Entry(5, 2, ENTRY_NORMAL, put)) == "put colour=blue"
    delete = Command("delete", "colour").encode()
    assert entry_text(Entry(6, 2, ENTRY_NORMAL, delete)) == "delete colour"
    assert entry_text(Entry(7, 3, ENTRY_NOOP, b"")) == "no-op"
    voters = encode_voters(["n1", "n2", "n4"])
    assert entry_text(Entry(8, 3, ENTRY_CONFIG, voters)) == "voters n1,n2,n4"
    long = Command("put", "k" * 100, b"v" * 100).encode()
    text = entry_text(Entry(9, 3, ENTRY_NORMAL, long))
    assert text == f"put {'k' * ENTRY_TEXT_CHARS}={'v' * ENTRY_TEXT_CHARS}"
    assert entry_text(Entry(10, 3, ENTRY_NORMAL, b"\x00garbage")) == "8 B"
