"""Snapshots, log compaction and InstallSnapshot: §7."""

from __future__ import annotations

from cluster.core.kv import Command
from cluster.core.raft import Mode, RaftApiError, RaftConfig
from cluster.schema.raft import InstallSnapshot, InstallSnapshotReply
from cluster.sim.harness import Harness

NODES = ["n1", "n2", "n3"]


def config(**overrides: int) -> RaftConfig:
    base: dict[str, int] = {
        "election_timeout_min_ticks": 10,
        "election_timeout_max_ticks": 20,
        "heartbeat_interval_ticks": 2,
        "snapshot_threshold_entries": 10,
        "snapshot_chunk_bytes": 32,
    }
    base.update(overrides)
    return RaftConfig(**base)  # type: ignore[arg-type]


def put(h: Harness, leader_id: str, key: str, value: str) -> None:
    h.raft(leader_id).propose(Command("put", key, value.encode()).encode())


def compact_everywhere(h: Harness) -> None:
    """What a node process does after applying: snapshot when the core says it is due."""
    for node in h.nodes.values():
        raft = node.raft
        if raft is not None and raft.compaction_due:
            raft.compact(node.kv.applied_index, node.kv.snapshot())
    h.process()


def test_compaction_forgets_the_log_prefix_and_persists_the_snapshot() -> None:
    # Reference: §7 — the state machine's state replaces the log up to the
    # last applied index; the snapshot records that index and its term.
    h = Harness(NODES, config())
    leader = h.elect("n1")
    for i in range(12):
        put(h, "n1", f"k{i}", f"v{i}")
    h.settle()
    h.tick_all(2)
    assert leader.compaction_due
    applied = h.nodes["n1"].kv.applied_index
    assert leader.compact(applied, h.nodes["n1"].kv.snapshot())
    rd = leader.ready()
    assert rd.compacted is not None and rd.compacted.index == applied
    assert rd.compacted.voters == tuple(NODES)
    leader.advance(rd)
    assert leader.log.snapshot_index == applied
    assert leader.log.term_at(applied - 1) is None  # gone from memory
    assert not leader.compaction_due


def test_compacting_beyond_what_was_applied_is_an_api_error() -> None:
    # Reference: §7 — only applied state can be snapshotted.
    h = Harness(NODES, config())
    leader = h.elect("n1")
    try:
        leader.compact(leader.applied_index + 5, b"")
    except RaftApiError:
        return
    raise AssertionError("compact beyond applied index was accepted")


def test_a_lagging_follower_receives_the_snapshot_in_chunks() -> None:
    # Reference: §7 — a follower whose next entries were compacted away gets
    # InstallSnapshot, here in several chunks, then replays the log after it.
    h = Harness(NODES, config())
    h.elect("n1")
    h.isolate("n3")
    for i in range(30):
        put(h, "n1", f"k{i}", f"value-{i}")
        h.settle()
        compact_everywhere(h)
    h.tick_all(2)
    assert h.raft("n1").log.snapshot_index > 0
    h.heal()
    h.tick_all(20)
    chunks = [m for s, d, m in h.sent if d == "n3" and isinstance(m, InstallSnapshot)]
    assert len(chunks) > 1 and chunks[-1].done
    assert h.raft("n3").log.snapshot_index > 0
    assert h.nodes["n3"].kv.data == h.nodes["n1"].kv.data
    assert h.raft("n3").commit_index == h.raft("n1").commit_index
    assert h.raft("n1").progress()["n3"].mode is Mode.REPLICATE


def test_a_restarted_node_recovers_from_its_snapshot_and_log() -> None:
    # Reference: §7 and §5 — after a crash, the persisted snapshot plus the
    # entries after it rebuild the same state machine.
    h = Harness(NODES, config())
    h.elect("n1")
    for i in range(25):
        put(h, "n1", f"k{i % 5}", f"v{i}")
        h.settle()
        compact_everywhere(h)
    h.tick_all(2)
    before = dict(h.nodes["n2"].kv.data)
    h.crash("n2")
    restarted = h.restart("n2")
    assert restarted.log.snapshot_index > 0
    assert h.nodes["n2"].kv.applied_index == restarted.log.snapshot_index
    h.tick_all(5)
    assert h.nodes["n2"].kv.data == before


def test_an_out_of_order_chunk_is_refused_with_the_offset_wanted() -> None:
    # Reference: §7 (InstallSnapshot, offset) — chunks are written at their
    # offset; a gap makes the follower ask for the byte it needs next.
    h = Harness(NODES, config())
    h.elect("n1")
    follower = h.raft("n2")
    term = follower.term
    follower.step("n1", InstallSnapshot(term, "n1", 50, term, NODES, 0, b"abcd", False))
    follower.step("n1", InstallSnapshot(term, "n1", 50, term, NODES, 8, b"ijkl", False))
    rd = follower.ready()
    replies = [m for _, m in rd.messages if isinstance(m, InstallSnapshotReply)]
    assert replies == [
        InstallSnapshotReply(term, 50, 4, False),
        InstallSnapshotReply(term, 50, 4, False),
    ]
    follower.advance(rd)
    follower.step("n1", InstallSnapshot(term, "n1", 50, term, NODES, 4, b"efgh", True))
    rd = follower.ready()
    assert rd.snapshot is not None and rd.snapshot.data == b"abcdefgh"
    assert rd.snapshot.index == 50 and follower.commit_index == 50
    follower.advance(rd)


def test_a_snapshot_older_than_the_commit_index_is_acknowledged_not_installed() -> None:
    # Reference: §7 — a snapshot covering only what the follower already
    # committed is answered as done and ignored.
    h = Harness(NODES, config())
    h.elect("n1")
    for i in range(5):
        put(h, "n1", "k", str(i))
    h.settle()
    follower = h.raft("n2")
    term = follower.term
    follower.step("n1", InstallSnapshot(term, "n1", 2, term, NODES, 0, b"old", True))
    rd = follower.ready()
    assert rd.snapshot is None
    assert [m for _, m in rd.messages] == [InstallSnapshotReply(term, 2, 0, True)]
    follower.advance(rd)
