"""Client sessions through the whole cluster: thesis §6.3 (exactly-once writes)."""

from __future__ import annotations

from cluster.core.kv import Command
from cluster.core.raft import Proposed, Role
from cluster.sim.harness import Harness

NODES = ["n1", "n2", "n3"]


def test_a_write_retried_after_a_leader_change_applies_once_everywhere() -> None:
    # Reference: thesis §6.3 — the client's first attempt commits, but the
    # answer is lost with the leader; the retry to the new leader commits a
    # second copy, which every state machine recognises and skips.
    h = Harness(NODES)
    old = h.elect("n1")
    write = Command("append", "log", b"a;", None, "c1", 1).encode()
    assert isinstance(old.propose(write), Proposed)
    h.settle()
    h.tick_all(2)  # committed and applied everywhere; the reply never reached the client
    h.crash("n1")
    h.tick_all(60)
    (new_leader,) = h.leaders()
    assert isinstance(h.raft(new_leader).propose(write), Proposed)  # the retry
    h.tick_all(3)
    h.restart("n1")
    h.tick_all(10)
    for node in h.nodes.values():
        copies = [e for e in node.applied if e.data == write]
        assert node.raft is not None and node.raft.role in (Role.LEADER, Role.FOLLOWER)
        assert node.kv.get("log") == b"a;"
        if node.id != "n1":
            assert len(copies) == 2  # two log entries, one effect


def test_the_next_write_of_the_session_applies_normally() -> None:
    # Reference: thesis §6.3 — sequence numbers move the session forward.
    h = Harness(NODES)
    leader = h.elect("n1")
    writes = [(1, b"a;"), (2, b"b;"), (2, b"b;"), (3, b"c;")]  # seq 2 is retried once
    for seq, piece in writes:
        leader.propose(Command("append", "log", piece, None, "c1", seq).encode())
    h.settle()
    h.tick_all(2)
    assert {node.kv.get("log") for node in h.nodes.values()} == {b"a;b;c;"}
