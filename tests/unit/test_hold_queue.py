"""The hold queue's rules: what it keeps, in which order, and what a full queue does."""

from __future__ import annotations

from cluster.node.hold_queue import FULL, HELD, MAX_TEXT_CHARS, HoldQueue
from cluster.schema.messages import Chatter, Envelope, Heartbeat
from cluster.schema.raft import RequestVote


def vote(seq: int, dst: str = "n2") -> Envelope:
    return Envelope("n1", dst, seq, RequestVote(3, "n1", 7, 2))


def test_nothing_is_wanted_while_hold_is_off() -> None:
    queue = HoldQueue()
    assert not queue.wants(vote(1))
    queue.on = True
    assert queue.wants(vote(1))


def test_load_and_probes_pass_through_protocol_messages_do_not() -> None:
    queue = HoldQueue()
    queue.on = True
    assert not queue.wants(Envelope("n1", "n2", 1, Chatter(b"x" * 64)))
    assert queue.wants(Envelope("n1", "n2", 2, Heartbeat(1.0)))  # only send_link skips it


def test_take_one_chosen_message_leaves_the_others_in_order() -> None:
    queue = HoldQueue()
    for seq in (4, 5, 6):
        assert queue.offer(vote(seq, f"n{seq}"), 40, 1000.0 + seq) == HELD
    taken = queue.take(5)
    assert taken is not None and taken.seq == 5 and taken.dst == "n5"
    assert queue.take(5) is None  # a second delivery of the same message finds nothing
    assert [e["id"] for e in queue.entries()] == [4, 6]
    assert [e.seq for e in queue.take_all()] == [4, 6]
    assert len(queue) == 0


def test_entries_carry_what_the_panel_shows() -> None:
    queue = HoldQueue()
    queue.offer(vote(9, "n3"), 40, 1234.5)
    (entry,) = queue.entries()
    assert entry["id"] == 9 and entry["dst"] == "n3" and entry["type"] == "RequestVote"
    assert entry["text"].startswith("n1→n3 RequestVote t3")
    assert entry["since_ms"] == 1234.5
    assert len(entry["text"]) <= MAX_TEXT_CHARS


def test_a_full_queue_refuses_and_counts_it() -> None:
    queue = HoldQueue(limit=2)
    assert queue.offer(vote(1), 10, 0.0) == HELD
    assert queue.offer(vote(2), 10, 0.0) == HELD
    assert queue.offer(vote(3), 10, 0.0) == FULL
    assert queue.overflow == 1
    assert [e["id"] for e in queue.entries()] == [1, 2]  # the oldest stay


def test_the_byte_limit_refuses_too() -> None:
    queue = HoldQueue(limit=10, limit_bytes=100)
    assert queue.offer(vote(1), 60, 0.0) == HELD
    assert queue.offer(vote(2), 60, 0.0) == FULL
    queue.take(1)
    assert queue.offer(vote(3), 60, 0.0) == HELD  # taking frees its bytes
