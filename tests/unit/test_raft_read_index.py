"""Linearizable reads with ReadIndex: thesis §6.4."""

from __future__ import annotations

from cluster.core.raft import Accepted, NotLeader, RaftConfig, ReadState, Refused, Role
from cluster.schema.raft import AppendEntries, ReadIndexRequest
from cluster.sim.harness import Harness

NODES = ["n1", "n2", "n3"]


def test_a_leader_answers_after_a_quorum_confirms_it_still_leads() -> None:
    # Reference: thesis §6.4 steps 2-3 — record the commit index, then a
    # heartbeat round; a quorum's answers confirm leadership.
    h = Harness(NODES)
    leader = h.elect("n1")
    leader.propose(b"x")
    h.settle()
    h.sent.clear()
    assert leader.read_index(7) == Accepted(7)
    h.process("n1")
    assert h.nodes["n1"].read_states == []  # not before the quorum answers
    rounds = {m.round for s, d, m in h.sent if isinstance(m, AppendEntries)}
    assert len(rounds) == 1
    h.settle()
    assert h.nodes["n1"].read_states == [ReadState(7, leader.commit_index)]


def test_one_heartbeat_round_serves_many_reads() -> None:
    # Reference: thesis §6.4 — reads arriving together share one round.
    h = Harness(NODES)
    leader = h.elect("n1")
    h.tick_all(1)
    h.sent.clear()
    for request_id in range(1, 21):
        leader.read_index(request_id)
    h.settle()
    assert [rs.request_id for rs in h.nodes["n1"].read_states] == list(range(1, 21))
    heartbeats = [m for s, d, m in h.sent if isinstance(m, AppendEntries) and d == "n2"]
    assert len(heartbeats) == 1


def test_a_deposed_leader_cannot_confirm_a_read() -> None:
    # Reference: thesis §6.4 — a leader cut off from the majority (which may
    # have elected someone else) never answers the read; it fails it when it
    # steps down, so the client retries elsewhere.
    h = Harness(NODES)
    old = h.elect("n1")
    h.isolate("n1")
    assert old.read_index(1) == Accepted(1)
    h.tick_all(h.config.election_timeout_min_ticks * 3)
    assert old.role is not Role.LEADER
    assert h.nodes["n1"].read_states == [ReadState(1, 0, ok=False)]


def test_reads_wait_until_the_new_leader_committed_in_its_term() -> None:
    # Reference: thesis §6.4 step 1 — until its no-op commits, a new leader
    # does not know the commit index of its predecessors.
    h = Harness(NODES)
    h.campaign("n1")
    for _ in range(4):  # through the election; the no-op is not out yet
        h.deliver(only=lambda s, d, m: not isinstance(m, AppendEntries))
    leader = h.raft("n1")
    assert leader.role is Role.LEADER and leader.commit_index == 0
    leader.read_index(5)
    h.deliver(only=lambda s, d, m: m.__class__.__name__ != "AppendEntries" or not m.entries)
    assert h.nodes["n1"].read_states == []
    h.settle()
    assert h.nodes["n1"].read_states == [ReadState(5, 1)]


def test_a_follower_forwards_the_read_and_gets_the_leaders_index() -> None:
    # Reference: thesis §6.4 — a follower asks the leader for the read index,
    # then serves the read once its own state machine has applied it.
    h = Harness(NODES)
    leader = h.elect("n1")
    leader.propose(b"x")
    h.settle()
    follower = h.raft("n3")
    assert follower.read_index(9) == Accepted(9)
    h.process("n3")
    assert h.messages_of(ReadIndexRequest)
    h.settle()
    assert h.nodes["n3"].read_states == [ReadState(9, leader.commit_index)]


def test_reads_without_a_leader_are_refused_and_pending_reads_are_bounded() -> None:
    # Reference: thesis §6.4 — with no known leader there is nobody to ask.
    # And every queue has a limit.
    h = Harness(NODES, RaftConfig(max_pending_reads=2))
    assert h.raft("n2").read_index(1) == NotLeader(None)
    leader = h.elect("n1")
    h.isolate("n1")
    assert leader.read_index(1) == Accepted(1)
    assert leader.read_index(2) == Accepted(2)
    assert leader.read_index(3) == Refused("too many pending reads")


def test_a_single_node_answers_reads_by_itself() -> None:
    # Reference: thesis §6.4 — a quorum of one is the leader itself.
    h = Harness(["solo"])
    leader = h.elect("solo")
    leader.read_index(1)
    h.process()
    assert h.nodes["solo"].read_states == [ReadState(1, 1)]
