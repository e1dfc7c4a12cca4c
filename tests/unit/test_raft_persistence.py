"""Persistence and the Ready contract: Figure 2 (persistent state), §5.1, thesis §3.8."""

from __future__ import annotations

import random

from cluster.core.raft import (
    HardState,
    PersistentState,
    RaftApiError,
    RaftConfig,
    RaftNode,
    Role,
    Snapshot,
)
from cluster.schema.raft import (
    ENTRY_NORMAL,
    AppendEntries,
    AppendEntriesReply,
    Entry,
    RequestVote,
    RequestVoteReply,
)
from cluster.sim.harness import Harness

NODES = ["n1", "n2", "n3"]


def node(node_id: str = "n2", storage: PersistentState | None = None) -> RaftNode:
    return RaftNode(node_id, NODES, storage, random.Random(3), RaftConfig(check_quorum=False))


def test_a_vote_is_in_the_same_ready_as_its_hard_state() -> None:
    # Reference: Figure 2 and thesis §3.8 — votedFor must be on disk before
    # the vote is sent; the Ready carries both, and the caller persists first.
    voter = node()
    voter.step("n1", RequestVote(1, "n1", 0, 0))
    rd = voter.ready()
    assert rd.hard_state == HardState(1, "n1")
    assert rd.must_sync
    assert rd.messages == [("n1", RequestVoteReply(1, True))]
    voter.advance(rd)
    assert not voter.has_ready()


def test_an_acknowledgement_is_in_the_same_ready_as_the_entries_it_acknowledges() -> None:
    # Reference: Figure 2 — a follower answers success only for entries it
    # stores durably; the Ready hands out the entries with the answer.
    follower = node()
    entries = [Entry(1, 1, ENTRY_NORMAL, b"a"), Entry(2, 1, ENTRY_NORMAL, b"b")]
    follower.step("n1", AppendEntries(1, "n1", 0, 0, entries, 0, 0))
    rd = follower.ready()
    assert rd.entries == entries
    assert rd.messages == [("n1", AppendEntriesReply(1, True, 2, 0, 0, 0))]
    follower.advance(rd)


def test_restart_restores_term_vote_log_and_snapshot() -> None:
    # Reference: Figure 2 — currentTerm, votedFor and log[] survive a crash;
    # §7 — so does the snapshot, with the configuration it was taken under.
    snapshot = Snapshot(4, 2, ("n1", "n2", "n3"), b"state")
    storage = PersistentState(
        term=3,
        vote="n1",
        snapshot=snapshot,
        entries=[Entry(5, 2, ENTRY_NORMAL, b"e5"), Entry(6, 3, ENTRY_NORMAL, b"e6")],
    )
    restarted = node(storage=storage)
    assert (restarted.term, restarted.vote) == (3, "n1")
    assert restarted.log.last_index() == 6 and restarted.log.term_at(4) == 2
    assert restarted.commit_index == restarted.applied_index == 4
    assert restarted.voters == ("n1", "n2", "n3")
    assert restarted.role is Role.FOLLOWER
    rd = restarted.ready()  # nothing to persist again
    assert rd.entries == [] and rd.hard_state is None
    restarted.advance(rd)


def test_a_restarted_leader_comes_back_as_a_follower_with_its_log() -> None:
    # Reference: §5.1 and Figure 2 — role and commit index are volatile; the
    # term and the log are not. The cluster goes on without losing entries.
    h = Harness(NODES)
    leader = h.elect("n1")
    for i in range(3):
        leader.propose(f"cmd{i}".encode())
    h.settle()
    term, last = leader.term, leader.log.last_index()
    h.crash("n1")
    back = h.restart("n1")
    assert back.role is Role.FOLLOWER and back.commit_index == 0
    assert back.term == term and back.log.last_index() == last
    h.tick_all(60)
    (new_leader,) = h.leaders()
    assert h.raft(new_leader).commit_index >= last
    assert [e.data for e in h.nodes["n1"].applied if e.data] == [b"cmd0", b"cmd1", b"cmd2"]


def test_ready_twice_without_advance_is_an_api_error() -> None:
    # Reference: the Ready contract (docs/raft-core.md) — one Ready at a time.
    n = node()
    n.step("n1", RequestVote(1, "n1", 0, 0))
    rd = n.ready()
    try:
        n.ready()
    except RaftApiError:
        n.advance(rd)
        return
    raise AssertionError("a second ready() was allowed")


def test_messages_may_be_stepped_while_a_ready_is_being_persisted() -> None:
    # Reference: the Ready contract — input between ready() and advance()
    # (while an fsync runs) goes into the next Ready, nothing is lost.
    follower = node()
    follower.step("n1", AppendEntries(1, "n1", 0, 0, [Entry(1, 1, ENTRY_NORMAL, b"a")], 0, 0))
    first = follower.ready()
    follower.step("n1", AppendEntries(1, "n1", 1, 1, [Entry(2, 1, ENTRY_NORMAL, b"b")], 2, 0))
    assert not follower.has_ready()  # not until advance()
    follower.advance(first)
    second = follower.ready()
    assert [e.index for e in second.entries] == [2]
    assert [e.index for e in second.committed_entries] == [1, 2]
    follower.advance(second)


def test_restored_entries_must_be_consecutive() -> None:
    # Reference: Figure 2 — a log has no holes; a broken disk is an API error.
    broken = PersistentState(1, None, None, [Entry(2, 1, ENTRY_NORMAL, b"")])
    try:
        node(storage=broken)
    except RaftApiError:
        return
    raise AssertionError("a log with a hole was accepted")
