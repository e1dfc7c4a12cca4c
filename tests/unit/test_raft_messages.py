"""Raft wire messages: compact encoding, canonical text, and hostile input (§5.1)."""

from __future__ import annotations

import random

from cluster.core.raft import RaftConfig, RaftNode
from cluster.schema.codec import pack
from cluster.schema.messages import WIRE, Envelope, decode_envelope, encode_envelope
from cluster.schema.raft import (
    ENTRY_CONFIG,
    ENTRY_NORMAL,
    AppendEntries,
    AppendEntriesReply,
    Entry,
    InstallSnapshot,
    PreVote,
    ReadIndexReply,
    RequestVote,
    decode_voters,
    encode_voters,
    parse_entries,
)

NODES = ["n1", "n2", "n3"]


def roundtrip(msg: object) -> object:
    return decode_envelope(encode_envelope(Envelope("n1", "n2", 1, msg))).body


def test_every_raft_message_is_registered_and_round_trips() -> None:
    # Reference: §5.1 — servers communicate with RPCs; ours are msgpack arrays.
    entries = [Entry(7, 3, ENTRY_NORMAL, b"a"), Entry(8, 3, ENTRY_CONFIG, encode_voters(NODES))]
    msgs = [
        AppendEntries(3, "n1", 6, 2, entries, 5, 9),
        AppendEntriesReply(3, False, 6, 2, 4, 9),
        PreVote(4, "n2", 8, 3),
        RequestVote(4, "n2", 8, 3),
        InstallSnapshot(3, "n1", 100, 2, NODES, 0, b"\x00" * 10, True),
        ReadIndexReply(3, 12, 40, True),
    ]
    for msg in msgs:
        assert type(msg).__name__ in WIRE.tags()
        back = roundtrip(msg)
        assert type(back) is type(msg)
        # Entries come back as lists, not Entry tuples: compare the encodings.
        assert pack(WIRE.to_list(back)) == pack(WIRE.to_list(msg))
    decoded = roundtrip(msgs[0])
    assert isinstance(decoded, AppendEntries)
    assert parse_entries(decoded.entries, 7, 3) == entries


def test_text_forms_are_one_canonical_line() -> None:
    # Reference: STYLE.md — one text form for logs, golden files and tooltips.
    entries = [Entry(i, 3, ENTRY_NORMAL, b"") for i in (7, 8, 9)]
    assert AppendEntries(3, "n1", 6, 2, entries, 6, 0).text() == "AppendEntries t3 i7..9 c6"
    assert AppendEntries(3, "n1", 6, 2, [], 6, 0).text() == "AppendEntries t3 p6 empty c6"
    assert (
        AppendEntriesReply(3, False, 6, 2, 4, 0).text()
        == "AppendEntriesReply t3 reject i6 conflict t2@4"
    )
    assert PreVote(4, "n2", 8, 3).text() == "PreVote t4 last 8/t3"
    assert Envelope("n1", "n2", 5, PreVote(4, "n2", 8, 3)).text() == "n1→n2 PreVote t4 last 8/t3"


def test_malformed_entries_are_refused() -> None:
    # Reference: §5.3 — a log is consecutive with non-decreasing terms; the
    # sender's term bounds them. Anything else is refused, not trusted.
    good = [[5, 2, ENTRY_NORMAL, b"x"], [6, 2, ENTRY_NORMAL, b"y"]]
    assert parse_entries(good, 5, 2) is not None
    assert parse_entries([[5, 2, ENTRY_NORMAL, "str"]], 5, 2) is None
    assert parse_entries([[5, 2, ENTRY_NORMAL]], 5, 2) is None
    assert parse_entries([[6, 2, ENTRY_NORMAL, b""]], 5, 2) is None  # wrong index
    assert parse_entries([[5, 3, ENTRY_NORMAL, b""]], 5, 2) is None  # term above sender's
    assert parse_entries([[5, 2, 0, b""], [6, 1, 0, b""]], 5, 2) is None  # term goes down
    assert parse_entries([[5, 2, 99, b""]], 5, 2) is None  # unknown kind
    assert parse_entries("nope", 5, 2) is None
    assert decode_voters(b"\xc1") is None
    assert decode_voters(encode_voters(["a", "a"])) is None
    assert decode_voters(encode_voters(["b", "a"])) == ("a", "b")


def test_a_node_counts_and_drops_hostile_messages_without_crashing() -> None:
    # Reference: STYLE.md — bad remote data never crashes a node.
    node = RaftNode("n2", NODES, None, random.Random(1), RaftConfig())
    node.step("n1", AppendEntries(1, "n1", 0, 0, [[1, 1, 0, "not bytes"]], 0, 0))  # type: ignore[list-item]
    node.step("n1", "not a message")
    node.step("n1", InstallSnapshot(1, "n1", 5, 1, ["", "n2"], 0, b"", True))
    counters = node.counters
    assert counters["malformed_append"] == 1
    assert counters["malformed_message"] == 1
    assert counters["malformed_snapshot"] == 1
    assert node.log.last_index() == 0
