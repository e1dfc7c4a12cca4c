"""A follower whose disk was wiped is caught up again (the lab's wipe fault, docs/faults.md).

Raft assumes storage survives a crash (§5, Figure 2): a follower never
loses what it acknowledged, so a leader ignores a refusal at or below what
the follower matched as stale. A wiped follower breaks that assumption: it
answers every heartbeat "my log is shorter than that", and without the rule
tested here the leader would ignore it forever. The leader instead forgets
what it had matched and finds the follower again, from its log or, when the
entries are compacted, with its snapshot (§7).
"""

from __future__ import annotations

from cluster.core.kv import Command
from cluster.core.raft import Mode, RaftConfig
from cluster.sim.disk import SimDisk
from cluster.sim.harness import Harness

THREE = ["n1", "n2", "n3"]


def wipe(h: Harness, node_id: str) -> None:
    h.crash(node_id)
    h.nodes[node_id].disk = SimDisk()
    h.restart(node_id)


def compact_everywhere(h: Harness) -> None:
    """What a node process does after applying: snapshot when the core says it is due."""
    for node in h.nodes.values():
        raft = node.raft
        if raft is not None and raft.compaction_due:
            raft.compact(node.kv.applied_index, node.kv.snapshot())
    h.process()


def caught_up(h: Harness, leader: str, follower: str) -> bool:
    return h.raft(follower).log.last_index() == h.raft(leader).log.last_index() and (
        h.raft(follower).commit_index == h.raft(leader).commit_index
    )


def test_a_wiped_follower_gets_the_log_again() -> None:
    h = Harness(THREE)
    leader = h.elect("n1")
    for i in range(10):
        leader.propose(f"cmd{i}".encode())
    h.settle()
    h.tick_all(4)
    assert leader.progress()["n3"].match_index == leader.log.last_index()

    wipe(h, "n3")
    assert h.raft("n3").log.last_index() == 0
    h.tick_all(10)  # heartbeats only: no new proposal is needed
    assert caught_up(h, "n1", "n3")
    assert [e.data for e in h.nodes["n3"].applied if e.data] == [
        f"cmd{i}".encode() for i in range(10)
    ]


def test_a_wiped_follower_behind_a_compacted_log_gets_the_snapshot() -> None:
    config = RaftConfig(
        election_timeout_min_ticks=10,
        election_timeout_max_ticks=20,
        heartbeat_interval_ticks=2,
        snapshot_threshold_entries=10,
    )
    h = Harness(THREE, config)
    leader = h.elect("n1")
    for i in range(25):
        leader.propose(Command("put", f"k{i}", b"v").encode())
        h.settle()
    h.tick_all(4)
    compact_everywhere(h)
    assert leader.log.snapshot_index > 0

    wipe(h, "n3")
    h.tick_all(20)
    assert caught_up(h, "n1", "n3")
    assert h.raft("n3").log.snapshot_index > 0  # it came as the leader's snapshot
    assert leader.progress()["n3"].mode is Mode.REPLICATE
